"""Everything the store holds about one invoice, read once, in plain values.

Every query names the shop: an invoice id from another shop finds nothing (NotInShop). The
chronology is built from the primary rows (messages as sent, letters, payments, webhooks) plus
the timeline entries that have no primary row of their own (opened, clicked, bounced, paused…).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.domain.dates import local_date
from connector.domain.money import Money
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    LetterDocument,
    Message,
    MessageKind,
    Payment,
    Reminder,
    ReminderState,
    Shop,
    Step,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
)


class NotInShop(LookupError):
    """No such invoice in this shop (another shop's id included)."""


class EventKind(StrEnum):
    ISSUED = "issued"
    DUE = "due"
    MESSAGE = "message"
    REMINDER = "reminder"  # a step that did not go out (skipped, cancelled, failed…)
    DELIVERY = "delivery"  # opened, clicked, bounced
    LETTER = "letter"
    POSTED = "posted"
    PAYMENT = "payment"
    WEBHOOK = "webhook"
    STATUS = "status"  # paused, resumed, escalated, status changed…


# Timeline kinds told by a primary row of their own (message, letter, payment): not repeated.
_TOLD_ELSEWHERE = frozenset(
    {
        TimelineKind.REMINDER_SENT,
        TimelineKind.REMINDER_SKIPPED,
        TimelineKind.REMINDER_CANCELLED,
        TimelineKind.REMINDER_FAILED,
        TimelineKind.REMINDER_UNKNOWN,
        TimelineKind.REMINDER_HANDED_OFF,
        TimelineKind.THANK_YOU_SENT,
        TimelineKind.LETTER_READY,
        TimelineKind.LETTER_POSTED,
    }
)
# Reminder states whose message reached (or may have reached) the customer.
_WENT_OUT = frozenset({ReminderState.SENT, ReminderState.UNKNOWN})
_DELIVERY = frozenset({TimelineKind.OPENED, TimelineKind.CLICKED, TimelineKind.BOUNCED})


@dataclass(frozen=True, slots=True)
class Event:
    """One dated fact of the chronology."""

    at: datetime
    kind: EventKind
    title: str
    lines: tuple[str, ...] = ()
    step: str | None = None
    channel: Channel | None = None
    amount: Money | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    """An email as it went out (the raw evidence the zip carries)."""

    id: int
    step: str
    channel: Channel
    sent_at: datetime | None
    recipient: str | None
    subject: str | None
    body_text: str | None
    body_html: str | None
    provider_message_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class Letter:
    id: int
    step: str | None
    filename: str
    content: bytes
    created_at: datetime
    posted_on: date | None
    tracking: str | None


@dataclass(frozen=True, slots=True)
class RawWebhook:
    id: int
    platform: str
    topic: str
    dedupe_key: str
    received_at: datetime
    outcome: str
    raw_body: bytes


@dataclass(frozen=True, slots=True)
class FormalNotice:
    """The formal notice of this invoice as it went out: what opens the injonction pack."""

    step: str
    sent_at: datetime | None
    deadline_on: date | None
    letter_posted_on: date | None
    tracking: str | None


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    shop: Shop
    customer: Customer
    invoice: Invoice
    payments: tuple[Payment, ...]
    messages: tuple[SentMessage, ...]
    letters: tuple[Letter, ...]
    webhooks: tuple[RawWebhook, ...]
    events: tuple[Event, ...]
    formal_notice: FormalNotice | None = None
    paid: Money = field(default_factory=lambda: Money.zero("EUR"))

    @property
    def due_on(self) -> date:
        return local_date(self.invoice.due_at, self.shop.timezone)

    @property
    def issued_on(self) -> date:
        return local_date(self.invoice.issued_at, self.shop.timezone)


def is_formal_notice(step: Step) -> bool:
    """The step's row says it is the formal notice: the letter is the message itself and it
    announces a new deadline (the final warning sends a letter too, but as an email's copy)."""
    return (
        step.channel is Channel.LETTER and step.sends_letter and step.new_deadline_days is not None
    )


def find_invoice(session: Session, shop_id: int, invoice_id: int) -> Invoice:
    invoice = session.scalar(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.shop_id == shop_id)
    )
    if invoice is None:
        raise NotInShop(f"no invoice {invoice_id} in shop {shop_id}")
    return invoice


