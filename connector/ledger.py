"""The one place invoice state changes: sync, CSV import, webhooks, the runner's re-check and
the owner's actions all go through here (a batch of pages or deliveries through its set-based
twin, ``connector.ledger_batch``, with the same rules: ``connector.ingest``,
``connector.webhooks.batch``), so the rules hold everywhere:

* an older platform state never overwrites a newer one (``platform_updated_at``);
* an invoice that stops being owed has every pending reminder cancelled in the same
  transaction, and is never looked at by the engine again (``next_action_at = NULL``);
* any change to what is owed or when sends the invoice back to the planner;
* an invoice that becomes fully paid after it was chased records its thank-you message (when
  the shop wants them) in the same transaction: a transactional outbox the worker drains
  (connector.dunning.thank_you).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql as pg_insert
from sqlalchemy.dialects import sqlite as sqlite_insert
from sqlalchemy.orm import Session

from connector.domain.terms import due_date
from connector.platform import InvoiceStatus, NormalizedInvoice
from connector.store.models import (
    Channel,
    Connection,
    Customer,
    Instalment,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Payment,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    TimelineEntry,
    TimelineKind,
)

CSV_PLATFORM = "csv"


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


PLAN_LEAD = timedelta(days=60)
"""How long before the due date the planner first looks at an invoice: more than any step's
lead (the courtesy step is D-2). Anchored on the due date, not on the sync's wall clock, so a
tick ``--now`` in the past or the future sees the same plan."""


def plan_from(due_at: datetime) -> datetime:
    """When the engine should first look at an owed invoice (it re-plans precisely then)."""
    return due_at - PLAN_LEAD


def resolve_due_at(shop: Shop, item: NormalizedInvoice) -> datetime:
    """The platform's due date, or the shop's payment terms applied to the issue date."""
    return terms_due_at(shop, item.due_at, item.issued_at)


def terms_due_at(shop: Shop, due_at: datetime | None, issued_at: datetime) -> datetime:
    """``resolve_due_at`` on plain values (a sync's rows)."""
    if due_at is not None:
        return due_at if due_at.tzinfo is UTC else due_at.astimezone(UTC)
    issued_local = issued_at.astimezone(ZoneInfo(shop.timezone)).date()
    return local_midnight(due_date(issued_local, shop.terms_mode, shop.terms_days), shop.timezone)


def ensure_csv_connection(session: Session, shop: Shop) -> Connection:
    conn = session.scalar(
        select(Connection).where(Connection.shop_id == shop.id, Connection.platform == CSV_PLATFORM)
    )
    if conn is None:
        conn = Connection(shop_id=shop.id, platform=CSV_PLATFORM, external_account="")
        session.add(conn)
        session.flush()
    return conn


def upsert_insert(session: Session, table: Table) -> pg_insert.Insert | sqlite_insert.Insert:
    """INSERT … ON CONFLICT in the session's dialect (both spell it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert.insert(table)
    return sqlite_insert.insert(table)


def apply_platform_state(
    session: Session,
    invoice: Invoice,
    item: NormalizedInvoice,
    now: datetime,
    *,
    shop: Shop,
    source: PaymentSource = PaymentSource.SYNC,
    payment_external_id: str | None = None,
) -> str:
    """Move an invoice to the platform's state if it is newer. Returns the stats field name.
    ``payment_external_id``: the platform's id of the payment, when the event named it."""
    if invoice.platform_updated_at is not None and item.updated_at < invoice.platform_updated_at:
        return "stale"
    due_at = resolve_due_at(shop, item)
    status, amount_due = item.status, item.amount_due.to_minor()
    if amount_due > invoice.amount_due_minor and status.is_owed:
        # More owed than we hold: the platform may not know what the owner recorded.
        status, amount_due = _net_of_owner_payments(session, invoice, status, amount_due)
    changed = (
        invoice.status != status
        or invoice.amount_due_minor != amount_due
        or invoice.due_at != due_at
        or invoice.total_minor != item.total.to_minor()
        or invoice.payment_url != item.payment_url
    )
    invoice.platform_updated_at = item.updated_at
    if not changed:
        return "unchanged"
    invoice.total_minor = item.total.to_minor()
    invoice.due_at = due_at  # before set_state, which re-plans from the due date
    invoice.payment_url = item.payment_url
    invoice.number = item.number
    closed = set_state(
        session,
        invoice,
        status=status,
        amount_due_minor=amount_due,
        now=now,
        source=source,
        payment_external_id=payment_external_id or f"{source.value}:{item.updated_at.isoformat()}",
    )
    return "closed" if closed else "updated"


OWNER_RECORDED = (PaymentSource.BANK_TRANSFER, PaymentSource.CHEQUE, PaymentSource.CASH)
"""Payments the owner recorded by hand: money the platform never saw."""


def _net_of_owner_payments(
    session: Session, invoice: Invoice, status: InvoiceStatus, amount_due: int
) -> tuple[InvoiceStatus, int]:
    """What a platform state that raises the amount due means once the payments the owner
    recorded by hand (a bank transfer the platform never saw) are counted: the platform's
    pending order never re-opens an invoice its owner marked paid. Only read on that rare
    move (amount due going up), never on the common path."""
    with session.no_autoflush:
        paid = session.scalar(
            select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
                Payment.invoice_id == invoice.id, Payment.source.in_(OWNER_RECORDED)
            )
        )
    paid = int(paid or 0)
    if paid <= 0:
        return status, amount_due
    left = max(0, amount_due - paid)
    if left == 0:
        return InvoiceStatus.PAID, 0
    return InvoiceStatus.PARTIALLY_PAID, left


