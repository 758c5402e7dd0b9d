"""What a verified platform event does to the store, by EventKind (a dict, never an if-chain).

Every handler runs inside the apply transaction, with the invoice row locked, and goes through
the ledger — so a payment is recorded and every pending reminder cancelled in one transaction,
and an older state never overwrites a newer one (``platform_updated_at``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector import privacy
from connector.actions.connections import deactivate_uninstalled
from connector.ingest import upsert_invoices
from connector.ledger import (
    add_timeline,
    apply_platform_state,
    cancel_pending_reminders,
    set_state,
)
from connector.platform import EventKind, InvoiceStatus, NormalizedEvent, NormalizedInvoice
from connector.store.models import (
    Connection,
    Customer,
    Invoice,
    Payment,
    PaymentSource,
    Shop,
    TimelineKind,
    WebhookOutcome,
)
from connector.webhooks.resolve import NeedsPlatform, Resolution, rereads_invoice


@dataclass(slots=True)
class ApplyContext:
    """What a handler may touch: one shop, one connection, in one transaction."""

    session: Session
    shop: Shop
    connection: Connection
    now: datetime
    exports_dir: Path
    resolution: Resolution | None = None  # the platform's answer, when the event needed one
    # The connection's deliveries are signed with a secret every account shares (Shopify): an
    # invoice it has never seen is created from the platform's answer, never from the body.
    confirms_new_invoices: bool = False

    def resolved(self, event: NormalizedEvent, *, reread: bool = False) -> Resolution:
        """The platform's answer for this event (with the invoice's state re-read when
        ``reread``), or NeedsPlatform (the apply asks, then comes back)."""
        if self.resolution is None:
            raise NeedsPlatform(self.connection.id, event, reread=reread)
        return self.resolution

    def new_invoice(self, event: NormalizedEvent) -> NormalizedInvoice | None:
        """The invoice to create for an event naming one this connection has never seen: the
        body's, or, where the body alone does not bind it to this connection, the platform's
        answer on this connection (None: the platform has no such invoice here). A body that
        says nothing is owed is not worth a platform call per paid order: nothing to remind
        about, and the next sync brings the order in anyway."""
        if not self.confirms_new_invoices:
            return event.invoice
        if event.invoice is not None and not event.invoice.status.is_owed:
            return None
        return self.resolved(event, reread=True).fresh

    def invoice(self, event: NormalizedEvent) -> Invoice | None:
        """The event's invoice in this connection (hence this shop), row-locked. An event that
        names only a payment is matched through the payments we recorded, else the platform."""
        external_id = named_invoice(event)
        if external_id is None and event.payment_external_id is not None:
            external_id = self._paid_by(event.payment_external_id)
            if external_id is None:
                external_id = self.resolved(event).external_invoice_id
        if external_id is None:
            return None
        return self.session.scalar(
            select(Invoice)
            .where(
                Invoice.shop_id == self.shop.id,
                Invoice.connection_id == self.connection.id,
                Invoice.external_id == external_id,
            )
            .with_for_update()  # what lock_invoice does, found and locked in one statement
            .execution_options(populate_existing=True)
        )

    def _paid_by(self, payment_external_id: str) -> str | None:
        found = self.session.scalars(
            select(Invoice.external_id)
            .join(Payment, Payment.invoice_id == Invoice.id)
            .where(
                Invoice.connection_id == self.connection.id,
                Payment.external_id == payment_external_id,
            )
            .distinct()
            .limit(2)
        ).all()
        return found[0] if len(found) == 1 else None


Handler = Callable[[ApplyContext, NormalizedEvent], WebhookOutcome]


def named_invoice(event: NormalizedEvent) -> str | None:
    """The platform's id of the invoice the event names, if it names one."""
    if event.external_invoice_id:
        return event.external_invoice_id
    return event.invoice.external_id if event.invoice is not None else None


def target_state(
    currency: str, amount_due_minor: int, event: NormalizedEvent
) -> tuple[InvoiceStatus, int] | None:
    """Status and amount due implied by an event that carries no invoice object, for an
    invoice in ``currency`` that has ``amount_due_minor`` left to pay."""
    if event.kind is EventKind.PAID:
        return InvoiceStatus.PAID, 0
    if event.kind is EventKind.PARTIALLY_PAID:
        if event.payment_amount is None or event.payment_amount.currency != currency:
            return None
        left = max(0, amount_due_minor - event.payment_amount.to_minor())
        return (InvoiceStatus.PARTIALLY_PAID if left else InvoiceStatus.PAID), left
    if event.kind is EventKind.VOIDED:
        return InvoiceStatus.VOID, amount_due_minor
    if event.kind is EventKind.REFUNDED:
        return InvoiceStatus.REFUNDED, amount_due_minor  # a refund is not a payment
    return None


