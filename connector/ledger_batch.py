"""The ledger's state change (``connector.ledger.set_state``) for many invoices at once, as the
worker applies a chunk of payment deliveries: the invoices read and row-locked in one SELECT
(ordered by id, so two workers never deadlock), every change computed in Python on plain
values, then written in a handful of statements whatever the chunk's size — one INSERT of the
payments, one UPDATE of the invoices, one cancellation of the pending reminders of every
invoice that stopped being owed, one INSERT of the timeline, the thank-you outbox.

The rules are ``set_state``'s (a payment when the amount due went down, its id never refused as a
duplicate, the timeline, the cancellation and the thank-you when an invoice stops being owed,
re-planning while owed) applied in the order the changes come, so several events for one
invoice in a chunk end exactly where one-by-one application would. An invoice under a payment
plan is not handled here (its instalments are followed row by row): ``InvoiceBatch.get``
reports it and the caller applies that change through ``set_state``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from connector.ledger import (
    cancel_reason,
    customer_unreachable,
    plan_from,
    state_timeline,
    terms_due_at,
    unused_payment_id,
    upsert_insert,
)
from connector.platform import InvoiceRow, InvoiceStatus
from connector.store.bulk import insert_rows, one_of, update_rows
from connector.store.fold import fold
from connector.store.models import (
    Channel,
    Customer,
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

_INVOICE = cast(Table, Invoice.__table__)
_PAYMENT = cast(Table, Payment.__table__)
_TIMELINE = cast(Table, TimelineEntry.__table__)
_REMINDER = cast(Table, Reminder.__table__)
_MESSAGE = cast(Table, Message.__table__)

#: What the batch reads of an invoice, and writes back when it changed.
_READ = (
    "id",
    "shop_id",
    "connection_id",
    "customer_id",
    "external_id",
    "number",
    "currency",
    "total_minor",
    "amount_due_minor",
    "status",
    "due_at",
    "payment_url",
    "plan_due_at",
    "next_action_at",
    "platform_updated_at",
)
_WRITTEN = (  # and the number's search key (connector.store.fold), folded from it
    "number",
    "total_minor",
    "amount_due_minor",
    "status",
    "due_at",
    "payment_url",
    "next_action_at",
    "platform_updated_at",
)


@dataclass(slots=True)
class HeldInvoice:
    """An invoice row as read under its lock, changed in memory until the batch is written."""

    id: int
    shop_id: int
    connection_id: int
    customer_id: int
    external_id: str
    number: str
    currency: str
    total_minor: int
    amount_due_minor: int
    status: InvoiceStatus
    due_at: datetime
    payment_url: str | None
    plan_due_at: datetime | None
    next_action_at: datetime | None
    platform_updated_at: datetime | None
    changed: bool = False


@dataclass(slots=True)
class _Cancel:
    reason: str
    timeline_at: int  # where its timeline entry goes (it needs the count: known once written)


class PlatformMove(StrEnum):
    """What the platform's state of an invoice did to the held one (the sync's stats names)."""

    STALE = "stale"  # older than what is held: ignored
    ROW_BY_ROW = "row_by_row"  # the amount due went up while owed: the row-by-row ledger
    UNCHANGED = "unchanged"
    UPDATED = "updated"
    CLOSED = "closed"  # it stopped being owed


@dataclass(slots=True)
class InvoiceBatch:
    """One transaction's set-based state changes (``session``: the apply's, under its locks)."""

    session: Session
    now: datetime
    held: dict[tuple[int, str], HeldInvoice] = field(default_factory=dict)
    _payments: list[dict[str, Any]] = field(default_factory=list)
    _timeline: list[dict[str, Any] | None] = field(default_factory=list)
    _cancels: dict[int, _Cancel] = field(default_factory=dict)
    _paid: dict[int, HeldInvoice] = field(default_factory=dict)

    def lock(self, keys: Iterable[tuple[int, int, str]]) -> None:
        """Read and row-lock the invoices named by (shop id, connection id, external id), in
        one statement ordered by id. A row of another shop is never held (tenant seal)."""
        by_connection: dict[int, set[str]] = {}
        shops: dict[int, int] = {}
        for shop_id, connection_id, external_id in keys:
            by_connection.setdefault(connection_id, set()).add(external_id)
            shops[connection_id] = shop_id
        self.held.clear()
        if not by_connection:
            return
        cols = _INVOICE.c
        query = (
            select(*(cols[name] for name in _READ))
            .where(
                or_(
                    *(
                        and_(
                            cols.connection_id == connection_id,
                            # A check, not an access path: SQLite (no ANALYZE) would otherwise
                            # range-scan a (shop_id, …) index over every invoice of the shop
                            # instead of the unique (connection_id, external_id) one.
                            cols.shop_id + 0 == shops[connection_id],
                            # One list bound as a whole, not a parameter per id.
                            one_of(
                                self.session,
                                cols.external_id,
                                f"external_ids_{n}",
                                sorted(external_ids),
                            ),
                        )
                        for n, (connection_id, external_ids) in enumerate(
                            sorted(by_connection.items())
                        )
                    )
                )
            )
            .order_by(cols.id)
            .with_for_update()
        )
        for row in self.session.execute(query):
            inv = HeldInvoice(*row)
            self.held[(inv.connection_id, inv.external_id)] = inv

    def get(self, connection_id: int, external_id: str) -> HeldInvoice | None:
        return self.held.get((connection_id, external_id))

    def apply_platform_state(
        self,
        inv: HeldInvoice,
        shop: Shop,
        item: InvoiceRow,
        *,
        source: PaymentSource,
        payment_external_id: str | None = None,
    ) -> PlatformMove:
        """``connector.ledger.apply_platform_state`` on a held invoice (never one under a payment
        plan), for a sync page and a webhook chunk alike. Nothing is written when the platform
        says what the store holds already (a nightly re-sync). ``payment_external_id``: the
        platform's id of the payment, when it named one; else, as the ledger names it,
        ``<source>:<the state's updated_at>`` (made only for a state that changes something)."""
        if inv.platform_updated_at is not None and item.updated_at < inv.platform_updated_at:
            return PlatformMove.STALE
        due_at = terms_due_at(shop, item.due_at, item.issued_at)
        status, amount_due = item.status, item.amount_due_minor
        if amount_due > inv.amount_due_minor and status.is_owed:
            return PlatformMove.ROW_BY_ROW  # the owner's own payments must be counted
        total = item.total_minor
        changed = (
            inv.status != status
            or inv.amount_due_minor != amount_due
            or inv.due_at != due_at
            or inv.total_minor != total
            or inv.payment_url != item.payment_url
        )
        if inv.platform_updated_at != item.updated_at:
            inv.platform_updated_at = item.updated_at
            inv.changed = True
        if not changed:
            return PlatformMove.UNCHANGED
        inv.total_minor = total
        inv.due_at = due_at  # before set_state, which re-plans from the due date
        inv.payment_url = item.payment_url
        inv.number = item.number
        closed = self.set_state(
            inv,
            status=status,
            amount_due_minor=amount_due,
            source=source,
            payment_external_id=payment_external_id
            or f"{source.value}:{item.updated_at.isoformat()}",
        )
        return PlatformMove.CLOSED if closed else PlatformMove.UPDATED

    def set_state(
        self,
        inv: HeldInvoice,
        *,
        status: InvoiceStatus,
        amount_due_minor: int,
        source: PaymentSource,
        payment_external_id: str,
        received_at: datetime | None = None,
    ) -> bool:
        """``connector.ledger.set_state`` on a held invoice (never one under a payment plan);
        True when it stopped being owed."""
        assert inv.plan_due_at is None, "an invoice under a payment plan goes through set_state"
        now = self.now
        inv.changed = True
        was_owed = inv.status.is_owed
        paid_minor = inv.amount_due_minor - amount_due_minor
        if paid_minor > 0:
            self._payments.append(
                {
                    "shop_id": inv.shop_id,
                    "invoice_id": inv.id,
                    "amount_minor": paid_minor,
                    "currency": inv.currency,
                    "received_at": received_at or now,
                    "source": source,
                    "external_id": payment_external_id,  # made unused when written
                }
            )
        old_status = inv.status
        inv.status = status
        inv.amount_due_minor = amount_due_minor
        if status != old_status:
            kind, summary = state_timeline(old_status, status, source)
            self._add_timeline(inv, kind, summary)
        if was_owed and not status.is_owed:
            inv.next_action_at = None
            if inv.id not in self._cancels:  # a second closing finds nothing left to cancel
                self._cancels[inv.id] = _Cancel(cancel_reason(status), len(self._timeline))
                self._timeline.append(None)
            if status is InvoiceStatus.PAID:
                self._paid.setdefault(inv.id, inv)
            return True
        if status.is_owed:
            inv.next_action_at = plan_from(inv.due_at)
        return False

    def _add_timeline(self, inv: HeldInvoice, kind: TimelineKind, summary: str) -> None:
        self._timeline.append(
            {
                "shop_id": inv.shop_id,
                "invoice_id": inv.id,
                "at": self.now,
                "kind": kind,
                "summary": summary,
                "reminder_id": None,
                "data": None,
            }
        )

    def write(self, shops: dict[int, Shop]) -> None:
        """Everything computed since the last write, in a few statements; ``shops`` by id (the
        thank-you setting and time zone of the invoices' shops)."""
        s = self.session
        self._write_payments()
        changed = [inv for inv in self.held.values() if inv.changed]
        if changed:
            updated_at = datetime.now(UTC)  # the row's own clock, as its onupdate sets it
            update_rows(
                s,
                _INVOICE,
                [
                    {"id": inv.id, "number_key": fold(inv.number), "updated_at": updated_at}
                    | {name: getattr(inv, name) for name in _WRITTEN}
                    for inv in changed
                ],
            )
            for inv in changed:
                inv.changed = False
        self._write_cancellations()
        insert_rows(s, _TIMELINE, [entry for entry in self._timeline if entry is not None], {})
        self._write_thank_yous(shops)
        self._expire({inv.id for inv in changed})
        self._payments, self._timeline = [], []
        self._cancels, self._paid = {}, {}

    def _write_payments(self) -> None:
        if not self._payments:
            return
        invoice_ids = sorted({p["invoice_id"] for p in self._payments})
        taken: dict[int, set[str]] = {}
        for invoice_id, external_id in self.session.execute(
            select(_PAYMENT.c.invoice_id, _PAYMENT.c.external_id).where(
                _PAYMENT.c.invoice_id.in_(invoice_ids)
            )
        ):
            taken.setdefault(invoice_id, set()).add(external_id)
        for payment in self._payments:  # in order: a later one of the same id gets the suffix
            ids = taken.setdefault(payment["invoice_id"], set())
            payment["external_id"] = unused_payment_id(payment["external_id"], ids)
            ids.add(payment["external_id"])
        self.session.execute(insert(_PAYMENT), self._payments)

    def _write_cancellations(self) -> None:
        """One UPDATE per reason (almost always one): what is claimed but not yet handed to the
        mail API; each invoice's count goes into its timeline entry, none when nothing was."""
        if not self._cancels:
            return
        by_reason: dict[str, list[int]] = {}
        for invoice_id, cancel in self._cancels.items():
            by_reason.setdefault(cancel.reason, []).append(invoice_id)
        counts: dict[int, int] = {}
        cols = _REMINDER.c
        for reason, invoice_ids in by_reason.items():
            for (invoice_id,) in self.session.execute(
                update(_REMINDER)
                .where(
                    cols.invoice_id.in_(sorted(invoice_ids)), cols.state == ReminderState.CLAIMED
                )
                .values(state=ReminderState.CANCELLED, reason=reason, updated_at=self.now)
                .returning(cols.invoice_id),
                execution_options={"synchronize_session": False},
            ):
                counts[invoice_id] = counts.get(invoice_id, 0) + 1
        held = {inv.id: inv for inv in self.held.values()}
        for invoice_id, cancel in self._cancels.items():
            count = counts.get(invoice_id, 0)
            if count:
                entry = {
                    "shop_id": held[invoice_id].shop_id,
                    "invoice_id": invoice_id,
                    "at": self.now,
                    "kind": TimelineKind.REMINDER_CANCELLED,
                    "summary": f"{count} pending: {cancel.reason}",
                    "reminder_id": None,
                    "data": None,
                }
                self._timeline[cancel.timeline_at] = entry
        if counts:
            for obj in list(self.session.identity_map.values()):
                if isinstance(obj, Reminder) and obj.invoice_id in counts:
                    self.session.expire(obj)

    def _write_thank_yous(self, shops: dict[int, Shop]) -> None:
        """``connector.ledger.enqueue_thank_you`` for every invoice that became paid: only where
        the shop wants them, the invoice was chased and its customer can be emailed; one per
        invoice ever (the unique (invoice_id, kind): a conflict does nothing)."""
        wanted = [
            inv
            for inv in self._paid.values()
            if (shop := shops.get(inv.shop_id)) is not None and shop.thank_you_enabled
        ]
        if not wanted:
            return
        s = self.session
        chased = set(
            s.scalars(
                select(Reminder.invoice_id)
                .where(
                    Reminder.invoice_id.in_([inv.id for inv in wanted]),
                    Reminder.state == ReminderState.SENT,
                )
                .distinct()
            )
        )
        wanted = [inv for inv in wanted if inv.id in chased]
        if not wanted:
            return
        customers = {
            c.id: c
            for c in s.scalars(
                select(Customer).where(Customer.id.in_({inv.customer_id for inv in wanted}))
            )
        }
        rows = []
        for inv in wanted:
            customer = customers.get(inv.customer_id)
            if customer is None or customer_unreachable(customer) is not None:
                continue
            shop = shops[inv.shop_id]
            rows.append(
                {
                    "shop_id": inv.shop_id,
                    "customer_id": inv.customer_id,
                    "kind": MessageKind.THANK_YOU,
                    "invoice_id": inv.id,
                    "channel": Channel.EMAIL,
                    "local_day": self.now.astimezone(ZoneInfo(shop.timezone)).date(),
                    "state": MessageState.PENDING,
                    "recipient": customer.email,
                    "attempts": 0,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )
        if rows:
            insert_new = upsert_insert(s, _MESSAGE).on_conflict_do_nothing(
                index_elements=["invoice_id", "kind"]
            )
            s.execute(insert_new, rows)

    def _expire(self, invoice_ids: set[int]) -> None:
        """Invoices the session may hold (read by an event applied row by row) are stale now."""
        if not invoice_ids:
            return
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Invoice) and obj.id in invoice_ids:
                self.session.expire(obj)
