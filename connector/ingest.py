"""A platform's pages (or a CSV file) into the store: customers and invoices upserted
set-based, a few pages per transaction (``connector.sync``).

New invoices go in by one executemany with their timeline in one INSERT … SELECT; invoices the
store holds are read and row-locked in one statement and moved to the platform's state by
``connector.ledger_batch.InvoiceBatch`` — the ledger's rules (stale states never win, a payment
when the amount due went down, pending reminders cancelled when an invoice stops being owed,
re-planned while owed) on plain values, written in a handful of statements whatever the page's
size. The rare moves the batch leaves to the row-by-row ledger — an invoice under a payment
plan, an amount due going up (the owner's own payments must be counted) — go through
``connector.ledger.apply_platform_state`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, literal, select, update
from sqlalchemy.orm import Session

from connector.domain.email import email_problem
from connector.ledger import apply_platform_state, plan_from, terms_due_at
from connector.ledger_batch import HeldInvoice, InvoiceBatch, PlatformMove
from connector.platform import InvoiceRow, NormalizedInvoice, invoice_row
from connector.store.bulk import insert_rows, one_of
from connector.store.fold import fold
from connector.store.models import (
    Connection,
    Customer,
    Invoice,
    PaymentSource,
    Shop,
    TaskKind,
    TimelineEntry,
    TimelineKind,
)
from connector.tasks import open_task


@dataclass(slots=True)
class UpsertStats:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    closed: int = 0  # stopped being owed: pending reminders cancelled


def upsert_invoices(
    session: Session,
    shop: Shop,
    connection: Connection,
    invoices: Sequence[InvoiceRow | NormalizedInvoice],
    now: datetime,
    *,
    timeline_kind: TimelineKind = TimelineKind.SYNCED,
) -> UpsertStats:
    """Batched, idempotent upsert of a few pages; the caller commits it with the last page's
    cursor. Rows as the built-in adapters map them, or NormalizedInvoices (converted here)."""
    stats = UpsertStats()
    if not invoices:
        return stats
    items = [i if type(i) is InvoiceRow else invoice_row(i) for i in invoices]
    customer_ids = _upsert_customers(session, shop, connection, items, now)
    latest: dict[str, InvoiceRow] = {}
    for item in items:  # a page may carry the same invoice twice: keep the newest
        prev = latest.get(item.external_id)
        if prev is None or item.updated_at >= prev.updated_at:
            latest[item.external_id] = item
    batch = InvoiceBatch(session, now)
    shop_id, connection_id = shop.id, connection.id  # read once, not through the ORM per row
    batch.lock((shop_id, connection_id, external_id) for external_id in latest)
    new_rows: list[dict[str, object]] = []
    row_by_row: list[InvoiceRow] = []
    for item in latest.values():
        held = batch.get(connection_id, item.external_id)
        if held is None:
            new_rows.append(_new_invoice_row(shop, customer_ids, item))
            continue
        outcome = _platform_state(batch, held, shop, item)
        if outcome is None:
            row_by_row.append(item)
        else:
            setattr(stats, outcome, getattr(stats, outcome) + 1)
    batch.write({shop.id: shop})
    for outcome in _row_by_row(session, shop, connection, row_by_row, now):
        setattr(stats, outcome, getattr(stats, outcome) + 1)
    if new_rows:
        _insert_new_invoices(session, shop, connection, new_rows, now, timeline_kind)
        stats.inserted = len(new_rows)
    return stats


def _platform_state(
    batch: InvoiceBatch, inv: HeldInvoice, shop: Shop, item: InvoiceRow
) -> str | None:
    """``connector.ledger.apply_platform_state`` (source: sync) on a held invoice: the stats
    field name, or None when it must go row by row (a payment plan, an amount due going up)."""
    if inv.plan_due_at is not None:
        return None
    move = batch.apply_platform_state(inv, shop, item, source=PaymentSource.SYNC)
    return None if move is PlatformMove.ROW_BY_ROW else move.value


def _row_by_row(
    session: Session,
    shop: Shop,
    connection: Connection,
    items: Sequence[InvoiceRow],
    now: datetime,
) -> Iterable[str]:
    """The rare moves through the row-by-row ledger, after the batch was written."""
    if not items:
        return
    held = {
        inv.external_id: inv
        for inv in session.scalars(
            select(Invoice).where(
                Invoice.connection_id == connection.id,
                one_of(session, Invoice.external_id, "external_ids"),
            ),
            {"external_ids": [i.external_id for i in items]},
        )
    }
    for item in items:
        yield apply_platform_state(
            session, held[item.external_id], item.normalized(), now, shop=shop
        )


def _insert_new_invoices(
    session: Session,
    shop: Shop,
    connection: Connection,
    rows: list[dict[str, object]],
    now: datetime,
    timeline_kind: TimelineKind,
) -> None:
    """Plain rows through Core: one executemany (no RETURNING, so no multi-VALUES statement
    rebuilt per batch), then their timeline entries in one INSERT … SELECT that finds the new
    ids by (connection, external id), the invoices' unique key."""
    invoices = cast(Table, Invoice.__table__)
    timeline = cast(Table, TimelineEntry.__table__)
    shared = {
        "shop_id": shop.id,
        "connection_id": connection.id,
        "created_at": now,
        "updated_at": now,
    }
    insert_rows(session, invoices, rows, shared)
    found = select(
        literal(shop.id, invoices.c.shop_id.type),
        invoices.c.id,
        literal(now, timeline.c.at.type),
        literal(timeline_kind, timeline.c.kind.type),
        literal(f"{timeline_kind.value} from {connection.platform}", timeline.c.summary.type),
    ).where(
        invoices.c.connection_id == connection.id,
        one_of(session, invoices.c.external_id, "external_ids"),
    )
    session.execute(
        insert(timeline).from_select(["shop_id", "invoice_id", "at", "kind", "summary"], found),
        {"external_ids": [row["external_id"] for row in rows]},
    )


