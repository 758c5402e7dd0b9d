"""Sync ingest: 100,000 orders from recorded Stripe list pages (JSON as the API sends it)
parsed, normalized by the adapter and upserted into SQLite page by page with the cursor, as
`relance sync` does. Target: >= 20,000 orders/s and peak RSS < 200 MB. Naive baseline in the
same run: a per-row ORM merge (one SELECT + INSERT/UPDATE per order).

Re-sync: the same orders synced again, as a nightly full re-sync does: most unchanged, one in
ten paid and one in ten partly paid since (a payment, its timeline entry, re-planning or
closing each). Naive baseline: the row-by-row ORM ledger (one SELECT per order, then
``apply_platform_state``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from adapters.stripe.normalize import normalize_invoice, row_from_invoice
from bench.common import Figure, Meter, Usage, peak_rss_mb, report, scratch_services, timed
from connector.ingest import upsert_invoices
from connector.ledger import apply_platform_state, resolve_due_at
from connector.platform import InvoiceRow, NormalizedInvoice
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Connection, Customer, Invoice, Payment, Shop
from connector.sync import PAGES_PER_TRANSACTION

PAGE = 100
CREATED = 1_780_000_000  # 2026-05-28


def recorded_pages(total: int, customers: int, *, moved: bool = False) -> Iterator[str]:
    """The bytes a Stripe `GET /v1/invoices` would send, one page at a time (not all in RAM);
    ``moved``: as they stand after one in ten was paid and one in ten partly paid."""
    for start in range(0, total, PAGE):
        data = _recorded(start, total, customers)
        if moved:
            for i, obj in enumerate(data, start):
                _moved(obj, i)
        yield json.dumps({"object": "list", "data": data, "has_more": start + PAGE < total})


def _moved(obj: dict[str, Any], i: int) -> None:
    if i % 10 == 0:
        obj.update(status="paid", amount_paid=obj["total"], amount_remaining=0)
        obj["status_transitions"]["paid_at"] = obj["created"] + 86400
    elif i % 10 == 5:
        obj.update(amount_paid=5_000, amount_remaining=obj["total"] - 5_000)


def _recorded(start: int, total: int, customers: int) -> list[dict[str, Any]]:
    return [
        {
            "object": "invoice",
            "id": f"in_{i:08d}",
            "number": f"INV-{i:08d}",
            "status": "open",
            "collection_method": "send_invoice",
            "currency": "eur" if i % 10 else "jpy",
            "total": 12_000 + i % 997,
            "amount_paid": 0,
            "amount_remaining": 12_000 + i % 997,
            "created": CREATED + i,
            "due_date": CREATED + i + 30 * 86400,
            "customer": f"cus_{i % customers:07d}",
            "customer_email": f"c{i % customers}@bench.example",
            "customer_name": f"Customer {i % customers}",
            "hosted_invoice_url": f"https://invoice.stripe.com/i/in_{i:08d}",
            "status_transitions": {"finalized_at": CREATED + i},
        }
        for i in range(start, min(total, start + PAGE))
    ]


def _setup(svc: Services) -> tuple[int, int]:
    with write_session(svc.sessions) as s:
        shop = create_shop(s, name="Bench", email="owner@bench.example")
        conn = Connection(shop_id=shop.id, platform="stripe", external_account="acct_bench")
        s.add(conn)
        s.flush()
        return shop.id, conn.id


def _normalize(page: str) -> list[NormalizedInvoice]:
    """The naive baselines' mapping: an object per order, its amounts and its customer."""
    return [normalize_invoice(obj) for obj in json.loads(page)["data"]]


def _rows(page: str) -> list[InvoiceRow]:
    """What the Stripe adapter's sync maps a page to: the store's rows."""
    return [row_from_invoice(obj) for obj in json.loads(page)["data"]]


def ingest_batched(svc: Services, total: int, customers: int) -> int:
    shop_id, conn_id = _setup(svc)
    _write_batched(svc, shop_id, conn_id, recorded_pages(total, customers), total)
    return _stored(svc)


