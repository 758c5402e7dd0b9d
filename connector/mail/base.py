"""The contract between the dunning runner and a mail transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One message to one customer; it may cover several invoices (consolidated)."""

    message_id: int  # our Message row id: the idempotency key of this send
    to_email: str
    to_name: str | None
    from_email: str
    from_name: str | None
    reply_to: str | None
    subject: str
    text: str
    html: str
    step: str  # the most advanced step key among the reminders it carries
    invoice_numbers: tuple[str, ...]
    reminder_ids: tuple[int, ...]
    categories: tuple[str, ...] = field(default_factory=tuple)


class DeliveryOutcome(StrEnum):
    SENT = "sent"  # accepted by the provider (SendGrid 202) or written to the outbox
    FAILED = "failed"  # refused for good (4xx other than 429) or retry budget spent
    UNKNOWN = "unknown"  # the provider may or may not have it (read timeout): never re-send blindly


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outcome: DeliveryOutcome
    provider_message_id: str | None = None
    error: str | None = None
    attempts: int = 1


class MailTransport(Protocol):
    def send(self, mail: OutgoingMail) -> DeliveryResult:
        """Deliver once. Never raises for a provider answer: it is reported in the result."""
        ...
