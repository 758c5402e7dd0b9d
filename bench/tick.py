"""Tick cost: with 1,000,000 invoices stored and nothing due (< 50 ms), and with 10,000 due
(cost proportional to what is due, not to what is stored).

Naive baseline, measured in the same run: a tick that has no ``next_action_at`` index to ask
and must look at every owed invoice to find what is due."""

from __future__ import annotations

import multiprocessing
import sys
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select, text

from bench.common import Figure, bench_now, peak_rss_mb, report, scratch_services, seed, timed
from connector.config import Settings
from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Invoice


class CountingTransport:
    """Accepts every mail at once and counts reminder ids (exactly-once check)."""

    def __init__(self) -> None:
        self.sent: Counter[int] = Counter()

    def send(self, mail: OutgoingMail) -> DeliveryResult:
        self.sent.update(mail.reminder_ids)
        return DeliveryResult(DeliveryOutcome.SENT, provider_message_id=f"m{mail.message_id}")


def naive_scan(svc: Services) -> int:
    """What a tick costs without the index: read every owed invoice, decide in Python."""
    now = bench_now()
    due = 0
    with svc.sessions() as s:
        rows = s.execute(
            select(Invoice.id, Invoice.due_at).where(
                Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID])
            )
        )
        for _id, due_at in rows:
            if due_at - timedelta(days=2) <= now:
                due += 1
    return due


def main(quick: bool = False) -> list[Figure]:
    total, due = (100_000, 2_000) if quick else (1_000_000, 10_000)
    now = bench_now()
    figures: list[Figure] = []
    with scratch_services() as svc:
        print(f"seeding {total:,} invoices (SQLite)…", file=sys.stderr, flush=True)
        seed(svc, total=total, due=0, now=now)
        with svc.engine.connect() as c:
            c.execute(text("ANALYZE"))
        runner = dunning_runner(svc, transport=CountingTransport())
        runner.tick(now)  # warm caches and connections
        samples = sorted(timed(lambda: runner.tick(now))[1] for _ in range(20))
        idle_ms = samples[len(samples) // 2] * 1000
        naive_due, naive_s = timed(lambda: naive_scan(svc))
        assert naive_due == 0
        figures.append(
            Figure(
                f"tick, {total:,} stored, nothing due (median of 20)",
                idle_ms,
                "ms",
                baseline=naive_s * 1000,
                target="< 50 ms",
            )
        )
    for stored in sorted({min(100_000, total // 5), total}):
        with scratch_services() as svc:
            print(f"seeding {stored:,} invoices, {due:,} due…", file=sys.stderr, flush=True)
            seed(svc, total=stored, due=due, now=now)
            with svc.engine.connect() as c:
                c.execute(text("ANALYZE"))
            # The tick runs in a fresh process, as the worker would: its peak RSS is the
            # worker's, not this process's (which built a million rows to seed).
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(1) as pool:
                seconds, sent, rss_mb = pool.apply(_tick_in_worker, (dict(svc.settings.env), now))
            assert sent == due
            figures.append(
                Figure(
                    f"tick, {stored:,} stored, {due:,} due: per due invoice",
                    seconds * 1000 / due,
                    "ms",
                    target="flat in stored count",
                )
            )
    figures.append(
        Figure(
            f"worker peak RSS: tick over {total:,} stored, {due:,} due",
            rss_mb,
            "MB",
            target="< 200 MB",
        )
    )
    return figures


def _tick_in_worker(env: dict[str, str], now: datetime) -> tuple[float, int, float]:
    """One tick in this (fresh) process; checks exactly once; returns (s, sent, peak RSS MB)."""
    svc = Services.build(Settings.from_env(env))
    try:
        transport = CountingTransport()
        report_, seconds = timed(lambda: dunning_runner(svc, transport=transport).tick(now))
        assert set(transport.sent.values()) == {1}, "not exactly once"
        assert report_.counts().get("sent") == len(transport.sent)
        return seconds, len(transport.sent), peak_rss_mb()
    finally:
        svc.close()


if __name__ == "__main__":
    report(main())
