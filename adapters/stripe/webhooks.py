"""Stripe webhook deliveries: signature check on the raw bytes, then event → NormalizedEvent.

Kinds (``settings.WEBHOOK_EVENTS`` are the ones we subscribe to):

==================================================  ==========================================
``invoice.paid``, ``invoice.payment_succeeded``     PAID, or PARTIALLY_PAID if amount_remaining > 0
``invoice.voided``, ``invoice.marked_uncollectible``  VOIDED (the owner gave up on it in Stripe:
                                                    reminders stop; the carried invoice says
                                                    ``uncollectible``; a later payment is PAID)
``invoice.updated/finalized/overdue``               UPDATED
``credit_note.*``, ``invoice_payment.paid``         UPDATED, invoice id only (re-read it)
``charge.refunded``, ``refund.created/updated``     REFUNDED (a failed/canceled refund: IGNORED)
``charge.dispute.created``                          DISPUTED
anything else, drafts, ``charge_automatically``     IGNORED
invoices, another tenant's Connect events
==================================================  ==========================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace as _replace
from typing import Any

import stripe

from adapters.stripe import settings
from adapters.stripe.exceptions import NormalizationError, NotOwedYet
from adapters.stripe.normalize import from_unix, is_send_invoice, normalize_invoice, stripe_money
from connector.domain.money import Money
from connector.platform import EventKind, NormalizedEvent, WebhookParseError

_PAID = frozenset({"invoice.paid", "invoice.payment_succeeded"})
_VOIDED = frozenset({"invoice.voided", "invoice.marked_uncollectible"})
_UPDATED = frozenset({"invoice.updated", "invoice.finalized", "invoice.overdue"})
_REFERENCES = frozenset(
    {"credit_note.created", "credit_note.updated", "credit_note.voided", "invoice_payment.paid"}
)
_REFUNDS = frozenset({"refund.created", "refund.updated"})


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (frameworks differ in how they spell keys)."""
    direct = headers.get(name)
    if direct is not None:
        return direct
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify_signature(
    secret: str | None,
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    tolerance: int = settings.WEBHOOK_TOLERANCE_SECONDS,
    now: Callable[[], float] = time.time,
) -> bool:
    """Stripe's own check (HMAC-SHA256 of ``"{t}.{body}"``, every v1 compared in constant time,
    ``t`` not older than ``tolerance``), plus: ``t`` not more than ``tolerance`` in the future.
    False on any failure, never an exception."""
    header = header_value(headers, settings.SIGNATURE_HEADER)
    if not secret or not header or not isinstance(raw_body, bytes | bytearray):
        return False
    try:
        stripe.WebhookSignature.verify_header(bytes(raw_body), header, secret, tolerance)
        timestamp = int(next(p[2:] for p in header.split(",") if p.startswith("t=")))
    except Exception:  # SignatureVerificationError, a body that is not UTF-8, a bad header…
        return False
    return timestamp <= now() + tolerance


def parse_event(raw_body: bytes, *, connect_account: str | None) -> NormalizedEvent:
    """A verified body → NormalizedEvent; WebhookParseError if it is not a readable event."""
    try:
        event = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WebhookParseError(f"Stripe webhook body is not JSON: {exc}") from exc
    if not isinstance(event, dict) or event.get("object", "event") != "event":
        raise WebhookParseError("Stripe webhook body is not an event")
    event_id, topic, created = event.get("id"), event.get("type"), event.get("created")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(topic, str) or not topic:
        raise WebhookParseError("Stripe event without id or type")
    if not isinstance(obj, dict):
        raise WebhookParseError(f"Stripe event {event_id} has no data.object")
    try:
        occurred_at = from_unix(created, "created")
        base = NormalizedEvent(
            dedupe_key=event_id, kind=EventKind.IGNORED, topic=topic, occurred_at=occurred_at
        )
        if (event.get("account") or None) != (connect_account or None):
            return base  # a Connect endpoint hears every connected account: not this tenant's
        previous = data.get("previous_attributes") if isinstance(data, dict) else None
        return _classify(base, obj, previous if isinstance(previous, dict) else {})
    except NormalizationError as exc:
        raise WebhookParseError(f"Stripe event {event_id}: {exc}") from exc