def apply_state(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    """paid / partially paid / voided / refunded / updated: the newest state wins. The worker's
    chunks apply these set-based (``connector.webhooks.batch.apply_held``), same rules."""
    inv = ctx.invoice(event)
    if inv is None:
        if event.invoice is None:
            return WebhookOutcome.IGNORED  # not an invoice we track
        new = ctx.new_invoice(event)
        if new is None:
            return WebhookOutcome.IGNORED  # not confirmed on this connection, or nothing owed
        upsert_invoices(ctx.session, ctx.shop, ctx.connection, [new], ctx.now)
        return WebhookOutcome.APPLIED
    carried = event.invoice
    if carried is None and rereads_invoice(event):
        carried = ctx.resolved(event).fresh  # what the platform says now
        if carried is None:
            return WebhookOutcome.IGNORED  # gone on the platform: the reconciliation decides
    if carried is not None:
        result = apply_platform_state(
            ctx.session,
            inv,
            carried,
            ctx.now,
            shop=ctx.shop,
            source=PaymentSource.WEBHOOK,
            payment_external_id=event.payment_external_id,
        )
        return WebhookOutcome.IGNORED if result == "stale" else WebhookOutcome.APPLIED
    if inv.platform_updated_at is not None and event.occurred_at < inv.platform_updated_at:
        return WebhookOutcome.IGNORED  # late delivery of an older state
    target = target_state(inv.currency, inv.amount_due_minor, event)
    if target is None:
        return WebhookOutcome.IGNORED
    status, amount_due = target
    inv.platform_updated_at = event.occurred_at
    set_state(
        ctx.session,
        inv,
        status=status,
        amount_due_minor=amount_due,
        now=ctx.now,
        source=PaymentSource.WEBHOOK,
        payment_external_id=event.payment_external_id or f"webhook:{event.dedupe_key}",
        received_at=event.occurred_at,
    )
    return WebhookOutcome.APPLIED


def apply_dispute(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    """A dispute pauses the sequence until the owner resumes it; nothing pending goes out."""
    inv = ctx.invoice(event)
    if inv is None or inv.pause_reason == "dispute":
        return WebhookOutcome.IGNORED
    inv.pause_reason = "dispute"
    inv.paused_until = None
    cancel_pending_reminders(ctx.session, inv, "dispute opened", ctx.now)
    add_timeline(
        ctx.session,
        inv,
        ctx.now,
        TimelineKind.PAUSED,
        f"dispute opened on {ctx.connection.platform}",
        data={"event": event.dedupe_key, "topic": event.topic},
    )
    return WebhookOutcome.APPLIED


def _customers(ctx: ApplyContext, event: NormalizedEvent) -> list[Customer]:
    return privacy.find_customers(
        ctx.session,
        ctx.shop.id,
        email=event.customer_email,
        external_id=event.customer_external_id,
        connection_id=ctx.connection.id,
    )


def apply_data_request(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    found = _customers(ctx, event)
    privacy.offer_export(
        ctx.session,
        ctx.exports_dir,
        ctx.shop.id,
        found,
        ctx.now,
        cause=f"{ctx.connection.id}:{event.dedupe_key}",
    )
    return WebhookOutcome.APPLIED


def apply_customer_redact(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    found = _customers(ctx, event)
    if not found:
        return WebhookOutcome.IGNORED  # we hold nothing about that person
    privacy.erase_customers(ctx.session, ctx.shop.id, found, ctx.now)
    return WebhookOutcome.APPLIED


def apply_shop_redact(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    privacy.delete_connection_data(ctx.session, ctx.connection.id)
    return WebhookOutcome.APPLIED


def apply_uninstalled(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    """The app was uninstalled from the account: its tokens are void, erased; its reminders
    stop (paused, resumed by a reinstall). A late retry older than a reinstall changes nothing."""
    paused = deactivate_uninstalled(ctx.session, ctx.connection, event.occurred_at, ctx.now)
    return WebhookOutcome.IGNORED if paused is None else WebhookOutcome.APPLIED


def ignore(ctx: ApplyContext, event: NormalizedEvent) -> WebhookOutcome:
    return WebhookOutcome.IGNORED


HANDLERS: dict[EventKind, Handler] = {
    EventKind.PAID: apply_state,
    EventKind.PARTIALLY_PAID: apply_state,
    EventKind.VOIDED: apply_state,
    EventKind.REFUNDED: apply_state,
    EventKind.UPDATED: apply_state,
    EventKind.DISPUTED: apply_dispute,
    EventKind.CUSTOMER_DATA_REQUEST: apply_data_request,
    EventKind.CUSTOMER_REDACT: apply_customer_redact,
    EventKind.SHOP_REDACT: apply_shop_redact,
    EventKind.APP_UNINSTALLED: apply_uninstalled,
    EventKind.IGNORED: ignore,
}
