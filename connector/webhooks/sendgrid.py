"""SendGrid's signed Event Webhook: ECDSA (P-256, SHA-256) over ``timestamp + raw body``,
checked with the sendgrid library's own helper; then each event, deduplicated by
``sg_event_id``, attached to the message and reminders through our ``custom_args``
(``relance_message_id``, see connector.mail.sendgrid.build_payload). A thank-you message has
no reminders: its events reach its own invoice.

There is no timestamp tolerance: SendGrid documents none, and a replay changes nothing
since every event is stored under its unique ``sg_event_id``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connector.ledger import add_timeline
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageKind,
    Reminder,
    TaskKind,
    TimelineKind,
    WebhookOutcome,
)
from connector.tasks import open_task

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class SendGridParseError(ValueError):
    """A verified body that is not an Event Webhook batch (answered 400)."""


@lru_cache(maxsize=4)
def _verifier(public_key: str) -> tuple[EventWebhook, ec.EllipticCurvePublicKey]:
    hook = EventWebhook()
    key = hook.convert_public_key_to_ecdsa(public_key.strip())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("SendGrid webhook key is not an elliptic-curve public key")
    return hook, key


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify(public_key: str, headers: Mapping[str, str], raw_body: bytes) -> bool:
    """False on any failure (missing header, bad base64, not UTF-8, bad signature)."""
    signature = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp:
        return False
    try:
        hook, key = _verifier(public_key)
        payload = raw_body.decode("utf-8")
        base64.b64decode(signature, validate=True)
        return bool(hook.verify_signature(payload, signature, timestamp, key))
    except (ValueError, UnicodeDecodeError, binascii.Error, TypeError):
        return False


@dataclass(frozen=True, slots=True)
class SendGridEvent:
    sg_event_id: str
    event: str
    email: str | None
    occurred_at: datetime
    message_id: int | None  # our Message.id, from custom_args.relance_message_id
    raw: dict[str, Any]

    def body(self) -> bytes:
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":")).encode()


def parse_batch(raw_body: bytes) -> list[SendGridEvent]:
    try:
        data = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SendGridParseError(f"SendGrid batch is not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise SendGridParseError("SendGrid batch is not a JSON array")
    return [parse_event(item) for item in data]


def parse_event(item: Any) -> SendGridEvent:
    if not isinstance(item, dict):
        raise SendGridParseError("SendGrid event is not an object")
    sg_event_id, kind = item.get("sg_event_id"), item.get("event")
    if not isinstance(sg_event_id, str) or not sg_event_id or not isinstance(kind, str):
        raise SendGridParseError("SendGrid event without sg_event_id or event")
    ts = item.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise SendGridParseError(f"SendGrid event {sg_event_id}: no timestamp")
    raw_mid = item.get("relance_message_id")
    message_id = int(raw_mid) if isinstance(raw_mid, str | int) and str(raw_mid).isdigit() else None
    email = item.get("email")
    return SendGridEvent(
        sg_event_id=sg_event_id,
        event=kind,
        email=email if isinstance(email, str) else None,
        occurred_at=datetime.fromtimestamp(ts, UTC),
        message_id=message_id,
        raw=item,
    )


# -- apply -------------------------------------------------------------------------------------


@dataclass(slots=True)
class MailContext:
    session: Session
    message: Message
    invoices: list[Invoice]
    reminder_ids: dict[int, int]  # invoice id → reminder id
    now: datetime


SendGridHandler = Callable[[MailContext, SendGridEvent], WebhookOutcome]


def _timeline(kind: TimelineKind, label: str) -> SendGridHandler:
    def handle(ctx: MailContext, ev: SendGridEvent) -> WebhookOutcome:
        what = "thank-you" if ctx.message.kind is MessageKind.THANK_YOU else "reminder"
        data: dict[str, object] = {"sg_event_id": ev.sg_event_id}
        if isinstance(ev.raw.get("url"), str):
            data["url"] = ev.raw["url"]
        for inv in ctx.invoices:
            add_timeline(
                ctx.session,
                inv,
                ev.occurred_at,
                kind,
                label.format(what=what),
                reminder_id=ctx.reminder_ids.get(inv.id),
                data=data,
            )
        return WebhookOutcome.APPLIED

    return handle


def _block(reason: str, *, timeline: bool) -> SendGridHandler:
    """Stop email to that address (every customer of the shop using it) and tell the owner."""

    def handle(ctx: MailContext, ev: SendGridEvent) -> WebhookOutcome:
        msg = ctx.message
        detail = str(ev.raw.get("reason") or ev.raw.get("response") or reason)
        address = (ev.email or msg.recipient or "").strip().lower()
        conditions = [Customer.id == msg.customer_id]
        if address:
            conditions.append(func.lower(Customer.email) == address)
        for cond in conditions:
            ctx.session.execute(
                update(Customer)
                .where(
                    Customer.shop_id == msg.shop_id,
                    cond,
                    Customer.email_blocked_reason.is_(None),
                )
                .values(email_blocked_reason=f"{ev.event}: {detail}"[:255], updated_at=ctx.now)
            )
        if timeline:
            for inv in ctx.invoices:
                add_timeline(
                    ctx.session,
                    inv,
                    ev.occurred_at,
                    TimelineKind.BOUNCED,
                    f"{ev.event}: {detail}",
                    reminder_id=ctx.reminder_ids.get(inv.id),
                    data={"sg_event_id": ev.sg_event_id},
                )
        open_task(
            ctx.session,
            shop_id=msg.shop_id,
            kind=TaskKind.BOUNCE,
            title=f"Email stopped ({reason}): check the customer's address",
            detail=detail,
            customer_id=msg.customer_id,
            invoice_id=ctx.invoices[0].id if ctx.invoices else None,
            dedupe_key=f"email_blocked:{msg.customer_id}",
        )
        return WebhookOutcome.APPLIED

    return handle


def _delivered(ctx: MailContext, ev: SendGridEvent) -> WebhookOutcome:
    return WebhookOutcome.APPLIED  # stored: proof of delivery; nothing to change


HANDLERS: dict[str, SendGridHandler] = {
    "delivered": _delivered,
    "open": _timeline(TimelineKind.OPENED, "{what} opened"),
    "click": _timeline(TimelineKind.CLICKED, "link clicked"),
    "bounce": _block("bounced", timeline=True),
    "dropped": _block("dropped", timeline=True),
    "spamreport": _block("reported as spam", timeline=False),
    "unsubscribe": _block("unsubscribed", timeline=False),
}


def apply_event(
    session: Session, ev: SendGridEvent, now: datetime
) -> tuple[WebhookOutcome, int | None]:
    """Returns the outcome and the shop the event belongs to (None: not one of our messages)."""
    handler = HANDLERS.get(ev.event)
    if ev.message_id is None:
        return WebhookOutcome.IGNORED, None
    message = session.get(Message, ev.message_id)
    if message is None:
        return WebhookOutcome.IGNORED, None
    if handler is None:
        return WebhookOutcome.IGNORED, message.shop_id
    if message.kind is MessageKind.THANK_YOU:
        # A thank-you carries no reminder: its events go to its own invoice only.
        reminder_ids: dict[int, int] = {}
        invoice_ids = [message.invoice_id] if message.invoice_id is not None else []
    else:
        reminders = session.execute(
            select(Reminder.invoice_id, Reminder.id).where(
                Reminder.message_id == message.id, Reminder.shop_id == message.shop_id
            )
        ).all()
        reminder_ids = {inv_id: rem_id for inv_id, rem_id in reminders}
        invoice_ids = list(reminder_ids)
    invoices = list(
        session.scalars(
            select(Invoice)
            .where(Invoice.shop_id == message.shop_id, Invoice.id.in_(invoice_ids))
            .order_by(Invoice.id)
        )
    )
    ctx = MailContext(session, message, invoices, reminder_ids, now)
    return handler(ctx, ev), message.shop_id
