"""An invoice's timeline: everything that happened to it, in order, read from where each fact
lives (reminders and messages as sent, letters, payments, webhooks, the owner's actions, the
engine's log) — one list the invoice page, the CLI and the evidence dossier share.

Entries are plain values: they outlive the session that read them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.actions.errors import NotFound
from connector.domain.phrases import EN, Phrase, say, translate
from connector.store.models import (
    Channel,
    Invoice,
    InvoiceEvent,
    LetterDocument,
    Message,
    MessageKind,
    OwnerAction,
    Payment,
    Reminder,
    ReminderState,
    WebhookEvent,
)
from connector.store.models import (
    TimelineEntry as StoredEntry,
)
from connector.store.models import (
    TimelineKind as StoredKind,
)
from connector.webhooks.store import SENDGRID_SCOPE

OWNER_PAYMENT_PREFIX = "owner-event:"
"""How a payment the owner recorded names its InvoiceEvent (``Payment.external_id``): the
timeline shows it once, as the payment, with who recorded it."""

DELIVERY_LOOKAHEAD = timedelta(days=7)  # SendGrid reports delivery within minutes, at worst days


class InvoiceNotFound(NotFound):
    """No such invoice in this shop (another shop's invoice included)."""


class TimelineKind(StrEnum):
    MESSAGE = "message"  # an email to the customer (reminder or thank-you), in any state
    LETTER = "letter"  # a letter made, dated, posted
    DELIVERY = "delivery"  # what the mail provider reported: delivered, opened, clicked, bounced
    PAYMENT = "payment"
    WEBHOOK = "webhook"  # a platform delivery received for this invoice
    STATUS = "status"  # the invoice's status changed
    SYNC = "sync"  # first seen (sync or import)
    SKIPPED = "skipped"  # a step that never went out, with why
    CANCELLED = "cancelled"  # a step stopped before it went out, with why
    PAUSE = "pause"
    RESUME = "resume"
    DISPUTE = "dispute"
    PLAN = "plan"
    HANDOFF = "handoff"  # given to a person
    NOTE = "note"
    ACTION = "action"  # any other owner action


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime  # tz-aware UTC
    kind: TimelineKind
    title: str  # in English, as stored or as ``phrase`` says it
    detail: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None  # who did it, for the owner's actions; None: the system
    phrase: Phrase | None = None  # None: ``title`` is a stored sentence
    values: Mapping[str, object] = field(default_factory=dict)

    def said(self, locale: str | None) -> str:
        """The title in the shop's language (connector.domain.phrases)."""
        if self.phrase is None:
            return translate(self.title, locale)
        return say(self.phrase, self.values, locale)


def _entry(
    at: datetime,
    kind: TimelineKind,
    phrase: Phrase,
    values: Mapping[str, object],
    detail: Mapping[str, Any],
) -> TimelineEntry:
    """An entry whose title the timeline says itself (in English here, any language later)."""
    return TimelineEntry(at, kind, say(phrase, values), detail, phrase=phrase, values=values)


def find_invoice(session: Session, shop_id: int, invoice_id: int) -> Invoice:
    """The shop's invoice, or InvoiceNotFound (another shop's id is not found either)."""
    inv = session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.shop_id == shop_id)
    )
    if inv is None:
        raise InvoiceNotFound(f"no invoice {invoice_id} in this shop")
    return inv


def invoice_timeline(session: Session, shop_id: int, invoice_id: int) -> list[TimelineEntry]:
    """Every event of one of the shop's invoices, oldest first (InvoiceNotFound otherwise)."""
    inv = find_invoice(session, shop_id, invoice_id)
    entries: list[tuple[datetime, int, int, TimelineEntry]] = []
    for rank, source in enumerate(_SOURCES):
        for n, entry in enumerate(source(session, inv)):
            entries.append((entry.at, rank, n, entry))
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    return [e[3] for e in entries]


# -- sources -----------------------------------------------------------------------------------

_STORED: dict[StoredKind, TimelineKind] = {
    StoredKind.SYNCED: TimelineKind.SYNC,
    StoredKind.IMPORTED: TimelineKind.SYNC,
    StoredKind.STATUS_CHANGED: TimelineKind.STATUS,
    StoredKind.PAID: TimelineKind.STATUS,
    StoredKind.PAUSED: TimelineKind.PAUSE,
    StoredKind.RESUMED: TimelineKind.RESUME,
    StoredKind.ESCALATED: TimelineKind.HANDOFF,
    StoredKind.PRESCRIBED: TimelineKind.NOTE,
    StoredKind.OPENED: TimelineKind.DELIVERY,
    StoredKind.CLICKED: TimelineKind.DELIVERY,
    StoredKind.BOUNCED: TimelineKind.DELIVERY,
    StoredKind.STATEMENT_SENT: TimelineKind.MESSAGE,
}
"""The engine's log entries worth showing as they are. The reminder, thank-you and letter
entries are not: their rows below say more (what was sent, to whom, why it was not)."""


