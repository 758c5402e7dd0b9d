"""Sending throughput against a local SendGrid-speaking server with 20 ms latency, still exactly
once (counted at the server). The server runs in its own process, as a real mail API would, so
it does not share the tick's interpreter lock. Naive baseline, same run: one send at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import Figure, bench_now, report, scratch_services, seed, timed
from connector.mail.sendgrid import SendGridTransport
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


def main(count: int = 2000, latency: float = 0.020) -> list[Figure]:
    print(f"sending {count:,} reminders, {latency * 1000:.0f} ms latency…", file=sys.stderr)
    naive = run(max(200, count // 10), concurrency=1, latency=latency)
    fast = run(count, concurrency=32, latency=latency)
    return [
        Figure(
            f"send, {latency * 1000:.0f} ms mail API latency, exactly once",
            fast,
            "reminders/s",
            baseline=naive,
            target=">= 200/s",
        )
    ]


if __name__ == "__main__":
    report(main())
