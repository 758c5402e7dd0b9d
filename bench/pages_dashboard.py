"""Owner pages over 100,000 invoices (design §8: < 300 ms, a bounded number of queries per page):
the dashboard and the tasks page (bench.pages runs this after the invoice list), on SQLite and
on PostgreSQL when a server answers, through the real app (signed in, CSRF, templates) with
Flask's test client.

Seeding is set-based: invoices in bulk (bench.common.seed), then one UPDATE spreads their due
dates over 150 days, one INSERT … SELECT pays a tenth of them and one sends a third of them
their first reminder; 2,000 open tasks. Each page: p50 / p95 wall ms, CPU ms and SQL statements
per request. Naive baseline, same run: the aging buckets computed by reading every owed invoice
into Python (what a dashboard without GROUP BY would do)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, literal, select, text, update

from bench.common import Figure, bench_now, postgres_database, report, scratch_services, seed
from connector.actions.accounts import create_owner
from connector.domain.dates import local_date
from connector.dunning.sequence import ensure_default_sequence
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Invoice,
    Payment,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    Step,
    Task,
    TaskKind,
    TaskState,
)
from connector.store.sqltime import plus_days
from connector.web import create_app

PAGES = ("/dashboard", "/tasks")
RUNS = 20
TASKS = 2_000
PASSWORD = "bench password 0123"


def _spread(svc: Services, shop_id: int, now: datetime) -> None:
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id)
        assert shop is not None
        step_id = s.scalar(
            select(Step.id).where(
                Step.sequence_id == ensure_default_sequence(s, shop).id, Step.key == "reminder_1"
            )
        )
        s.execute(
            update(Invoice)
            .where(Invoice.shop_id == shop_id)
            .values(
                due_at=plus_days(Invoice.due_at, -(Invoice.id % 150) + 10),
                issued_at=plus_days(Invoice.issued_at, -(Invoice.id % 150) + 10),
            )
        )
        paid = select(Invoice.id).where(Invoice.shop_id == shop_id, Invoice.id % 10 == 0)
        s.execute(
            insert(Payment).from_select(
                [
                    "shop_id",
                    "invoice_id",
                    "amount_minor",
                    "currency",
                    "received_at",
                    "source",
                    "external_id",
                    "created_at",
                    "updated_at",
                ],
                select(
                    Invoice.shop_id,
                    Invoice.id,
                    Invoice.amount_due_minor,
                    Invoice.currency,
                    plus_days(literal(now), -(Invoice.id % 300)),
                    literal(PaymentSource.MANUAL.value),
                    literal("bench"),
                    literal(now),
                    literal(now),
                ).where(Invoice.id.in_(paid)),
            )
        )
        s.execute(
            update(Invoice)
            .where(Invoice.id.in_(paid))
            .values(status=InvoiceStatus.PAID, amount_due_minor=0, next_action_at=None)
        )
        s.execute(
            insert(Reminder).from_select(
                [
                    "shop_id",
                    "invoice_id",
                    "step_id",
                    "step_key",
                    "channel",
                    "state",
                    "due_on",
                    "counted_from",
                    "sent_at",
                    "created_at",
                    "updated_at",
                ],
                select(
                    Invoice.shop_id,
                    Invoice.id,
                    literal(step_id),
                    literal("reminder_1"),
                    literal(Channel.EMAIL.value),
                    literal(ReminderState.SENT.value),
                    literal(local_date(now, "Europe/Paris")),
                    literal(local_date(now, "Europe/Paris") - timedelta(days=1)),
                    plus_days(literal(now), -(Invoice.id % 200)),
                    literal(now),
                    literal(now),
                ).where(Invoice.shop_id == shop_id, Invoice.id % 3 == 0),
            )
        )
        s.execute(
            insert(Task),
            [
                {
                    "shop_id": shop_id,
                    "kind": TaskKind.ESCALATION,
                    "state": TaskState.OPEN,
                    "title": f"Call customer {i}",
                    "dedupe_key": f"bench:{i}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(TASKS)
            ],
        )


@contextmanager
def _counting(svc: Services) -> Iterator[list[int]]:
    seen = [0]

    def count(*_: Any) -> None:
        seen[0] += 1

    event.listen(svc.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(svc.engine, "before_cursor_execute", count)


def _naive_buckets(svc: Services, shop_id: int, now: datetime) -> list[int]:
    buckets = [0] * 5
    with svc.sessions() as s:
        for inv in s.scalars(
            select(Invoice).where(Invoice.shop_id == shop_id, Invoice.status == InvoiceStatus.OPEN)
        ):
            late = (now - inv.due_at).days
            index = 0 if late <= 0 else min(4, (late - 1) // 30 + 1)
            buckets[index] += inv.amount_due_minor
    return buckets


def _case(label: str, url: str | None, total: int) -> list[Figure]:
    now = datetime.now(UTC)
    figures: list[Figure] = []
    with scratch_services(url) as svc:
        print(f"seeding {total:,} invoices ({label})…", file=sys.stderr, flush=True)
        shop_id = seed(svc, total=total, due=0, now=bench_now())
        _spread(svc, shop_id, now)
        with svc.engine.connect() as c:
            c.execute(text("ANALYZE"))
            c.commit()
        create_owner(
            svc.sessions,
            email="bench@owner.example",
            password=PASSWORD,
            now=now,
            shop_ids=(shop_id,),
        )
        app = create_app(services=svc)
        client = app.test_client()
        page = client.get("/signin").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        assert (
            client.post(
                "/signin",
                data={"csrf_token": token, "email": "bench@owner.example", "password": PASSWORD},
            ).status_code
            == 302
        )
        for path in PAGES:
            client.get(path)  # warm
            walls, cpus, statements = [], [], []
            for _ in range(RUNS):
                with _counting(svc) as seen:
                    t0, c0 = time.perf_counter(), time.process_time()
                    resp = client.get(path)
                    walls.append((time.perf_counter() - t0) * 1000)
                    cpus.append((time.process_time() - c0) * 1000)
                assert resp.status_code == 200, (path, resp.status_code)
                statements.append(seen[0])
            walls.sort()
            p95 = walls[int(0.95 * (len(walls) - 1))]
            baseline = None
            if path == "/dashboard":
                t0 = time.perf_counter()
                _naive_buckets(svc, shop_id, now)
                baseline = (time.perf_counter() - t0) * 1000
            name = f"pages {label} {path} ({total:,} invoices)"
            figures += [
                Figure(f"{name} p50", statistics.median(walls), "ms", baseline, "< 300 ms"),
                Figure(f"{name} p95", p95, "ms", None, "< 300 ms"),
                Figure(f"{name} CPU", statistics.median(cpus), "ms"),
                Figure(f"{name} SQL statements", float(max(statements)), "per page"),
            ]
    return figures


def main(total: int = 100_000) -> list[Figure]:
    figures = _case("SQLite", None, total)
    with postgres_database() as url:
        if url is not None:
            figures += _case("PostgreSQL", url, total)
    return figures


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    report(main(count))