def _write_batched(
    svc: Services, shop_id: int, conn_id: int, pages: Iterator[str], total: int
) -> None:
    now = datetime.now(UTC)
    items: list[InvoiceRow] = []
    last = -(-total // PAGE) - 1
    for n, page in enumerate(pages):
        items += _rows(page)
        if (n + 1) % PAGES_PER_TRANSACTION and n != last:
            continue  # as `relance sync` does: a few pages per transaction
        with write_session(svc.sessions) as s:
            shop = s.get(Shop, shop_id)
            conn = s.get(Connection, conn_id)
            assert shop is not None and conn is not None
            upsert_invoices(s, shop, conn, items, now)
            conn.sync_cursor = json.dumps({"page": n})
        items = []


def resync_batched(svc: Services, shop_id: int, conn_id: int, total: int, customers: int) -> None:
    _write_batched(svc, shop_id, conn_id, recorded_pages(total, customers, moved=True), total)


def resync_naive(svc: Services, shop_id: int, conn_id: int, total: int, customers: int) -> None:
    """The row-by-row ORM ledger: each order read, then moved by ``apply_platform_state``."""
    now = datetime.now(UTC)
    for page in recorded_pages(total, customers, moved=True):
        with write_session(svc.sessions) as s:
            shop = s.get(Shop, shop_id)
            assert shop is not None
            for item in _normalize(page):
                inv = s.scalar(
                    select(Invoice).where(
                        Invoice.connection_id == conn_id, Invoice.external_id == item.external_id
                    )
                )
                assert inv is not None
                apply_platform_state(s, inv, item, now, shop=shop)


def ingest_naive(svc: Services, total: int, customers: int) -> int:
    """Per-row ORM merge: what a first version would do."""
    shop_id, conn_id = _setup(svc)
    now = datetime.now(UTC)
    for page in recorded_pages(total, customers):
        with write_session(svc.sessions) as s:
            shop = s.get(Shop, shop_id)
            assert shop is not None
            for item in _normalize(page):
                cust = s.scalar(
                    select(Customer).where(
                        Customer.connection_id == conn_id,
                        Customer.external_id == item.customer.external_id,
                    )
                ) or Customer(
                    shop_id=shop_id, connection_id=conn_id, external_id=item.customer.external_id
                )
                cust.email, cust.name = item.customer.email, item.customer.name
                s.add(cust)
                s.flush()
                inv = s.scalar(
                    select(Invoice).where(
                        Invoice.connection_id == conn_id, Invoice.external_id == item.external_id
                    )
                ) or Invoice(shop_id=shop_id, connection_id=conn_id, external_id=item.external_id)
                inv.customer_id = cust.id
                inv.number, inv.status = item.number, item.status
                inv.currency = item.amount_due.currency
                inv.total_minor, inv.amount_due_minor = (
                    item.total.to_minor(),
                    item.amount_due.to_minor(),
                )
                inv.issued_at, inv.due_at = item.issued_at, resolve_due_at(shop, item)
                inv.platform_updated_at, inv.next_action_at = item.updated_at, now
                s.add(inv)
    return _stored(svc)


def _stored(svc: Services) -> int:
    """The bench's own check, counted by the database (not 100,000 ids loaded into Python)."""
    with svc.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Invoice)) or 0)


def _metered(total: int, customers: int, naive: bool) -> tuple[float, Usage]:
    with scratch_services() as svc:
        meter = Meter(svc.engine).start()
        ingest = ingest_naive if naive else ingest_batched
        count, seconds = timed(lambda: ingest(svc, total, customers))
        usage = meter.stop()
        meter.close()
        assert count == total
        return total / seconds, usage


def _metered_resync(total: int, customers: int, naive: bool) -> tuple[float, Usage]:
    """The orders ingested first (not measured), then synced again."""
    with scratch_services() as svc:
        shop_id, conn_id = _setup(svc)
        _write_batched(svc, shop_id, conn_id, recorded_pages(total, customers), total)
        resync = resync_naive if naive else resync_batched
        meter = Meter(svc.engine).start()
        _, seconds = timed(lambda: resync(svc, shop_id, conn_id, total, customers))
        usage = meter.stop()
        meter.close()
        with svc.sessions() as s:
            paid = s.scalar(
                select(func.count()).select_from(Invoice).where(Invoice.status == "paid")
            )
            payments = s.scalar(select(func.count()).select_from(Payment))
        assert paid == -(-total // 10) and payments == paid + total // 10, (paid, payments)
        return total / seconds, usage


def main(quick: bool = False) -> list[Figure]:
    total, customers = (20_000, 4_000) if quick else (100_000, 20_000)
    naive_total = total // 10
    print(f"ingesting {naive_total:,} (naive) and {total:,} (batched) orders…", file=sys.stderr)
    naive_rate, naive_usage = _metered(naive_total, customers // 10, naive=True)
    rate, usage = _metered(total, customers, naive=False)
    print(f"re-syncing {naive_total:,} (naive) and {total:,} (batched) orders…", file=sys.stderr)
    naive_resync, naive_resync_usage = _metered_resync(naive_total, customers // 10, naive=True)
    resync, resync_usage = _metered_resync(total, customers, naive=False)
    return [
        Figure(
            "sync ingest, naive baseline: per-row ORM merge",
            naive_rate,
            "orders/s",
            usage=naive_usage,
            items=naive_total,
        ),
        Figure(
            f"sync ingest, {total:,} orders into SQLite",
            rate,
            "orders/s",
            naive_rate,
            ">= 20,000/s",
            usage=usage,
            items=total,
        ),
        Figure(
            "re-sync, naive baseline: row-by-row ORM ledger",
            naive_resync,
            "orders/s",
            usage=naive_resync_usage,
            items=naive_total,
        ),
        Figure(
            f"re-sync of {total:,} existing orders (20% moved)",
            resync,
            "orders/s",
            naive_resync,
            usage=resync_usage,
            items=total,
        ),
        Figure("peak RSS of the bench process", peak_rss_mb(), "MB", target="< 200 MB"),
    ]


if __name__ == "__main__":
    report(main())
