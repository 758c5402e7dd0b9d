"""Fixed choices of the Stripe adapter: API version, paging, event lists, retry budget.

Nothing here reads the environment; the adapter's constructor takes overrides for tests.
"""

from __future__ import annotations

from typing import Final

PLATFORM: Final = "stripe"

# The API version stripe-python 16.1.0 pins (``stripe._api_version._ApiVersion.CURRENT``).
# Sent on every request and set on the webhook endpoints we create, so the objects we read always
# have the 2026 shape (no ``Invoice.paid`` / ``.charge`` / ``.payment_intent``: gone since
# 2025-03-31.basil).
API_VERSION: Final = "2026-10-28.endive"

PAGE_SIZE: Final = 100  # Stripe's maximum ``limit``

# Every list request expands the customer so the preferred locale is available
# (``Customer.preferred_locales``; Invoice has no locale of its own).
INVOICE_LIST_EXPAND: Final = ("data.customer",)
INVOICE_RETRIEVE_EXPAND: Final = ("customer",)

# A sync pass never reads past ``now - SETTLE_SECONDS``: objects and events of the last minute are
# left for the next run, so list indexing delay and small clock skew cannot hide anything.
SETTLE_SECONDS: Final = 60

# ``GET /v1/events`` only returns the last 30 days. A cursor whose watermark is older than this
# (one day of margin) cannot be continued incrementally: the adapter starts a full pass instead.
EVENT_RETENTION_SECONDS: Final = 29 * 24 * 3600

# Events read on incremental syncs (``types[]`` takes at most 20). Events whose object is an invoice
# yield that snapshot; the others name an invoice that is re-read (one GET each, once per page).
SYNC_INVOICE_EVENTS: Final = (
    "invoice.finalized",  # draft → open: an owed invoice whose ``created`` predates the window
    "invoice.updated",  # amounts, due date, partial payments
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.voided",
    "invoice.marked_uncollectible",
)
SYNC_REFERENCE_EVENTS: Final = (
    "credit_note.created",  # lowers amount_remaining of an open invoice
    "credit_note.voided",
    "invoice_payment.paid",  # 2025-03-31.basil+: one payment (possibly partial) of an invoice
)
SYNC_EVENT_TYPES: Final = SYNC_INVOICE_EVENTS + SYNC_REFERENCE_EVENTS

# Events the webhook endpoint we create subscribes to. ``invoice.payment_succeeded`` is left out on
# purpose: it fires together with ``invoice.paid`` for the same payment (which also covers payments
# marked out of band), and two PAID deliveries per payment help nobody.
WEBHOOK_EVENTS: Final = (
    "invoice.finalized",
    "invoice.updated",
    "invoice.overdue",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "credit_note.created",
    "credit_note.voided",
    "charge.refunded",
    "charge.dispute.created",
)
WEBHOOK_PATH: Final = "/webhooks/stripe/{connection_id}"
WEBHOOK_DESCRIPTION: Final = "Relance payment reminders"
WEBHOOK_TOLERANCE_SECONDS: Final = 300
SIGNATURE_HEADER: Final = "Stripe-Signature"

# 429 handling (the SDK never retries it): bounded exponential backoff with jitter.
RATE_LIMIT_RETRIES: Final = 5  # retries after the first attempt; then AdapterRateLimited
RATE_LIMIT_BASE_DELAY: Final = 1.0  # seconds; doubles per retry
RATE_LIMIT_MAX_DELAY: Final = 20.0
# Connection errors, 409 and 5xx are retried by the SDK itself (its own backoff, 0.5 s → 5 s).
MAX_NETWORK_RETRIES: Final = 2