def _new_invoice_row(
    shop: Shop, customer_ids: dict[str, int], item: InvoiceRow
) -> dict[str, object]:
    """The one place a new invoice's row is built (its shop, connection and timestamps, the
    same for the whole batch, are added by ``_insert_new_invoices``)."""
    due_at = terms_due_at(shop, item.due_at, item.issued_at)
    return {
        "customer_id": customer_ids[item.customer_external_id],
        "external_id": item.external_id,
        "number": item.number,
        "number_key": fold(item.number),
        "currency": item.currency,
        "total_minor": item.total_minor,
        "amount_due_minor": item.amount_due_minor,
        "status": item.status,
        "issued_at": item.issued_at,
        "due_at": due_at,
        "payment_url": item.payment_url,
        "platform_updated_at": item.updated_at,
        # Owed invoices go to the planner once their first step may be near; the rest never.
        "next_action_at": plan_from(due_at) if item.status.is_owed else None,
    }


# Never resurrected once erased (the search keys are folded copies of the first three).
_PERSONAL = (
    *("email", "name", "company", "phone", "postal_address"),
    *("email_key", "name_key", "company_key"),
)
_KEPT_AFTER_ERASURE = ("locale", "is_b2b")
_CUSTOMER_FIELDS = (*_PERSONAL, *_KEPT_AFTER_ERASURE)


def _customer_values(shop: Shop, item: InvoiceRow) -> tuple[Any, ...]:
    """The one place a platform's customer becomes the columns it sets, in ``_CUSTOMER_FIELDS``
    order: for the rows inserted and for the comparison that skips unchanged ones (a tuple, as
    the held row is read: compared in one C call, no dict per customer)."""
    email, name, company = item.email, item.name, item.company
    return (
        email,
        name,
        company,
        item.phone,
        item.postal_address,
        None if email is None else fold(email),
        None if name is None else fold(name),
        None if company is None else fold(company),
        item.locale,
        shop.default_b2b if item.is_b2b is None else item.is_b2b,
    )


_POSTAL = _CUSTOMER_FIELDS.index("postal_address")
_KEPT = len(_PERSONAL)  # the kept-after-erasure fields end the tuple


INVALID_ADDRESS = "invalid address: "
"""How ``Customer.email_blocked_reason`` starts when the platform's address itself is unusable
(the mail provider would refuse it): lifted by the next sync that brings a good address."""


@lru_cache(maxsize=4096)
def address_block(email: str | None) -> str | None:
    """The block a platform's address carries: None when the mail provider would take it.
    Remembered per address: a customer's orders, and every re-sync, bring the same one."""
    if not email:
        return None
    problem = email_problem(email)
    return None if problem is None else f"{INVALID_ADDRESS}{problem}"[:255]


def _next_block(current: str | None, invalid: str | None) -> str | None:
    """A bounce or a complaint stays until the owner lifts it; an invalid-address block follows
    the address the platform sends now."""
    if current is not None and not current.startswith(INVALID_ADDRESS):
        return current
    return invalid


