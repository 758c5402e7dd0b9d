"""What arrived (WebhookEvent), what a person must do (Task), what happened (TimelineEntry)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.base import Base, TimestampMixin, str_enum


class WebhookOutcome(StrEnum):
    PENDING = "pending"  # stored, not applied yet (the worker retries from the store)
    APPLIED = "applied"
    IGNORED = "ignored"  # unknown topic, or stale
    FAILED = "failed"  # apply failed; retried


class WebhookEvent(Base):
    __tablename__ = "webhook_event"
    __table_args__ = (
        UniqueConstraint("scope", "dedupe_key"),
        Index("ix_webhook_event_outcome", "outcome"),
        Index("ix_webhook_event_invoice_ref", "connection_id", "invoice_ref"),
        # An invoice's timeline: the mail provider's reports of a shop, by kind and time.
        Index("ix_webhook_event_shop_kind_at", "shop_id", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The namespace of the dedupe key: "<platform>:<connection id>", or "<platform>" alone where
    # event ids are unique across accounts (Shopify), or "sendgrid".
    scope: Mapped[str]
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connection.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column()
    dedupe_key: Mapped[str]
    topic: Mapped[str]
    kind: Mapped[str | None]
    # The platform's invoice id when the delivery names one: lets a send about to go out find a
    # payment that is stored but not applied yet (RELANCE_WEBHOOK_APPLY=background|worker).
    invoice_ref: Mapped[str | None]
    received_at: Mapped[datetime]
    occurred_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    outcome: Mapped[WebhookOutcome] = mapped_column(str_enum(WebhookOutcome))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)


class TaskKind(StrEnum):
    ESCALATION = "escalation"  # N reminders without payment, or above the amount threshold
    LETTER_TO_POST = "letter_to_post"
    LETTER_DATA_MISSING = "letter_data_missing"  # no identification or no postal address
    UNKNOWN_OUTCOME = "unknown_outcome"  # a send whose result was lost: check, never resent
    SEND_FAILED = "send_failed"
    BOUNCE = "bounce"
    INVALID_EMAIL = "invalid_email"  # a platform's address the mail provider would refuse
    PRESCRIBED = "prescribed"
    DATA_REQUEST = "data_request"
    FOLLOW_UP = "follow_up"  # a task step of the sequence: a person does what the step says
    BROKEN_CONNECTION = "broken_connection"  # its secrets cannot be opened, or it is refused
    PAYMENT_INSTRUCTIONS = "payment_instructions"  # no way to pay: payment messages wait
    ECB_RATE_MISSING = "ecb_rate_missing"  # this half-year's ECB rate is not in the table


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"


class Task(TimestampMixin, Base):
    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("shop_id", "dedupe_key"),
        Index("ix_task_shop_state", "shop_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind))
    state: Mapped[TaskState] = mapped_column(str_enum(TaskState), default=TaskState.OPEN)
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    attachment_path: Mapped[str | None] = mapped_column(Text)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter_document.id"))
    dedupe_key: Mapped[str]  # one task per cause: re-running never opens it twice
    closed_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(String(255))  # a name or an email; None: nobody


class TaskComment(Base):
    """A comment left on a task, never changed: who wrote what, when."""

    __tablename__ = "task_comment"
    __table_args__ = (Index("ix_task_comment_task_at", "task_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class TimelineKind(StrEnum):
    SYNCED = "synced"
    IMPORTED = "imported"
    STATUS_CHANGED = "status_changed"
    REMINDER_SENT = "reminder_sent"
    REMINDER_SKIPPED = "reminder_skipped"
    REMINDER_CANCELLED = "reminder_cancelled"
    REMINDER_FAILED = "reminder_failed"
    REMINDER_UNKNOWN = "reminder_unknown"
    REMINDER_HANDED_OFF = "reminder_handed_off"
    LETTER_READY = "letter_ready"
    LETTER_POSTED = "letter_posted"
    PAID = "paid"
    PAUSED = "paused"
    RESUMED = "resumed"
    ESCALATED = "escalated"
    PRESCRIBED = "prescribed"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    THANK_YOU_SENT = "thank_you_sent"
    THANK_YOU_CANCELLED = "thank_you_cancelled"
    THANK_YOU_FAILED = "thank_you_failed"
    THANK_YOU_UNKNOWN = "thank_you_unknown"
    STATEMENT_SENT = "statement_sent"  # in a statement of account (data: message_id, state)


class TimelineEntry(Base):
    __tablename__ = "timeline_entry"
    __table_args__ = (Index("ix_timeline_entry_invoice_at", "invoice_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[TimelineKind] = mapped_column(str_enum(TimelineKind))
    summary: Mapped[str] = mapped_column(Text)
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminder.id"))
    data: Mapped[dict[str, Any] | None]