def _classify(
    base: NormalizedEvent, obj: dict[str, Any], previous: dict[str, Any]
) -> NormalizedEvent:
    topic = base.topic
    if topic.startswith("invoice.") and obj.get("object") == "invoice":
        return _invoice_event(base, obj, previous)
    if topic in _REFERENCES:
        return _replace(
            base,
            kind=EventKind.UPDATED,
            external_invoice_id=object_id(obj.get("invoice")),
            payment_amount=_amount(obj, "amount_paid") if topic == "invoice_payment.paid" else None,
            payment_external_id=_payment_of(obj.get("payment")),
        )
    if topic == "charge.refunded" and obj.get("object") == "charge":
        return _replace(
            base,
            kind=EventKind.REFUNDED,
            external_invoice_id=object_id(obj.get("invoice")),  # only in pre-2025 payloads
            payment_amount=_amount(obj, "amount_refunded"),
            payment_external_id=object_id(obj.get("payment_intent")) or object_id(obj.get("id")),
        )
    if topic in _REFUNDS and obj.get("object") == "refund":
        if obj.get("status") in ("failed", "canceled"):
            return base
        return _replace(
            base,
            kind=EventKind.REFUNDED,
            payment_amount=_amount(obj, "amount"),
            payment_external_id=object_id(obj.get("payment_intent"))
            or object_id(obj.get("charge")),
        )
    if topic == "charge.dispute.created" and obj.get("object") == "dispute":
        return _replace(
            base,
            kind=EventKind.DISPUTED,
            payment_amount=_amount(obj, "amount"),
            payment_external_id=object_id(obj.get("payment_intent"))
            or object_id(obj.get("charge")),
        )
    return base


def _invoice_event(
    base: NormalizedEvent, obj: dict[str, Any], previous: dict[str, Any]
) -> NormalizedEvent:
    invoice_id = object_id(obj.get("id"))
    ignored = _replace(base, external_invoice_id=invoice_id)
    known = base.topic in _PAID | _VOIDED | _UPDATED
    if not known or not is_send_invoice(obj):
        return ignored
    try:
        invoice = normalize_invoice(obj, observed_at=base.occurred_at)
    except NotOwedYet:
        return ignored
    if base.topic in _PAID:
        paid = stripe_money(obj.get("amount_paid"), invoice.total.currency)
        before = previous.get("amount_paid")
        if isinstance(before, int) and not isinstance(before, bool):
            paid = paid - stripe_money(before, invoice.total.currency)
        kind = EventKind.PARTIALLY_PAID if invoice.amount_due.is_positive() else EventKind.PAID
        return _replace(
            ignored,
            kind=kind,
            invoice=invoice,
            payment_amount=paid,
            # pre-2025-03-31 payloads only; since basil payments live in Invoice.payments
            payment_external_id=object_id(obj.get("payment_intent"))
            or object_id(obj.get("charge")),
        )
    kind = EventKind.VOIDED if base.topic in _VOIDED else EventKind.UPDATED
    return _replace(ignored, kind=kind, invoice=invoice)


def object_id(value: Any) -> str | None:
    """An id, whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _payment_of(payment: Any) -> str | None:
    """InvoicePayment.payment → its PaymentIntent (or Charge) id."""
    if not isinstance(payment, dict):
        return None
    return object_id(payment.get("payment_intent")) or object_id(payment.get("charge"))


def _amount(obj: Mapping[str, Any], field: str) -> Money | None:
    currency = obj.get("currency")
    if obj.get(field) is None or not isinstance(currency, str):
        return None
    return stripe_money(obj[field], currency)