def _upsert_customers(
    session: Session,
    shop: Shop,
    connection: Connection,
    items: Sequence[InvoiceRow],
    now: datetime,
) -> dict[str, int]:
    """Customers of a page → their ids. One read; then only what is new is inserted and only
    what changed is updated (pages mostly name customers the store already holds)."""
    by_ext = {i.customer_external_id: i for i in items}
    blocks = {ext: address_block(c.email) for ext, c in by_ext.items()}
    wanted = {ext: _customer_values(shop, c) for ext, c in by_ext.items()}
    table = cast(Table, Customer.__table__)
    cols = table.c
    ids: dict[str, int] = {}
    changed: list[dict[str, Any]] = []
    newly_invalid: list[str] = []
    held_rows = session.execute(
        select(
            cols.id,
            cols.external_id,
            cols.erased_at.is_not(None),  # a flag: no timestamp to parse per row
            cols.email_blocked_reason,
            *(cols[f] for f in _CUSTOMER_FIELDS),
        ).where(
            cols.connection_id == connection.id, one_of(session, cols.external_id, "external_ids")
        ),
        {"external_ids": list(by_ext)},
    ).all()  # fetched at once: row-by-row iteration costs more than the rows
    for customer_id, ext, erased, blocked, *values in held_rows:
        ids[ext] = customer_id
        want = wanted[ext]
        if erased:  # only what is kept after erasure: personal fields never come back
            if want[_KEPT:] != tuple(values[_KEPT:]):
                kept = dict(zip(_KEPT_AFTER_ERASURE, want[_KEPT:], strict=True))
                changed.append({"b_id": customer_id, **kept, "updated_at": now})
            continue
        if want[_POSTAL] is None and values[_POSTAL] is not None:
            want = (
                *want[:_POSTAL],
                values[_POSTAL],
                *want[_POSTAL + 1 :],
            )  # a page without one keeps it
        block = _next_block(blocked, blocks[ext])
        if blocks[ext] is not None and block != blocked:
            newly_invalid.append(ext)
        if block != blocked or want != tuple(values):
            new = dict(zip(_CUSTOMER_FIELDS, want, strict=True))
            changed.append(
                {"b_id": customer_id, **new, "email_blocked_reason": block, "updated_at": now}
            )
    for group in {tuple(sorted(c)) for c in changed}:  # one statement per set of columns
        session.execute(
            update(table)
            .where(cols.id == bindparam("b_id"))
            .values({f: bindparam(f) for f in group if f != "b_id"}),
            [c for c in changed if tuple(sorted(c)) == group],
        )
    ids_before = set(ids)
    fresh = [
        {
            "external_id": ext,
            **dict(zip(_CUSTOMER_FIELDS, values, strict=True)),
            "email_blocked_reason": blocks[ext],
        }
        for ext, values in wanted.items()
        if ext not in ids
    ]
    if fresh:
        # DO NOTHING: a concurrent writer (a webhook) may have inserted one meanwhile; the
        # read below finds its id either way.
        shared = {
            "shop_id": shop.id,
            "connection_id": connection.id,
            "excluded": False,
            "created_at": now,
            "updated_at": now,
        }
        insert_rows(session, table, fresh, shared, conflict_key=("connection_id", "external_id"))
        ids.update(
            session.execute(  # type: ignore[arg-type]
                select(cols.external_id, cols.id).where(
                    cols.connection_id == connection.id,
                    one_of(session, cols.external_id, "external_ids"),
                ),
                {"external_ids": [r["external_id"] for r in fresh]},
            ).all()
        )
        newly_invalid += [ext for ext in wanted if ext not in ids_before and blocks[ext]]
    for ext in newly_invalid:
        _ask_owner_to_fix_address(
            session, shop, connection, ids[ext], by_ext[ext].email, blocks[ext]
        )
    return ids


def _ask_owner_to_fix_address(
    session: Session,
    shop: Shop,
    connection: Connection,
    customer_id: int,
    email: str | None,
    block: str | None,
) -> None:
    """One task per customer: no email goes to that address until the platform sends a good one."""
    open_task(
        session,
        shop_id=shop.id,
        kind=TaskKind.INVALID_EMAIL,
        title=f"Customer address refused by the mail provider: fix it on {connection.platform}",
        detail=f"{email!r}: {block}"[:1000],
        customer_id=customer_id,
        dedupe_key=f"invalid_email:{customer_id}",
    )
