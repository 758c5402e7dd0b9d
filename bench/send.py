"""Sending throughput against a local SendGrid-speaking server with 20 ms latency, still exactly
once (counted at the server). The server runs in its own process, as a real mail API would, so
it does not share the tick's interpreter lock. Two figures: one worker on the embedded SQLite
store, and two worker processes ticking one PostgreSQL store at once (the scaled deployment;
the claims in the database keep it exactly once). Naive baseline, same run: one send at a time."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from bench.common import (
    Figure,
    Meter,
    Usage,
    bench_now,
    postgres_database,
    report,
    scratch_services,
    seed,
    timed,
)
from connector.config import Settings
from connector.mail.sendgrid import SendGridTransport
from connector.runners import dunning_runner
from connector.services import Services
from tests.support.fake_sendgrid import STATS_PATH


@contextmanager
def mail_server(latency: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_sendgrid", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def accepted_counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + STATS_PATH, timeout=10) as resp:
        return dict(json.loads(resp.read())["accepted_reminder_ids"])


def run(count: int, concurrency: int, latency: float) -> tuple[float, Usage]:
    now = bench_now()
    with scratch_services() as svc, mail_server(latency) as url:
        seed(svc, total=count, due=count, now=now)
        transport = SendGridTransport("SG.bench", url)
        runner = dunning_runner(svc, transport=transport, concurrency=concurrency)
        meter = Meter(svc.engine).start()
        result, seconds = timed(lambda: runner.tick(now))
        usage = meter.stop()
        meter.close()
        counts = accepted_counts(url)
        assert len(counts) == count and set(counts.values()) == {1}, "not exactly once"
        assert result.counts().get("sent") == count
    return count / seconds, usage


def _worker(
    env: dict[str, str],
    mail_url: str,
    now: datetime,
    concurrency: int,
    start: Barrier,
    results: Queue,
) -> None:
    """One `relance worker` tick: set up first, then all start together."""
    svc = Services.build(Settings.from_env(env))
    runner = dunning_runner(
        svc, transport=SendGridTransport("SG.bench", mail_url), concurrency=concurrency
    )
    meter = Meter(svc.engine)
    start.wait()
    began = time.time()
    meter.start()
    report_ = runner.tick(now)
    usage = meter.stop()
    results.put((began, time.time(), report_.counts().get("sent", 0), usage))
    svc.close()


def run_workers(
    count: int, processes: int, concurrency: int, latency: float
) -> tuple[float, Usage] | None:
    """``processes`` workers ticking one PostgreSQL store at once; None without PostgreSQL."""
    now = bench_now()
    with postgres_database() as url:
        if url is None:
            return None
        with scratch_services(url) as svc, mail_server(latency) as mail_url:
            seed(svc, total=count, due=count, now=now)
            ctx = multiprocessing.get_context("spawn")
            start, results = ctx.Barrier(processes), ctx.Queue()
            env = dict(svc.settings.env)
            workers = [
                ctx.Process(target=_worker, args=(env, mail_url, now, concurrency, start, results))
                for _ in range(processes)
            ]
            for proc in workers:
                proc.start()
            spans = [results.get(timeout=600) for _ in workers]
            for proc in workers:
                proc.join(timeout=60)
            counts = accepted_counts(mail_url)
            assert len(counts) == count and set(counts.values()) == {1}, "not exactly once"
            assert sum(span[2] for span in spans) == count
    seconds = max(span[1] for span in spans) - min(span[0] for span in spans)
    return count / seconds, sum((span[3] for span in spans), Usage())


def main(quick: bool = False, latency: float = 0.020) -> list[Figure]:
    count = 600 if quick else 2000
    print(f"sending {count:,} reminders, {latency * 1000:.0f} ms latency…", file=sys.stderr)
    naive, naive_usage = run(max(100, count // 10), concurrency=1, latency=latency)
    fast, usage = run(count, concurrency=32, latency=latency)
    figures = [
        Figure(
            "send, naive baseline: one at a time (1 worker, SQLite)",
            naive,
            "reminders/s",
            usage=naive_usage,
            items=max(100, count // 10),
        ),
        Figure(
            f"send, {latency * 1000:.0f} ms mail API latency, exactly once (1 worker, SQLite)",
            fast,
            "reminders/s",
            baseline=naive,
            target=">= 300/s; <= 6 statements, <= 0.5 commits, <= 2 ms CPU per message",
            usage=usage,
            items=count,
        ),
    ]
    scaled = run_workers(count, processes=2, concurrency=16, latency=latency)
    if scaled is not None:
        figures.append(
            Figure(
                "send, same, 2 worker processes on one PostgreSQL store",
                scaled[0],
                "reminders/s",
                baseline=naive,
                target=">= 500/s",
                usage=scaled[1],
                items=count,
            )
        )
    return figures


if __name__ == "__main__":
    report(main())