def find_invoice_by_number(session: Session, shop_id: int, number: str) -> Invoice:
    invoice = session.scalar(
        select(Invoice)
        .where(Invoice.shop_id == shop_id, Invoice.number == number)
        .order_by(Invoice.id)
        .limit(1)
    )
    if invoice is None:
        raise NotInShop(f"no invoice {number!r} in shop {shop_id}")
    return invoice


def gather(session: Session, shop_id: int, invoice_id: int) -> InvoiceRecord:
    """The invoice's whole record; NotInShop when the shop has no such invoice."""
    invoice = find_invoice(session, shop_id, invoice_id)
    shop = session.get(Shop, shop_id)
    customer = session.scalar(
        select(Customer).where(Customer.id == invoice.customer_id, Customer.shop_id == shop_id)
    )
    assert shop is not None and customer is not None
    reminders: list[tuple[Reminder, Step, Message | None]] = [
        (rem, step, msg)
        for rem, step, msg in session.execute(
            select(Reminder, Step, Message)
            .join(Step, Step.id == Reminder.step_id)
            .outerjoin(Message, Message.id == Reminder.message_id)
            .where(Reminder.invoice_id == invoice.id, Reminder.shop_id == shop_id)
            .order_by(Reminder.id)
        )
    ]
    thanks = session.scalars(
        select(Message).where(
            Message.shop_id == shop_id,
            Message.invoice_id == invoice.id,
            Message.kind == MessageKind.THANK_YOU,
        )
    ).all()
    payments = tuple(
        session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice.id, Payment.shop_id == shop_id)
            .order_by(Payment.received_at, Payment.id)
        )
    )
    letter_rows = list(
        session.scalars(
            select(LetterDocument)
            .where(LetterDocument.invoice_id == invoice.id, LetterDocument.shop_id == shop_id)
            .order_by(LetterDocument.created_at, LetterDocument.id)
        )
    )
    hooks = session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.shop_id == shop_id,
            WebhookEvent.connection_id == invoice.connection_id,
            or_(
                WebhookEvent.invoice_ref == invoice.external_id,
                WebhookEvent.invoice_ref == invoice.number,
            ),
        )
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
    ).all()
    timeline = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.invoice_id == invoice.id, TimelineEntry.shop_id == shop_id)
        .order_by(TimelineEntry.at, TimelineEntry.id)
    ).all()

    step_of_letter = {rem.letter_id: rem.step_key for rem, _, _ in reminders if rem.letter_id}
    letters = tuple(
        Letter(
            id=row.id,
            step=step_of_letter.get(row.id) or _replaced_step(row, letter_rows, step_of_letter),
            filename=row.filename,
            content=row.content,
            created_at=row.created_at,
            posted_on=row.posted_on,
            tracking=row.tracking,
        )
        for row in letter_rows
    )
    messages = tuple(
        _sent(rem, msg) for rem, _, msg in reminders if rem.state in _WENT_OUT
    ) + tuple(_thank_you(msg) for msg in thanks)
    events: list[Event] = [
        Event(invoice.issued_at, EventKind.ISSUED, f"Invoice {invoice.number} issued"),
        Event(invoice.due_at, EventKind.DUE, f"Invoice {invoice.number} falls due"),
    ]
    events += [_message_event(m) for m in messages if m.sent_at is not None]
    events += [
        _unsent_event(rem)
        for rem, _, _ in reminders
        if rem.state not in _WENT_OUT and rem.state is not ReminderState.CLAIMED
    ]
    events += [_letter_event(letter) for letter in letters]
    events += [_posted_event(letter, shop.timezone) for letter in letters if letter.posted_on]
    events += [
        Event(
            p.received_at,
            EventKind.PAYMENT,
            f"Payment received: {Money.from_minor(p.amount_minor, p.currency)}",
            (f"source: {p.source.value}", f"reference: {p.external_id}"),
            amount=Money.from_minor(p.amount_minor, p.currency),
        )
        for p in payments
    ]
    events += [
        Event(
            h.received_at,
            EventKind.WEBHOOK,
            f"Webhook received: {h.platform} {h.topic}",
            (f"delivery id: {h.dedupe_key}", f"outcome: {h.outcome}"),
        )
        for h in hooks
    ]
    events += [
        Event(
            t.at,
            EventKind.DELIVERY if t.kind in _DELIVERY else EventKind.STATUS,
            t.summary,
            (f"event: {t.kind.value}",),
        )
        for t in timeline
        if t.kind not in _TOLD_ELSEWHERE
    ]
    events.sort(key=lambda e: (e.at, list(EventKind).index(e.kind)))
    paid = Money.zero(invoice.currency)
    for p in payments:
        if p.currency == invoice.currency:
            paid = paid + Money.from_minor(p.amount_minor, p.currency)
    return InvoiceRecord(
        shop=shop,
        customer=customer,
        invoice=invoice,
        payments=payments,
        messages=messages,
        letters=letters,
        webhooks=tuple(
            RawWebhook(
                h.id, h.platform, h.topic, h.dedupe_key, h.received_at, h.outcome.value, h.raw_body
            )
            for h in hooks
        ),
        events=tuple(events),
        formal_notice=_formal_notice(reminders, letters),
        paid=paid,
    )


