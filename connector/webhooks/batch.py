"""The worker's chunk of stored deliveries, applied set-based: the state events (paid, partially
paid, voided, refunded, updated) that name an invoice the store holds are computed in Python on
the invoices read and locked in one statement, and written together
(``connector.ledger_batch``); anything else — a new invoice, a dispute, a GDPR request, an
event that needs the platform's answer, an invoice under a payment plan — is applied row by row
through the handlers, in its place: what the batch computed before it is written first, and
the invoices are read again after it, so the chunk ends where one-by-one application would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from connector.ledger_batch import HeldInvoice, InvoiceBatch, PlatformMove
from connector.platform import EventKind, NormalizedEvent, invoice_row
from connector.store.models import PaymentSource, Shop, WebhookOutcome
from connector.webhooks.handlers import named_invoice, target_state
from connector.webhooks.resolve import rereads_invoice

STATE_KINDS = frozenset(
    {
        EventKind.PAID,
        EventKind.PARTIALLY_PAID,
        EventKind.VOIDED,
        EventKind.REFUNDED,
        EventKind.UPDATED,
    }
)


@dataclass(frozen=True, slots=True)
class Item:
    """One stored delivery of the chunk. ``event``: parsed, None when it is not a platform
    event (SendGrid, an erased body); ``shop``/``connection_id``: its connection's."""

    event_id: int
    event: NormalizedEvent | None = None
    shop: Shop | None = None
    connection_id: int | None = None

    @property
    def batched(self) -> bool:
        event = self.event
        return (
            event is not None
            and self.shop is not None
            and self.connection_id is not None
            and event.kind in STATE_KINDS
            and named_invoice(event) is not None
            and not (event.invoice is None and rereads_invoice(event))
        )


RowByRow = Callable[[Item], WebhookOutcome]


def apply_items(
    session: Session, items: Sequence[Item], now: datetime, row_by_row: RowByRow
) -> list[WebhookOutcome]:
    """Each item's outcome, in order. ``row_by_row`` applies one item through the handlers in
    this same transaction (and raises what they raise)."""
    batch = InvoiceBatch(session, now)
    shops = {item.shop.id: item.shop for item in items if item.shop is not None}
    outcomes: list[WebhookOutcome] = []
    i = 0
    while i < len(items):
        end = i
        while end < len(items) and items[end].batched:
            end += 1
        if end > i:
            batch.lock(_key(item) for item in items[i:end])
            while i < end:
                outcome = apply_held(batch, items[i])
                if outcome is None:
                    break  # this one goes row by row
                outcomes.append(outcome)
                i += 1
            batch.write(shops)
        if i < len(items):
            outcomes.append(row_by_row(items[i]))
            i += 1
    return outcomes


def _key(item: Item) -> tuple[int, int, str]:
    assert item.shop is not None and item.connection_id is not None and item.event is not None
    external_id = named_invoice(item.event)
    assert external_id is not None
    return item.shop.id, item.connection_id, external_id


def apply_held(batch: InvoiceBatch, item: Item) -> WebhookOutcome | None:
    """``connector.webhooks.handlers.apply_state`` on a held invoice; None: the item must go
    row by row (a new invoice, a payment plan, an amount due going up: rare moves)."""
    _, connection_id, external_id = _key(item)
    event, shop = item.event, item.shop
    assert event is not None and shop is not None
    inv = batch.get(connection_id, external_id)
    if inv is None:
        return WebhookOutcome.IGNORED if event.invoice is None else None
    if inv.plan_due_at is not None:
        return None
    carried = event.invoice
    if carried is not None:
        return _platform_state(batch, inv, shop, event)
    if inv.platform_updated_at is not None and event.occurred_at < inv.platform_updated_at:
        return WebhookOutcome.IGNORED  # late delivery of an older state
    target = target_state(inv.currency, inv.amount_due_minor, event)
    if target is None:
        return WebhookOutcome.IGNORED
    status, amount_due = target
    inv.platform_updated_at = event.occurred_at
    batch.set_state(
        inv,
        status=status,
        amount_due_minor=amount_due,
        source=PaymentSource.WEBHOOK,
        payment_external_id=event.payment_external_id or f"webhook:{event.dedupe_key}",
        received_at=event.occurred_at,
    )
    return WebhookOutcome.APPLIED


def _platform_state(
    batch: InvoiceBatch, inv: HeldInvoice, shop: Shop, event: NormalizedEvent
) -> WebhookOutcome | None:
    """``connector.ledger.apply_platform_state`` (source: webhook) on a held invoice."""
    item = event.invoice
    assert item is not None
    move = batch.apply_platform_state(
        inv,
        shop,
        invoice_row(item),
        source=PaymentSource.WEBHOOK,
        payment_external_id=event.payment_external_id,
    )
    return _OUTCOME_OF[move]


_OUTCOME_OF: dict[PlatformMove, WebhookOutcome | None] = {
    PlatformMove.STALE: WebhookOutcome.IGNORED,
    PlatformMove.ROW_BY_ROW: None,  # the row-by-row ledger counts the owner's payments
    PlatformMove.UNCHANGED: WebhookOutcome.APPLIED,
    PlatformMove.UPDATED: WebhookOutcome.APPLIED,
    PlatformMove.CLOSED: WebhookOutcome.APPLIED,
}
