"""Every entity of design §3, importable from one place."""

from connector.store.models.accounts import Membership, Owner, Role
from connector.store.models.billing import Customer, Invoice, Payment, PaymentSource
from connector.store.models.dunning import (
    Channel,
    LetterDocument,
    Message,
    MessageKind,
    MessageState,
    Reminder,
    ReminderState,
    Sequence,
    Step,
)
from connector.store.models.events import (
    Task,
    TaskKind,
    TaskState,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.store.models.tenancy import ConnectGrant, Connection, GrantPurpose, Shop

__all__ = [
    "Channel",
    "ConnectGrant",
    "Connection",
    "Customer",
    "GrantPurpose",
    "Invoice",
    "LetterDocument",
    "Membership",
    "Message",
    "MessageKind",
    "MessageState",
    "Owner",
    "Payment",
    "PaymentSource",
    "Reminder",
    "ReminderState",
    "Role",
    "Sequence",
    "Shop",
    "Step",
    "Task",
    "TaskKind",
    "TaskState",
    "TimelineEntry",
    "TimelineKind",
    "WebhookEvent",
    "WebhookOutcome",
]
