"""What a mail call's result does to its Message row, shared by the reminder deliverer and the
thank-you sender: the row's final state and evidence, and the owner's task when it did not go
out (UNKNOWN: never resent automatically, so a person must check)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from connector.mail.base import DeliveryOutcome, DeliveryResult
from connector.store.models import Message, MessageState, TaskKind
from connector.tasks import open_task


def settle_message(
    msg: Message, state: MessageState, result: DeliveryResult, now: datetime
) -> None:
    msg.state = state
    msg.lease_until = None
    msg.provider_message_id = result.provider_message_id
    msg.last_error = result.error
    msg.attempts = max(msg.attempts, result.attempts)
    if result.outcome is DeliveryOutcome.SENT:
        msg.sent_at = now


def open_outcome_task(
    s: Session,
    msg: Message,
    result: DeliveryResult,
    title: str,
    *,
    invoice_id: int | None = None,
) -> None:
    """The owner's task for a message that was not SENT (one per message and cause)."""
    if result.outcome is DeliveryOutcome.SENT:
        return
    kind = (
        TaskKind.UNKNOWN_OUTCOME
        if result.outcome is DeliveryOutcome.UNKNOWN
        else TaskKind.SEND_FAILED
    )
    open_task(
        s,
        shop_id=msg.shop_id,
        invoice_id=invoice_id,
        customer_id=msg.customer_id,
        kind=kind,
        title=title,
        detail=result.error,
        dedupe_key=f"{kind.value}:message:{msg.id}",
    )
