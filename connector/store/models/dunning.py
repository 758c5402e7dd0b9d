"""The sequence (policy → steps) and what the engine did with it (Message, Reminder).

Reminder is one row per (invoice, step), unique: the database, not the scheduler, guarantees
that a step is sent at most once. Message is one outgoing email. A reminder message goes to one
customer on one local day, unique too: at most one reminder message per customer per day,
possibly covering several invoices. A thank-you message (``kind``) names its one invoice and is
unique per invoice, ever; it neither counts against nor is blocked by the reminders' daily rule
(see connector.dunning.thank_you).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connector.store.base import Base, TimestampMixin, str_enum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"
    TASK = "task"


class StepContent(StrEnum):
    """What a step's email says: a reminder of its invoice (the step's templates, grouped per
    customer and day), or the customer's statement of account (every open invoice and the
    total, the on-request statement's wording; connector.dunning.statements)."""

    REMINDER = "reminder"
    STATEMENT = "statement"


class Sequence(TimestampMixin, Base):
    __tablename__ = "sequence"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    name: Mapped[str]
    is_default: Mapped[bool] = mapped_column(default=False)

    steps: Mapped[list[Step]] = relationship(
        order_by="Step.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Step(TimestampMixin, Base):
    __tablename__ = "step"
    __table_args__ = (UniqueConstraint("sequence_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequence.id", ondelete="CASCADE"))
    key: Mapped[str]  # courtesy, reminder_1, …; also the template name
    position: Mapped[int]
    offset_days: Mapped[int]  # from the due date; negative = before
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    tone: Mapped[str] = mapped_column(default="polite")
    show_penalties: Mapped[bool] = mapped_column(default=False)
    sends_letter: Mapped[bool] = mapped_column(default=False)  # PDF + task "letter to post"
    hands_off: Mapped[bool] = mapped_column(default=False)  # opens a task for a person
    new_deadline_days: Mapped[int | None]  # e.g. 5 (second reminder), 8 (formal notice)
    active: Mapped[bool] = mapped_column(default=True)
    content: Mapped[StepContent] = mapped_column(
        str_enum(StepContent), default=StepContent.REMINDER, server_default="reminder"
    )

    templates: Mapped[list[StepTemplate]] = relationship(
        order_by="StepTemplate.language", cascade="all, delete-orphan", lazy="selectin"
    )


class StepTemplate(TimestampMixin, Base):
    """The owner's wording of one step in one language (none: the shipped template speaks).

    ``subject`` and ``body`` are Jinja sources for the sandbox; they become the template
    ``<language>/<step key>`` of the step's own messages only (connector.dunning.owner_templates).
    """

    __tablename__ = "step_template"
    __table_args__ = (UniqueConstraint("step_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("step.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


class SequenceRule(TimestampMixin, Base):
    """One assignment rule: the first rule (by ``position``) whose every set criterion matches
    an invoice decides its sequence; no rule matches → the shop's default sequence. A criterion
    left NULL matches everything (connector.dunning.assignment)."""

    __tablename__ = "sequence_rule"
    __table_args__ = (Index("ix_sequence_rule_shop_position", "shop_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequence.id", ondelete="CASCADE"))
    position: Mapped[int]
    b2b: Mapped[bool | None]  # True: business customers only; False: consumers only
    min_amount_minor: Mapped[int | None]  # amount due at least this (inclusive)
    max_amount_minor: Mapped[int | None]  # amount due below this (exclusive)
    currency: Mapped[str | None] = mapped_column(String(3))
    platform: Mapped[str | None]  # shopify | woocommerce | stripe | csv
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE")
    )
    # Customers this rule never applies to (their emails, one per line, lower-cased).
    excluded_emails: Mapped[str | None] = mapped_column(Text)


class MessageKind(StrEnum):
    REMINDER = "reminder"  # a customer's reminders of one local day (Reminder rows point to it)
    THANK_YOU = "thank_you"  # the note after payment: one invoice (``invoice_id``), no Reminder
    STATEMENT = "statement"  # a statement of account: all of a customer's open invoices (each
    # invoice's timeline names it), ``invoice_id`` NULL; sent on the owner's request (no
    # Reminder) or by a statement step (the Reminder rows of that step point to it)


class MessageState(StrEnum):
    PENDING = "pending"  # thank-you recorded with the payment (outbox row); no worker has it yet
    CLAIMED = "claimed"  # reserved by a worker under a lease; the mail API not called yet
    SENDING = "sending"  # the mail call may be in flight: a crash here leaves it UNKNOWN
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # outcome lost in a crash or timeout: raised to a person, never resent
    CANCELLED = "cancelled"  # paid (or paused, excluded…) between the claim and the send


class Message(TimestampMixin, Base):
    __tablename__ = "message"
    __table_args__ = (
        # At most one reminder message per customer, channel and local day (a partial index:
        # thank-you messages are outside that rule, both ways).
        Index(
            "uq_message_reminder_customer_day",
            "customer_id",
            "channel",
            "local_day",
            unique=True,
            sqlite_where=text("kind = 'reminder'"),
            postgresql_where=text("kind = 'reminder'"),
        ),
        # At most one message of a kind per invoice: one thank-you per invoice, ever. Reminder
        # messages leave invoice_id NULL (NULLs never collide).
        UniqueConstraint("invoice_id", "kind"),
        Index("ix_message_state_lease", "state", "lease_until"),
        Index("ix_message_shop_sent", "shop_id", "sent_at"),  # the dashboard's open rate
        # One statement of account per customer and local day: two clicks send one.
        Index(
            "uq_message_statement_customer_day",
            "customer_id",
            "local_day",
            unique=True,
            sqlite_where=text("kind = 'statement'"),
            postgresql_where=text("kind = 'statement'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[MessageKind] = mapped_column(
        str_enum(MessageKind), default=MessageKind.REMINDER, server_default="reminder"
    )
    invoice_id: Mapped[int | None] = mapped_column(  # thank-you only: the invoice it thanks for
        ForeignKey("invoice.id", ondelete="CASCADE")
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    local_day: Mapped[date]  # the shop-local day it belongs to
    state: Mapped[MessageState] = mapped_column(str_enum(MessageState))
    lease_owner: Mapped[str | None]
    lease_until: Mapped[datetime | None]
    recipient: Mapped[str | None]
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]

    reminders: Mapped[list[Reminder]] = relationship(back_populates="message")


class ReminderState(StrEnum):
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # passed during downtime, superseded by a later step
    HANDED_OFF = "handed_off"  # a task step: given to a person as a task, nothing was sent
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_pending(self) -> bool:
        return self is ReminderState.CLAIMED


class ReminderRetry(StrEnum):
    """A bounced email step the owner fixed the address for: sent again once, never twice."""

    ALLOWED = "allowed"  # the owner fixed the address: the engine may claim one retry
    USED = "used"  # the retry row (attempt 1) was claimed
    DROPPED = "dropped"  # a later step went out first: retrying the older one would mislead


class Reminder(TimestampMixin, Base):
    __tablename__ = "reminder"
    __table_args__ = (
        # One row per invoice, step and attempt; attempt 1 is the single retry after a bounce.
        UniqueConstraint("invoice_id", "step_id", "attempt"),
        CheckConstraint("attempt IN (0, 1)", name="attempt_once"),
        Index("ix_reminder_message", "message_id"),
        # The dashboard's paid-within-7-days per step over a window, read from the index alone.
        Index(
            "ix_reminder_shop_sent",
            "shop_id",
            "state",
            "sent_at",
            "step_key",
            "invoice_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    step_id: Mapped[int] = mapped_column(ForeignKey("step.id"))
    step_key: Mapped[str]
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    state: Mapped[ReminderState] = mapped_column(str_enum(ReminderState))
    due_on: Mapped[date]  # the shop-local day the step fell due
    # The shop-local day the step's offset counted from: the invoice's due date, or under a
    # payment plan the instalment's. ``due_on - counted_from`` is how far along its sequence the
    # invoice was taken (planner.History.reached_offset), whichever day it counted from.
    counted_from: Mapped[date]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    reason: Mapped[str | None] = mapped_column(Text)  # why skipped / cancelled / failed
    # The owner's evidence: exactly what went out, to whom.
    recipient: Mapped[str | None]
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None]
    letter_path: Mapped[str | None] = mapped_column(Text)  # before 0004: a file on one disk
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter_document.id"))
    amount_due_minor: Mapped[int | None]  # what was asked for, at the time
    sent_at: Mapped[datetime | None]
    # The deadline the message printed (shop-local), set with the evidence it goes out with:
    # the next step of the invoice waits for the day after it.
    deadline_on: Mapped[date | None]
    # 0: the step's send; 1: its one retry after the owner fixed a bounced address (the first
    # attempt's row and message are kept untouched, as evidence).
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    retry: Mapped[ReminderRetry | None] = mapped_column(str_enum(ReminderRetry))

    message: Mapped[Message | None] = relationship(back_populates="reminders")


class LetterDocument(Base):
    """A letter to post, as rendered (PDF bytes), kept in the store: a worker's disk does not
    outlive a deploy, the database does. The reminder and the owner's task point at it."""

    __tablename__ = "letter_document"
    __table_args__ = (Index("ix_letter_document_shop_invoice", "shop_id", "invoice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    filename: Mapped[str]
    media_type: Mapped[str] = mapped_column(default="application/pdf")
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    # Recorded by the owner (``relance letters posted``): the letter is dated the day it is
    # posted. Dating it makes a new version; the one it replaces keeps its bytes (evidence).
    posted_on: Mapped[date | None]
    tracking: Mapped[str | None]
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("letter_document.id", ondelete="SET NULL")
    )
