"""Events that cannot be applied from their body alone, and what the platform is asked for them.

Three cases: a refund or dispute that names a payment but no invoice (Stripe since API 2025-03-31:
only InvoicePayment links the two); a reference event that names an invoice without carrying
it (``credit_note.*``, ``invoice_payment.paid``), whose new state must be re-read; and, where
every account shares the webhook secret (Shopify), an order the connection has never seen,
which only the platform's answer on that connection may create (``reread``). The question
goes to the platform outside any transaction and never from a web process: the apply raises
``NeedsPlatform``, rolls back, and the worker asks, then applies again with the ``Resolution``.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.platform import (
    AdapterNotFound,
    EventKind,
    NormalizedEvent,
    NormalizedInvoice,
    ResolvesPayments,
)
from connector.services import Services
from connector.store.models import Connection
from connector.sync import connection_context
from connector.webhooks.registry import AdapterRegistry


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the platform said: the invoice the event is about, and its state if it was re-read."""

    external_invoice_id: str | None
    fresh: NormalizedInvoice | None = None


class NeedsPlatform(Exception):
    """Raised inside the apply transaction when the event needs the platform's answer first."""

    def __init__(self, connection_id: int, event: NormalizedEvent, *, reread: bool = False) -> None:
        super().__init__(f"event {event.dedupe_key} needs the platform's answer")
        self.connection_id = connection_id
        self.event = event
        self.reread = reread  # the invoice's state must come from the platform, not the body


class UnknownConnection(Exception):
    pass


def rereads_invoice(event: NormalizedEvent) -> bool:
    """An update that names its invoice without carrying it: the platform's state is re-read."""
    return (
        event.kind is EventKind.UPDATED
        and event.invoice is None
        and event.external_invoice_id is not None
    )


def resolve(
    svc: Services,
    registry: AdapterRegistry,
    connection_id: int,
    event: NormalizedEvent,
    *,
    reread: bool = False,
) -> Resolution:
    """Ask the platform (network; AdapterError propagates, the retry job tries again later,
    except AdapterNotFound on a re-read: the platform has no such invoice, ``fresh`` is None)."""
    with svc.sessions() as s:
        conn = s.get(Connection, connection_id)
        if conn is None:
            raise UnknownConnection(f"connection {connection_id} is gone")
        ctx = connection_context(svc, conn)
    adapter = registry.get(ctx.platform)
    if adapter is None:
        raise UnknownConnection(f"no adapter for {ctx.platform}")
    external_id = event.external_invoice_id or (
        event.invoice.external_id if event.invoice is not None else None
    )
    if external_id is None and event.payment_external_id and isinstance(adapter, ResolvesPayments):
        external_id = adapter.invoice_for_payment(ctx, event.payment_external_id)
    fresh = None
    if external_id is not None and (reread or rereads_invoice(event)):
        try:
            fresh = adapter.fetch_status(ctx, external_id)
        except AdapterNotFound:
            fresh = None
    return Resolution(external_id, fresh)