def _replaced_step(
    row: LetterDocument, rows: list[LetterDocument], step_of: dict[int, str]
) -> str | None:
    """A letter replaced by its dated version: the step of the version that replaced it."""
    newer = {r.replaces_id: r.id for r in rows if r.replaces_id}
    current: int | None = row.id
    seen = 0
    while current in newer and seen < len(rows):
        current = newer[current]
        seen += 1
        if current in step_of:
            return step_of[current]
    return None


def _sent(rem: Reminder, msg: Message | None) -> SentMessage:
    return SentMessage(
        id=msg.id if msg else rem.id,
        step=rem.step_key,
        channel=rem.channel,
        sent_at=rem.sent_at or (msg.sent_at if msg else None),
        recipient=rem.recipient or (msg.recipient if msg else None),
        subject=rem.subject or (msg.subject if msg else None),
        body_text=(msg.body_text if msg else None) or rem.body_text,
        body_html=msg.body_html if msg else None,
        provider_message_id=rem.provider_message_id or (msg.provider_message_id if msg else None),
        state=rem.state.value,
    )


def _thank_you(msg: Message) -> SentMessage:
    return SentMessage(
        id=msg.id,
        step="thank_you",
        channel=msg.channel,
        sent_at=msg.sent_at,
        recipient=msg.recipient,
        subject=msg.subject,
        body_text=msg.body_text,
        body_html=msg.body_html,
        provider_message_id=msg.provider_message_id,
        state=msg.state.value,
    )


def _message_event(m: SentMessage) -> Event:
    assert m.sent_at is not None
    lines = [f"to: {m.recipient or '—'}", f"subject: {m.subject or '—'}"]
    lines.append(f"provider id: {m.provider_message_id or '—'}")
    if m.state != ReminderState.SENT.value:
        lines.append(f"state: {m.state}")
    what = "Letter sent" if m.channel is Channel.LETTER else "Message sent"
    return Event(m.sent_at, EventKind.MESSAGE, f"{what}: {m.step}", tuple(lines), m.step, m.channel)


def _unsent_event(rem: Reminder) -> Event:
    at = rem.updated_at or rem.created_at
    lines = (f"reason: {rem.reason}",) if rem.reason else ()
    title = f"Step {rem.step_key}: {rem.state.value}"
    return Event(at, EventKind.REMINDER, title, lines, rem.step_key, rem.channel)


def _letter_event(letter: Letter) -> Event:
    what = f"Letter made: {letter.step or 'letter'}" if not letter.posted_on else "Letter dated"
    return Event(letter.created_at, EventKind.LETTER, what, (f"file: {letter.filename}",))


def _posted_event(letter: Letter, timezone: str) -> Event:
    assert letter.posted_on is not None
    lines = [f"posted on: {letter.posted_on.isoformat()}"]
    lines.append(f"tracking number: {letter.tracking or '—'}")
    # At the moment the owner recorded it (the dated version of the letter was made then).
    return Event(letter.created_at, EventKind.POSTED, "Proof of dispatch recorded", tuple(lines))


def _formal_notice(
    reminders: list[tuple[Reminder, Step, Message | None]], letters: tuple[Letter, ...]
) -> FormalNotice | None:
    by_id = {letter.id: letter for letter in letters}
    for rem, step, _ in reminders:
        if rem.state is ReminderState.SENT and is_formal_notice(step):
            letter = by_id.get(rem.letter_id) if rem.letter_id else None
            return FormalNotice(
                step=rem.step_key,
                sent_at=rem.sent_at,
                deadline_on=rem.deadline_on,
                letter_posted_on=letter.posted_on if letter else None,
                tracking=letter.tracking if letter else None,
            )
    return None
