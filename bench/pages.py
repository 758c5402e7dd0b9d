"""Owner pages over 100,000 invoices (target < 300 ms a page, a bounded number of queries):
the invoice list (default, an aging bucket, a text search, sorted by amount, a deep page) and
one invoice's page with its timeline, timed in-process through the application layer on SQLite
(and PostgreSQL when one answers), with the SQL statements each page costs.

Naive baseline, measured in the same run: the list built the way an ORM page often is — every
invoice of the shop loaded, then filtered, sorted and sliced in Python, its customer read per
row shown."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import event, select, text, update

from bench import pages_dashboard
from bench.common import Figure, bench_now, postgres_database, report, scratch_services, seed
from connector.actions.invoice_list import (
    Aging,
    Cursor,
    Direction,
    ListQuery,
    Sort,
    invoice_page,
    list_invoices,
)
from connector.services import Services
from connector.store.fold import fold
from connector.store.models import Customer, Invoice

ROUNDS = 7


@contextmanager
def counting(svc: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(svc.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(svc.engine, "before_cursor_execute", count)


def _median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def naive_list(svc: Services, shop_id: int, now: datetime, per_page: int = 50) -> int:
    """Everything loaded, filtered and sorted in Python, a customer read per row shown."""
    with svc.sessions() as s:
        rows = list(s.scalars(select(Invoice).where(Invoice.shop_id == shop_id)))
        late = [r for r in rows if 31 <= (now - r.due_at).days <= 60]
        late.sort(key=lambda r: (r.due_at, r.id))
        for r in late[:per_page]:
            s.get(Customer, r.customer_id)
        return len(late)


def run(svc: Services, label: str, total: int) -> list[Figure]:
    now = bench_now()
    print(f"seeding {total:,} invoices ({label})…", file=sys.stderr, flush=True)
    shop_id = seed(svc, total=total, due=total // 2, now=now)
    with svc.engine.begin() as c:  # spread the due dates over 150 days: every aging bucket
        midnight = now.replace(hour=0, minute=0)
        for days in range(150):
            c.execute(
                update(Invoice)
                .where(Invoice.id % 150 == days)
                .values(due_at=midnight - timedelta(days=days))
            )
        # One customer in a thousand with an accented name (the search folds accents and case).
        c.execute(
            update(Customer)
            .where(Customer.id % 1000 == 7)
            .values(name="Élodie Martin", name_key=fold("Élodie Martin"))
        )
        c.execute(text("ANALYZE"))
    with svc.sessions() as s:
        ids = list(s.scalars(select(Invoice.id).order_by(Invoice.id)))
    with svc.sessions() as s:  # where page 1,000 of 50 starts: after the 49,950th row
        due_at, row_id = s.execute(
            select(Invoice.due_at, Invoice.id)
            .where(Invoice.shop_id == shop_id)
            .order_by(Invoice.due_at, Invoice.id)
            .offset(min(49_950, total - 50) - 1)
            .limit(1)
        ).one()
    deep = Cursor(Direction.AFTER, Sort.DUE, due_at, row_id)
    cases: dict[str, ListQuery] = {
        "default page (50, by due date)": ListQuery(),
        "aging 31–60 days": ListQuery(aging=Aging.D31_60),
        "text search 'F-00042'": ListQuery(search="F-00042"),
        "text search 'customer 4242'": ListQuery(search="customer 4242"),
        "text search 'c4242@'": ListQuery(search="c4242@"),
        "text search 'c' (one letter: every customer)": ListQuery(search="c"),
        "text search 'customer' (a full word: every customer)": ListQuery(search="customer"),
        "text search 'ÉLODIE' (accents and case folded)": ListQuery(search="ÉLODIE"),
        "text search 'martin' (a later word of a name)": ListQuery(search="martin"),
        "text search 'zzz' (no match: every name scanned)": ListQuery(search="zzz"),
        "sorted by amount, descending": ListQuery(sort=Sort.AMOUNT, descending=True),
        "page 1,000 of 50 (keyset)": ListQuery(cursor=deep),
        "200 a page": ListQuery(per_page=200),
    }
    figures: list[Figure] = []
    baseline = _median_ms(lambda: naive_list(svc, shop_id, now))
    for name, query in cases.items():
        ms = _median_ms(partial(list_invoices, svc.sessions, shop_id, query, now))
        with counting(svc) as seen:
            list_invoices(svc.sessions, shop_id, query, now)
        figures.append(
            Figure(
                f"{label} list: {name} ({len(seen)} statements)",
                ms,
                "ms",
                baseline=baseline if "aging" in name else None,
                target="< 300 ms",
            )
        )
    one = ids[len(ids) // 2]
    ms = _median_ms(lambda: invoice_page(svc.sessions, shop_id, one, now))
    with counting(svc) as seen:
        invoice_page(svc.sessions, shop_id, one, now)
    figures.append(
        Figure(
            f"{label} invoice page + timeline ({len(seen)} statements)", ms, "ms", target="< 300 ms"
        )
    )
    return figures


def main(total: int = 100_000) -> list[Figure]:
    figures: list[Figure] = []
    with scratch_services() as svc:
        figures += run(svc, "SQLite", total)
    with postgres_database() as url:
        if url is not None:
            with scratch_services(url) as svc:
                figures += run(svc, "PostgreSQL", total)
    return figures + pages_dashboard.main(total)  # the dashboard and the tasks page


if __name__ == "__main__":
    report(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
