"""The 09:00 burst: every shop's sending window opens at 09:00, so a deployment serving many
shops meets its whole day's reminders at once. 1,000 shops and 100,000 reminders falling due
at their windows' opening (``--quick``: 100 shops, 2,000), seeded set-based; the time to drain
them with 1 and then 2 worker processes ticking one PostgreSQL store, against a SendGrid-speaking
server with 20 ms latency, each reminder exactly once at the server; and the scaling ratio
(target >= 1.7× from 1 to 2 workers). The naive baseline is the one-worker run. The store's
tables are analyzed as a stock server's autovacuum would (bench.common.stock_autoanalyze): on a
server with autovacuum off they never were, and the plans read whole tables per batch."""

from __future__ import annotations

import multiprocessing
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from bench.common import (
    Figure,
    Usage,
    postgres_database,
    report,
    scratch_services,
    stock_autoanalyze,
)
from bench.send import _worker, accepted_counts, mail_server
from connector.ledger import ensure_csv_connection
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Customer, Invoice

#: Wednesday 10 June 2026, 09:00 in Paris: every shop's window opens now.
OPENING = datetime(2026, 6, 10, 7, 0, tzinfo=UTC)


def seed_burst(svc: Services, shops: int, due: int) -> None:
    """``shops`` shops (with their default sequence), ``due`` invoices spread over them, one
    customer each, all due at the windows' opening; Core inserts in a few statements."""
    with write_session(svc.sessions) as s:
        pairs = []
        for n in range(shops):
            shop = create_shop(s, name=f"Burst shop {n}", email=f"owner{n}@burst.example")
            pairs.append((shop.id, ensure_csv_connection(s, shop).id))
    overdue = OPENING - timedelta(days=1)
    for start in range(0, due, 20_000):
        stop = min(due, start + 20_000)
        with write_session(svc.sessions) as s:
            s.execute(
                insert(Customer),
                [
                    {
                        "shop_id": pairs[i % shops][0],
                        "connection_id": pairs[i % shops][1],
                        "external_id": f"c{i}",
                        "email": f"c{i}@burst.example",
                        "name": f"Customer {i}",
                        "is_b2b": i % 3 == 0,
                        "excluded": False,
                        "created_at": OPENING,
                        "updated_at": OPENING,
                    }
                    for i in range(start, stop)
                ],
            )
            ids = dict(
                s.execute(
                    select(Customer.external_id, Customer.id).where(
                        Customer.external_id.in_([f"c{i}" for i in range(start, stop)])
                    )
                )
                .tuples()
                .all()
            )
            s.execute(
                insert(Invoice),
                [
                    {
                        "shop_id": pairs[i % shops][0],
                        "connection_id": pairs[i % shops][1],
                        "customer_id": ids[f"c{i}"],
                        "external_id": f"inv{i}",
                        "number": f"F-{i:07d}",
                        "currency": "EUR",
                        "total_minor": 10_000 + i % 5000,
                        "amount_due_minor": 10_000 + i % 5000,
                        "status": InvoiceStatus.OPEN,
                        "issued_at": overdue - timedelta(days=30),
                        "due_at": overdue,
                        "next_action_at": OPENING,
                        "payment_url": f"https://pay.example/{i}",
                        "created_at": OPENING,
                        "updated_at": OPENING,
                    }
                    for i in range(start, stop)
                ],
            )


def drain(shops: int, due: int, processes: int, latency: float) -> tuple[float, Usage] | None:
    """Seconds for ``processes`` workers to send everything due; None without PostgreSQL."""
    with postgres_database() as url:
        if url is None:
            return None
        with scratch_services(url) as svc, mail_server(latency) as mail_url:
            seed_burst(svc, shops, due)
            with stock_autoanalyze(url):
                spans = _run(svc, mail_url, processes)
            counts = accepted_counts(mail_url)
            assert len(counts) == due and set(counts.values()) == {1}, "not exactly once"
    seconds = max(span[1] for span in spans) - min(span[0] for span in spans)
    return seconds, sum((span[3] for span in spans), Usage())


def _run(svc: Services, mail_url: str, processes: int) -> list[tuple[float, float, int, Usage]]:
    """Each worker's (began, ended, sent, usage): ``processes`` ticks started together."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(processes), ctx.Queue()
    env = dict(svc.settings.env)
    workers = [
        ctx.Process(target=_worker, args=(env, mail_url, OPENING, 16, start, results))
        for _ in range(processes)
    ]
    for proc in workers:
        proc.start()
    spans = [results.get(timeout=3600) for _ in workers]
    for proc in workers:
        proc.join(timeout=60)
    return spans


def main(quick: bool = False, latency: float = 0.020) -> list[Figure]:
    shops, due = (100, 2_000) if quick else (1_000, 100_000)
    print(f"09:00 burst: {shops:,} shops, {due:,} reminders due at once…", file=sys.stderr)
    started = time.perf_counter()
    one = drain(shops, due, 1, latency)
    two = drain(shops, due, 2, latency)
    if one is None or two is None:
        print("09:00 burst needs PostgreSQL: skipped", file=sys.stderr)
        return []
    print(f"  (bench took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return [
        Figure(
            f"09:00 burst, {due:,} due over {shops:,} shops: drain, 1 worker (PostgreSQL)",
            one[0],
            "s",
            usage=one[1],
            items=due,
        ),
        Figure(
            "09:00 burst: drain, 2 worker processes",
            two[0],
            "s",
            baseline=one[0],
            target="scaling >= 1.7× (the ratio)",
            usage=two[1],
            items=due,
        ),
        Figure("09:00 burst: reminders/s with 2 workers", due / two[0], "reminders/s"),
    ]


if __name__ == "__main__":
    report(main())
