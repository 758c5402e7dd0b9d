"""A fresh worker's one-time cost: the CPU of its first tick against its second, each with a
few reminders due, in spawned processes as `relance worker` starts. The first worker on a new
var dir, then a second on the same one (a restart, another worker of the deployment: the code
the first kept is there). What the first tick pays once: SQL statements compiled, the holiday
calendar, the shipped templates (compiled, or loaded from the kept code), Babel's locale data."""

from __future__ import annotations

import multiprocessing
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import update

from bench.common import Figure, bench_now, scratch_services, seed
from bench.tick import CountingTransport
from connector.config import Settings
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice

DUE = 5  # reminders each tick sends


def _make_due(svc: Services, block: int, now: datetime) -> None:
    numbers = [f"inv{i}" for i in range(block * DUE, (block + 1) * DUE)]
    with write_session(svc.sessions) as s:
        s.execute(
            update(Invoice)
            .where(Invoice.external_id.in_(numbers))
            .values(due_at=now - timedelta(days=1), next_action_at=now)
        )


def _worker(env: dict[str, str], now: datetime, first_block: int) -> tuple[float, float]:
    """CPU seconds of this new process's first tick and of its second."""
    svc = Services.build(Settings.from_env(env))
    try:
        transport = CountingTransport()
        runner = dunning_runner(svc, transport=transport)
        cpu: list[float] = []
        for block in (first_block, first_block + 1):
            _make_due(svc, block, now)
            start = time.process_time()
            report = runner.tick(now)
            cpu.append(time.process_time() - start)
            assert report.counts().get("sent") == DUE
        assert set(transport.sent.values()) == {1}, "not exactly once"
        return cpu[0], cpu[1]
    finally:
        svc.close()


def main(quick: bool = False) -> list[Figure]:
    now = bench_now()
    print("first tick of new workers…", file=sys.stderr, flush=True)
    with scratch_services() as svc:
        seed(svc, total=4 * DUE, due=0, now=now)
        ctx = multiprocessing.get_context("spawn")
        runs = []
        for worker in range(2):
            with ctx.Pool(1) as pool:
                runs.append(pool.apply(_worker, (dict(svc.settings.env), now, 2 * worker)))
    (new_first, new_second), (next_first, next_second) = runs
    return [
        Figure(f"first tick CPU, {DUE} sent: first worker, new var dir", new_first * 1e3, "ms"),
        Figure(f"first tick CPU, {DUE} sent: next worker, same var dir", next_first * 1e3, "ms"),
        Figure(
            f"second tick CPU, {DUE} sent (mean of both workers)",
            (new_second + next_second) / 2 * 1e3,
            "ms",
        ),
    ]