def _stored(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.scalars(
        select(StoredEntry)
        .where(
            StoredEntry.invoice_id == inv.id,
            StoredEntry.shop_id == inv.shop_id,
            StoredEntry.kind.in_(list(_STORED)),
        )
        .order_by(StoredEntry.at, StoredEntry.id)
    )
    out = []
    for row in rows:
        kind = _STORED[row.kind]
        data = dict(row.data or {})
        if kind is TimelineKind.PAUSE and data.get("topic") and "dispute" in row.summary:
            kind = TimelineKind.DISPUTE
        out.append(
            TimelineEntry(row.at, kind, row.summary, {"event": row.kind.value, **data}, actor=None)
        )
    return out


_REMINDER_KIND: dict[ReminderState, TimelineKind] = {
    ReminderState.CLAIMED: TimelineKind.MESSAGE,
    ReminderState.SENDING: TimelineKind.MESSAGE,
    ReminderState.SENT: TimelineKind.MESSAGE,
    ReminderState.FAILED: TimelineKind.MESSAGE,
    ReminderState.UNKNOWN: TimelineKind.MESSAGE,
    ReminderState.SKIPPED: TimelineKind.SKIPPED,
    ReminderState.CANCELLED: TimelineKind.CANCELLED,
    ReminderState.HANDED_OFF: TimelineKind.HANDOFF,
}

_REMINDER_TITLE: dict[ReminderState, Phrase] = {
    ReminderState.CLAIMED: Phrase.REMINDER_CLAIMED,
    ReminderState.SENDING: Phrase.REMINDER_SENDING,
    ReminderState.SENT: Phrase.REMINDER_SENT,
    ReminderState.FAILED: Phrase.REMINDER_FAILED,
    ReminderState.UNKNOWN: Phrase.REMINDER_UNKNOWN,
    ReminderState.SKIPPED: Phrase.REMINDER_SKIPPED,
    ReminderState.CANCELLED: Phrase.REMINDER_CANCELLED,
    ReminderState.HANDED_OFF: Phrase.REMINDER_HANDED_OFF,
}


LETTER_MADE = "letter_made"
LETTER_POSTED = "letter_posted"
"""What a letter's reminder is, said instead of "sent": the engine marks it sent once the
letter is made, but nothing reached the customer until the owner records the posting."""


def shown_state(channel: Channel, state: ReminderState, posted_on: date | None) -> str:
    """A reminder's state as every surface shows it: a letter made but not posted is
    ``letter_made`` (never "sent"), a posted one ``letter_posted``; others their state."""
    if channel is Channel.EMAIL or state is not ReminderState.SENT:
        return state.value
    return LETTER_POSTED if posted_on is not None else LETTER_MADE


@dataclass(frozen=True, slots=True)
class ReminderLine:
    """One reminder of an invoice as the CLI lists it (state as :func:`shown_state` says)."""

    step: str
    state: str
    due_on: date
    sent_at: datetime | None
    reason: str | None
    subject: str | None


def invoice_reminders(session: Session, shop_id: int, invoice_id: int) -> list[ReminderLine]:
    """The invoice's reminders in order, a letter's state read from its posting."""
    rows = session.execute(
        select(Reminder, LetterDocument.posted_on)
        .outerjoin(LetterDocument, LetterDocument.id == Reminder.letter_id)
        .where(Reminder.invoice_id == invoice_id, Reminder.shop_id == shop_id)
        .order_by(Reminder.id)
    ).all()
    return [
        ReminderLine(
            rem.step_key,
            shown_state(rem.channel, rem.state, posted_on),
            rem.due_on,
            rem.sent_at,
            rem.reason,
            rem.subject,
        )
        for rem, posted_on in rows
    ]


def _reminders(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.execute(
        select(Reminder, Message, LetterDocument.posted_on)
        .outerjoin(Message, Message.id == Reminder.message_id)
        .outerjoin(LetterDocument, LetterDocument.id == Reminder.letter_id)
        .where(Reminder.invoice_id == inv.id, Reminder.shop_id == inv.shop_id)
        .order_by(Reminder.id)
    ).all()
    out = []
    for rem, msg, posted_on in rows:
        letter = rem.channel is not Channel.EMAIL and rem.state is ReminderState.SENT
        kind = TimelineKind.LETTER if letter else _REMINDER_KIND[rem.state]
        at = rem.sent_at if rem.state is ReminderState.SENT and rem.sent_at else rem.updated_at
        if rem.state in (ReminderState.CLAIMED, ReminderState.SENDING):
            at = rem.created_at
        recipient = rem.recipient or (msg.recipient if msg is not None else None)
        if letter:
            phrase = Phrase.LETTER_MADE if posted_on else Phrase.LETTER_MADE_UNPOSTED
        else:
            phrase = _REMINDER_TITLE[rem.state]
        values = {
            "step": rem.step_key,
            "to": recipient or "—",
            "reason": rem.reason or EN[Phrase.NO_REASON],
        }
        detail: dict[str, Any] = {
            "reminder_id": rem.id,
            "step": rem.step_key,
            "channel": rem.channel.value,
            "state": shown_state(rem.channel, rem.state, posted_on),
            "reason": rem.reason,
            "due_on": rem.due_on.isoformat(),
            "recipient": recipient,
            "subject": rem.subject or (msg.subject if msg is not None else None),
            "text": rem.body_text or (msg.body_text if msg is not None else None),
            "html": msg.body_html if msg is not None else None,
            "provider_message_id": rem.provider_message_id
            or (msg.provider_message_id if msg is not None else None),
            "message_id": rem.message_id,
            "letter_id": rem.letter_id,
            "amount_due_minor": rem.amount_due_minor,
            "currency": inv.currency,
            "deadline_on": rem.deadline_on.isoformat() if rem.deadline_on else None,
        }
        out.append(_entry(at, kind, phrase, values, detail))
    return out


def _thank_yous(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.scalars(
        select(Message).where(
            Message.invoice_id == inv.id,
            Message.shop_id == inv.shop_id,
            Message.kind == MessageKind.THANK_YOU,
        )
    )
    return [
        _entry(
            msg.sent_at or msg.updated_at,
            TimelineKind.MESSAGE,
            Phrase.THANK_YOU_TO if msg.recipient else Phrase.THANK_YOU,
            {"state": msg.state.value, "to": msg.recipient},
            {
                "message_id": msg.id,
                "step": "thank_you",
                "channel": msg.channel.value,
                "state": msg.state.value,
                "reason": msg.last_error,
                "recipient": msg.recipient,
                "subject": msg.subject,
                "text": msg.body_text,
                "html": msg.body_html,
                "provider_message_id": msg.provider_message_id,
            },
        )
        for msg in rows
    ]


def _letters(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.scalars(
        select(LetterDocument)
        .where(LetterDocument.invoice_id == inv.id, LetterDocument.shop_id == inv.shop_id)
        .order_by(LetterDocument.id)
    )
    out = []
    for letter in rows:
        if letter.posted_on is not None:
            phrase = Phrase.LETTER_POSTED_TRACKED if letter.tracking else Phrase.LETTER_POSTED
        else:
            phrase = Phrase.LETTER_READY
        values = {
            "day": letter.posted_on,
            "tracking": letter.tracking,
            "filename": letter.filename,
        }
        out.append(
            _entry(
                letter.created_at,
                TimelineKind.LETTER,
                phrase,
                values,
                {
                    "letter_id": letter.id,
                    "filename": letter.filename,
                    "posted_on": letter.posted_on.isoformat() if letter.posted_on else None,
                    "tracking": letter.tracking,
                    "replaces_id": letter.replaces_id,
                },
            )
        )
    return out


def _payments(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.scalars(
        select(Payment)
        .where(Payment.invoice_id == inv.id, Payment.shop_id == inv.shop_id)
        .order_by(Payment.received_at, Payment.id)
    )
    return [
        _entry(
            p.received_at,
            TimelineKind.PAYMENT,
            Phrase.PAYMENT_RECEIVED,
            {"source": p.source.value},
            {
                "amount_minor": p.amount_minor,
                "currency": p.currency,
                "source": p.source.value,
                "external_id": p.external_id,
            },
        )
        for p in rows
        if not p.external_id.startswith(OWNER_PAYMENT_PREFIX)  # shown as the owner's action
    ]


def _webhooks(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.shop_id == inv.shop_id,
            WebhookEvent.connection_id == inv.connection_id,
            WebhookEvent.invoice_ref == inv.external_id,
        )
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
    )
    return [
        _entry(
            ev.received_at,
            TimelineKind.WEBHOOK,
            Phrase.WEBHOOK,
            {"platform": ev.platform, "topic": ev.topic, "outcome": ev.outcome.value},
            {
                "webhook_event_id": ev.id,
                "platform": ev.platform,
                "topic": ev.topic,
                "kind": ev.kind,
                "event_id": ev.dedupe_key,
                "outcome": ev.outcome.value,
                "occurred_at": ev.occurred_at.isoformat() if ev.occurred_at else None,
                "processed_at": ev.processed_at.isoformat() if ev.processed_at else None,
            },
        )
        for ev in rows
    ]


def _deliveries(session: Session, inv: Invoice) -> list[TimelineEntry]:
    """SendGrid's "delivered" reports for this invoice's messages (opens, clicks and bounces
    are in the engine's log already). Read from the stored deliveries of the shop in the days
    after each send, matched on our message id."""
    sent = session.execute(
        select(Message.id, Message.sent_at)
        .outerjoin(Reminder, Reminder.message_id == Message.id)
        .where(
            Message.shop_id == inv.shop_id,
            Message.sent_at.is_not(None),
            or_(Reminder.invoice_id == inv.id, Message.invoice_id == inv.id),
        )
    ).all()
    if not sent:
        return []
    ids = {mid for mid, _ in sent}
    first = min(at for _, at in sent)
    last = max(at for _, at in sent) + DELIVERY_LOOKAHEAD
    rows = session.scalars(
        select(WebhookEvent).where(
            WebhookEvent.scope == SENDGRID_SCOPE,
            WebhookEvent.shop_id == inv.shop_id,
            WebhookEvent.kind == "delivered",
            WebhookEvent.occurred_at >= first - timedelta(minutes=5),
            WebhookEvent.occurred_at <= last,
        )
    )
    out = []
    for ev in rows:
        try:
            raw = json.loads(ev.raw_body or b"{}")
        except ValueError:
            continue
        mid = str(raw.get("relance_message_id", ""))
        if not mid.isdigit() or int(mid) not in ids:
            continue
        out.append(
            _entry(
                ev.occurred_at or ev.received_at,
                TimelineKind.DELIVERY,
                Phrase.DELIVERED,
                {"to": raw.get("email") or "—"},
                {"message_id": int(mid), "sg_event_id": ev.dedupe_key, "event": "delivered"},
            )
        )
    return out


_ACTION_KIND: dict[OwnerAction, TimelineKind] = {
    OwnerAction.MARK_PAID: TimelineKind.PAYMENT,
    OwnerAction.PARTIAL_PAYMENT: TimelineKind.PAYMENT,
    OwnerAction.PAUSE: TimelineKind.PAUSE,
    OwnerAction.RESUME: TimelineKind.RESUME,
    OwnerAction.DISPUTE: TimelineKind.DISPUTE,
    OwnerAction.PLAN: TimelineKind.PLAN,
    OwnerAction.PLAN_CANCEL: TimelineKind.PLAN,
    OwnerAction.SEND_NOW: TimelineKind.ACTION,
    OwnerAction.EXCLUDE_INVOICE: TimelineKind.ACTION,
    OwnerAction.INCLUDE_INVOICE: TimelineKind.ACTION,
    OwnerAction.EXCLUDE_CUSTOMER: TimelineKind.ACTION,
    OwnerAction.INCLUDE_CUSTOMER: TimelineKind.ACTION,
    OwnerAction.WRITE_OFF: TimelineKind.STATUS,
}


def _owner_actions(session: Session, inv: Invoice) -> list[TimelineEntry]:
    rows = session.scalars(
        select(InvoiceEvent)
        .where(
            InvoiceEvent.shop_id == inv.shop_id,
            or_(
                InvoiceEvent.invoice_id == inv.id,
                (InvoiceEvent.invoice_id.is_(None)) & (InvoiceEvent.customer_id == inv.customer_id),
            ),
        )
        .order_by(InvoiceEvent.at, InvoiceEvent.id)
    )
    return [
        TimelineEntry(
            ev.at,
            _ACTION_KIND[ev.action],
            str(ev.detail.get("title") or ev.action.value.replace("_", " ")),
            {"action": ev.action.value, **ev.detail},
            actor=ev.actor,
        )
        for ev in rows
    ]


_SOURCES: tuple[Callable[[Session, Invoice], list[TimelineEntry]], ...] = (
    _stored,
    _webhooks,
    _payments,
    _owner_actions,
    _reminders,
    _thank_yous,
    _letters,
    _deliveries,
)
"""In this order at equal instants: what arrived, then what it caused."""
