"""The sync's re-sync of invoices the store holds (``connector.ingest``): moved to the platform's
state set-based — the outcome of the row-by-row ledger (payments, timeline, re-planning,
closing) in a number of statements that does not grow with the batch (on main: four per
invoice); a re-sync of what the store already holds writes no invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from connector.config import Settings
from connector.domain.money import Money
from connector.ingest import UpsertStats, upsert_invoices
from connector.ledger import PLAN_LEAD, ensure_csv_connection
from connector.platform import InvoiceStatus, NormalizedInvoice
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, Payment, PaymentSource, Shop, TimelineEntry
from tests.conftest import make_env
from tests.support.builders import add_invoices, normalized
from tests.support.statements import Counted, counting

DUE = date(2026, 6, 10)
LATER = datetime(2026, 6, 1, tzinfo=UTC)


def _owed(prefix: str, n: int) -> list[NormalizedInvoice]:
    return [
        normalized(f"{prefix}-{i}", email=f"c{i % 7}@client.example", due_on=DUE) for i in range(n)
    ]


def _resync(
    svc: Services, shop: Shop, items: list[NormalizedInvoice]
) -> tuple[UpsertStats, Counted]:
    with counting(svc.engine) as counted, write_session(svc.sessions) as s:
        merged = s.merge(shop)
        stats = upsert_invoices(s, merged, ensure_csv_connection(s, merged), items, LATER)
    return stats, counted


def _partly_paid(item: NormalizedInvoice) -> NormalizedInvoice:
    return replace(
        item,
        status=InvoiceStatus.PARTIALLY_PAID,
        amount_due=Money.of("20.00", "EUR"),
        updated_at=LATER,
    )


def _paid(item: NormalizedInvoice) -> NormalizedInvoice:
    return replace(item, status=InvoiceStatus.PAID, amount_due=Money.zero("EUR"), updated_at=LATER)


def test_a_resync_of_changed_invoices_costs_the_same_statements_at_any_size(
    services: Services, shop: Shop
) -> None:
    small, large = _owed("S", 20), _owed("L", 200)
    add_invoices(services, shop, small + large)

    moved = [_partly_paid(i) for i in small[:10]] + [_paid(i) for i in small[10:]]
    small_stats, small_cost = _resync(services, shop, moved)
    moved = [_partly_paid(i) for i in large[:100]] + [_paid(i) for i in large[100:]]
    large_stats, large_cost = _resync(services, shop, moved)

    assert (small_stats.updated, small_stats.closed) == (10, 10)
    assert (large_stats.updated, large_stats.closed) == (100, 100)
    assert large_cost.statements == small_cost.statements, (large_cost.texts, small_cost.texts)
    assert large_cost.statements <= 12, large_cost.texts
    with services.sessions() as s:
        invoices = {i.number: i for i in s.scalars(select(Invoice))}
        payments = {
            p.invoice_id: (p.amount_minor, p.source, p.external_id)
            for p in s.scalars(select(Payment))
        }
        timeline = {
            (t.invoice_id, t.summary)
            for t in s.scalars(select(TimelineEntry).where(TimelineEntry.summary.contains("→")))
        }
    partly, paid = invoices["L-0"], invoices["L-150"]
    assert (partly.status, partly.amount_due_minor) == (InvoiceStatus.PARTIALLY_PAID, 2000)
    assert partly.next_action_at == partly.due_at - PLAN_LEAD  # re-planned while owed
    assert partly.platform_updated_at == LATER
    assert payments[partly.id] == (10000, PaymentSource.SYNC, f"sync:{LATER.isoformat()}")
    assert (partly.id, "open → partially_paid (sync)") in timeline
    assert (paid.status, paid.amount_due_minor, paid.next_action_at) == (
        InvoiceStatus.PAID,
        0,
        None,
    )
    assert payments[paid.id][0] == 12000
    assert (paid.id, "open → paid (sync)") in timeline
    assert len(payments) == 220

    # Again, the same states: what the store holds is not written again.
    stats, cost = _resync(services, shop, moved)
    assert (stats.unchanged, stats.updated, stats.closed) == (200, 0, 0)
    assert not [t for t in cost.texts if t.startswith(("UPDATE invoice", "INSERT"))], cost.texts


def test_a_page_finds_its_held_invoices_by_their_unique_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SQLite (no ANALYZE) plans the read of a page's held invoices on the unique
    (connection_id, external_id) index, not on a range of a (shop_id, …) index over every invoice
    of the shop — which made each page cost what the shop holds."""
    svc = Services.build(Settings.from_env(make_env(sqlite_url, tmp_path / "var")))
    try:
        with write_session(svc.sessions) as s:
            shop = create_shop(s, name="Atelier", email="compta@atelier.example")
        add_invoices(svc, shop, _owed("F", 300))
        reads: list[tuple[str, Any]] = []

        def note(_c: object, _cur: object, text: str, params: Any, *_: object) -> None:
            if text.startswith("SELECT invoice.id") and "FOR UPDATE" not in text:
                reads.append((text, params))

        event.listen(svc.engine, "before_cursor_execute", note)
        try:
            _resync(svc, shop, [_partly_paid(i) for i in _owed("F", 10)])
        finally:
            event.remove(svc.engine, "before_cursor_execute", note)
        assert len(reads) == 1, reads
        with svc.engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {reads[0][0]}", reads[0][1])
            )
        assert "(connection_id=? AND external_id=?)" in plan, plan
    finally:
        svc.close()