def unused_payment_id(external_id: str, taken: set[str]) -> str:
    """The platform's payment id, suffixed if that id already paid part of this invoice (one
    PaymentIntent can carry several partial payments): a payment is never refused as a
    duplicate, which would leave the invoice owed. ``taken``: the invoice's payment ids."""
    candidate, n = external_id, 1
    while candidate in taken:
        n += 1
        candidate = f"{external_id}#{n}"
    return candidate


def _unused_payment_id(session: Session, invoice_id: int, external_id: str) -> str:
    """:func:`unused_payment_id` against the invoice's stored and pending payments."""
    with session.no_autoflush:  # pending invoice changes go out in one UPDATE, later
        taken = set(
            session.scalars(
                select(Payment.external_id).where(
                    Payment.invoice_id == invoice_id, Payment.external_id.startswith(external_id)
                )
            )
        )
    taken |= {
        obj.external_id
        for obj in session.new
        if isinstance(obj, Payment) and obj.invoice_id == invoice_id
    }
    return unused_payment_id(external_id, taken)


def state_timeline(
    old: InvoiceStatus, new: InvoiceStatus, source: PaymentSource
) -> tuple[TimelineKind, str]:
    """The timeline entry of a status change."""
    kind = TimelineKind.PAID if new is InvoiceStatus.PAID else TimelineKind.STATUS_CHANGED
    return kind, f"{old.value} → {new.value} ({source.value})"


def cancel_reason(status: InvoiceStatus) -> str:
    """Why the pending reminders of an invoice that stopped being owed were cancelled."""
    return f"invoice {status.value}"


def set_state(
    session: Session,
    invoice: Invoice,
    *,
    status: InvoiceStatus,
    amount_due_minor: int,
    now: datetime,
    source: PaymentSource,
    payment_external_id: str,
    received_at: datetime | None = None,
) -> bool:
    """Apply a status/amount change; True when the invoice stopped being owed.

    A payment is recorded when the amount due went down; if the invoice is no longer owed,
    every pending reminder is cancelled here, in the caller's transaction. Its set-based twin
    for a chunk of deliveries is ``connector.ledger_batch.InvoiceBatch.set_state``.
    """
    was_owed = invoice.status.is_owed
    paid_minor = invoice.amount_due_minor - amount_due_minor
    if paid_minor > 0:
        session.add(
            Payment(
                shop_id=invoice.shop_id,
                invoice_id=invoice.id,
                amount_minor=paid_minor,
                currency=invoice.currency,
                received_at=received_at or now,
                source=source,
                external_id=_unused_payment_id(session, invoice.id, payment_external_id),
            )
        )
        if invoice.plan_due_at is not None:
            follow_instalments(session, invoice, paid_minor)
    old_status = invoice.status
    invoice.status = status
    invoice.amount_due_minor = amount_due_minor
    if status != old_status:
        add_timeline(session, invoice, now, *state_timeline(old_status, status, source))
    if was_owed and not status.is_owed:
        invoice.next_action_at = None  # before the UPDATE below flushes the invoice, once
        cancel_pending_reminders(session, invoice, cancel_reason(status), now)
        if status is InvoiceStatus.PAID:
            enqueue_thank_you(session, invoice, now)
        return True
    if status.is_owed:
        # Re-plan: the amount, the status or the dates changed.
        invoice.next_action_at = plan_from(invoice.due_at)
    return False


