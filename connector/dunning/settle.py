"""A Message row around its mail call, shared by the reminder deliverer and the thank-you
sender: marked SENDING with the rendered evidence and turned into the mail to send; then what
the call's result does to it (its final state and evidence, and the owner's task when it did
not go out — UNKNOWN: never resent automatically, so a person must check)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from connector.dunning.rendering import RenderedMessage
from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail
from connector.store.models import Customer, Message, MessageState, Shop, TaskKind
from connector.tasks import open_task


def sending_values(
    msg: Message, customer: Customer, rendered: RenderedMessage, lease_until: datetime
) -> dict[str, Any]:
    """What marking ``msg`` SENDING writes to its row (the batch writes it with Core)."""
    return {
        "state": MessageState.SENDING,
        "lease_until": lease_until,
        "attempts": msg.attempts + 1,
        "recipient": customer.email,
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
    }


def mark_sending(
    msg: Message, customer: Customer, rendered: RenderedMessage, lease_until: datetime
) -> None:
    """From here a crash leaves the outcome unknown: the row holds what is about to go out."""
    for key, value in sending_values(msg, customer, rendered, lease_until).items():
        setattr(msg, key, value)


def outgoing_mail(
    msg: Message,
    shop: Shop,
    customer: Customer,
    rendered: RenderedMessage,
    *,
    step: str,
    invoice_numbers: tuple[str, ...],
    reminder_ids: tuple[int, ...] = (),
) -> OutgoingMail:
    """The mail for a message marked SENDING, in the shop's name, replies to its contact."""
    assert customer.email is not None  # an unreachable customer is never marked SENDING
    return OutgoingMail(
        message_id=msg.id,
        to_email=customer.email,
        to_name=customer.name,
        from_email=shop.sender_email or shop.owner_email,
        from_name=shop.sender_name or shop.name,
        reply_to=shop.contact_email or shop.owner_email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        step=step,
        invoice_numbers=invoice_numbers,
        reminder_ids=reminder_ids,
    )


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
