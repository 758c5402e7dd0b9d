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
    ReminderRetry,
    ReminderState,
    Sequence,
    SequenceRule,
    Step,
    StepTemplate,
)
from connector.store.models.events import (
    Task,
    TaskComment,
    TaskKind,
    TaskState,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.store.models.install import OAuthState
from connector.store.models.owner import Instalment, InvoiceEvent, OwnerAction
from connector.store.models.tenancy import (
    ConnectGrant,
    Connection,
    EcbRate,
    GrantPurpose,
    Shop,
    ShopEcbRate,
)

__all__ = [
    "Channel",
    "ConnectGrant",
    "Connection",
    "Customer",
    "EcbRate",
    "GrantPurpose",
    "Instalment",
    "Invoice",
    "InvoiceEvent",
    "LetterDocument",
    "Membership",
    "Message",
    "MessageKind",
    "MessageState",
    "OAuthState",
    "Owner",
    "OwnerAction",
    "Payment",
    "PaymentSource",
    "Reminder",
    "ReminderRetry",
    "ReminderState",
    "Role",
    "Sequence",
    "SequenceRule",
    "Shop",
    "ShopEcbRate",
    "Step",
    "StepTemplate",
    "Task",
    "TaskComment",
    "TaskKind",
    "TaskState",
    "TimelineEntry",
    "TimelineKind",
    "WebhookEvent",
    "WebhookOutcome",
]
