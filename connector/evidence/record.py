"""Everything the store holds about one invoice, read once, in plain values.

Every query names the shop: an invoice id from another shop finds nothing (NotInShop). The
chronology is the invoice's timeline (connector.actions.timeline), the one the invoice page
shows; the raw rows (messages as sent, letters' PDFs, webhook bodies) are read for the zip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.actions.timeline import (
    InvoiceNotFound,
    TimelineEntry,
    invoice_timeline,
    shown_state,
)
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
    WebhookEvent,
)


class NotInShop(InvoiceNotFound):
    """No such invoice in this shop (another shop's id included)."""


# Reminder states whose message reached (or may have reached) the customer.
_WENT_OUT = frozenset({ReminderState.SENT, ReminderState.UNKNOWN})


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
    """The formal notice of this invoice as it was made: what opens the injonction pack once
    its letter is posted (``letter_posted_on``; its deadline runs from the posting)."""

    step: str
    sent_at: datetime | None
    deadline_on: date | None
    letter_posted_on: date | None
    tracking: str | None
    letter_id: int | None = None
    letter_filename: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceRecord:
    shop: Shop
    customer: Customer
    invoice: Invoice
    payments: tuple[Payment, ...]
    messages: tuple[SentMessage, ...]
    letters: tuple[Letter, ...]
    webhooks: tuple[RawWebhook, ...]
    events: tuple[TimelineEntry, ...]  # the invoice's timeline, oldest first
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
    posted_on = {letter.id: letter.posted_on for letter in letters}
    messages = tuple(
        _sent(rem, msg, posted_on.get(rem.letter_id) if rem.letter_id else None)
        for rem, _, msg in reminders
        if rem.state in _WENT_OUT
    ) + tuple(_thank_you(msg) for msg in thanks)
    events = invoice_timeline(session, shop_id, invoice.id)
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


def _sent(rem: Reminder, msg: Message | None, letter_posted_on: date | None) -> SentMessage:
    """The message as it went out; a letter's state says whether its posting is recorded."""
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
        state=shown_state(rem.channel, rem.state, letter_posted_on),
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
                letter_id=letter.id if letter else None,
                letter_filename=letter.filename if letter else None,
            )
    return None