def follow_instalments(session: Session, invoice: Invoice, paid_minor: int) -> None:
    """A payment on an invoice under a payment plan pays its instalments in order; the
    sequence then counts from the next unpaid one's due date (none left: the plan is over)."""
    left = paid_minor
    next_due: datetime | None = None
    for inst in session.scalars(
        select(Instalment).where(Instalment.invoice_id == invoice.id).order_by(Instalment.position)
    ):
        take = min(left, inst.amount_minor - inst.paid_minor)
        if take > 0:
            inst.paid_minor += take
            left -= take
        if next_due is None and inst.paid_minor < inst.amount_minor:
            next_due = inst.due_at
    invoice.plan_due_at = next_due


def cancel_pending_reminders(session: Session, invoice: Invoice, reason: str, now: datetime) -> int:
    """Cancel what is claimed but not yet handed to the mail API (SENDING is past saving)."""
    # No in-Python evaluation of the criteria over the whole session (the ORM's default): in a
    # batch of payments that scan grows with every row the transaction has read. The few
    # reminders of this invoice the session may hold are expired instead.
    result = session.execute(
        update(Reminder)
        .where(Reminder.invoice_id == invoice.id, Reminder.state == ReminderState.CLAIMED)
        .values(state=ReminderState.CANCELLED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        for held in list(session.identity_map.values()):
            if isinstance(held, Reminder) and held.invoice_id == invoice.id:
                session.expire(held)
        add_timeline(
            session, invoice, now, TimelineKind.REMINDER_CANCELLED, f"{count} pending: {reason}"
        )
    return count


def customer_unreachable(customer: Customer) -> str | None:
    """Why no email may go to this customer (erased, excluded, no or blocked address)."""
    if customer.erased_at is not None:
        return "customer erased"
    if customer.excluded:
        return "customer excluded"
    if not customer.email:
        return "no email address"
    if customer.email_blocked_reason is not None:
        return "email address blocked"
    return None


def enqueue_thank_you(session: Session, invoice: Invoice, now: datetime) -> bool:
    """Record the thank-you for an invoice that just became fully paid, in the caller's
    transaction; True if one was recorded now.

    Only when the shop wants them, the invoice was chased (one reminder at least SENT) and the
    customer can be emailed. The unique (invoice_id, kind) makes it one per invoice, ever: the
    insert does nothing on a conflict (paid, refunded, paid again), no read-then-write.
    """
    shop = session.get(Shop, invoice.shop_id)
    if shop is None or not shop.thank_you_enabled:
        return False
    chased = session.scalar(
        select(Reminder.id)
        .where(Reminder.invoice_id == invoice.id, Reminder.state == ReminderState.SENT)
        .limit(1)
    )
    if chased is None:
        return False
    customer = session.get(Customer, invoice.customer_id)
    if customer is None or customer_unreachable(customer) is not None:
        return False
    table = cast(Table, Message.__table__)
    stmt = (
        upsert_insert(session, table)
        .values(
            shop_id=invoice.shop_id,
            customer_id=invoice.customer_id,
            kind=MessageKind.THANK_YOU,
            invoice_id=invoice.id,
            channel=Channel.EMAIL,
            local_day=now.astimezone(ZoneInfo(shop.timezone)).date(),
            state=MessageState.PENDING,
            recipient=customer.email,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["invoice_id", "kind"])
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def lock_invoice(session: Session, invoice_id: int) -> Invoice | None:
    """Re-read an invoice under a row lock (PostgreSQL); SQLite holds the write lock already."""
    return session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def add_timeline(
    session: Session,
    invoice: Invoice,
    at: datetime,
    kind: TimelineKind,
    summary: str,
    *,
    reminder_id: int | None = None,
    data: dict[str, object] | None = None,
) -> None:
    session.add(
        TimelineEntry(
            shop_id=invoice.shop_id,
            invoice_id=invoice.id,
            at=at,
            kind=kind,
            summary=summary,
            reminder_id=reminder_id,
            data=data,
        )
    )
