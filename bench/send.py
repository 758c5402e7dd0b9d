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
    bench_now,
    postgres_database,
    report,
    scratch_services,
    seed,
    timed,
)
from connector.config import Settings
from connector.mail.sendgrid import SendGridTransport
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


def run(count: int, concurrency: int, latency: float) -> float:
    now = bench_now()
    with scratch_services() as svc, mail_server(latency) as url:
        seed(svc, total=count, due=count, now=now)
        transport = SendGridTransport("SG.bench", url)
        runner = svc.runner(transport=transport, concurrency=concurrency)
        result, seconds = timed(lambda: runner.tick(now))
        counts = accepted_counts(url)
        assert len(counts) == count and set(counts.values()) == {1}, "not exactly once"
        assert result.counts().get("sent") == count
    return count / seconds


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
    runner = svc.runner(transport=SendGridTransport("SG.bench", mail_url), concurrency=concurrency)
    start.wait()
    began = time.time()
    report_ = runner.tick(now)
    results.put((began, time.time(), report_.counts().get("sent", 0)))
    svc.close()


def run_workers(count: int, processes: int, concurrency: int, latency: float) -> float | None:
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
            assert sum(sent for _, _, sent in spans) == count
    seconds = max(end for _, end, _ in spans) - min(began for began, _, _ in spans)
    return count / seconds


def main(count: int = 2000, latency: float = 0.020) -> list[Figure]:
    print(f"sending {count:,} reminders, {latency * 1000:.0f} ms latency…", file=sys.stderr)
    naive = run(max(200, count // 10), concurrency=1, latency=latency)
    fast = run(count, concurrency=32, latency=latency)
    figures = [
        Figure(
            f"send, {latency * 1000:.0f} ms mail API latency, exactly once (1 worker, SQLite)",
            fast,
            "reminders/s",
            baseline=naive,
            target=">= 200/s",
        )
    ]
    scaled = run_workers(count, processes=2, concurrency=16, latency=latency)
    if scaled is not None:
        figures.append(
            Figure(
                "send, same, 2 worker processes on one PostgreSQL store",
                scaled,
                "reminders/s",
                baseline=naive,
                target=">= 200/s",
            )
        )
    return figures


if __name__ == "__main__":
    report(main())
