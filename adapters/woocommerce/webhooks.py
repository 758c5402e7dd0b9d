"""WooCommerce webhooks: HMAC check on the raw bytes, then topic + order → NormalizedEvent.

Decisions:

- Signature: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook secret, raw body)), the
  secret ``register_webhooks`` generated (``conn.webhook_secret``). It has no timestamp, so there
  is no replay window; replays are harmless because the core dedupes and orders by
  ``occurred_at``.
- The creation ping: when a webhook is saved WooCommerce POSTs ``webhook_id=<N>`` as a form
  body, unsigned, and wants exactly 200 (otherwise the admin shows "Delivery URL returned
  response code"). :func:`verify` accepts exactly that body without a signature header (only
  on a connection that has a webhook secret) and :func:`parse_event` turns it into an IGNORED
  event: it carries nothing that could change state, and all pings share the dedupe key
  ``ping``, so unsigned requests store at most one row per connection.
- ``dedupe_key``: ``"<order id>@<date_modified_gmt>"``, the order's version. The delivery id is
  ``wp_hash(webhook id . now)``: new on every delivery, and it collides within one second, so it
  cannot be the key. ``order.deleted`` bodies are ``{"id": N}`` only: key ``"<id>@deleted"``,
  from the signed body alone, so a replayed deletion is a duplicate, not a new row (the delivery
  id header is unsigned and the clock differs per replay). The cost: an order deleted, restored
  and deleted again dedupes its second deletion; the re-check before every reminder
  (``fetch_status``) and the periodic catch-up still see it gone.
- Kind from the order: PAID when processing/completed with ``date_paid_gmt``; VOIDED when
  cancelled, trashed or deleted; REFUNDED when refunded; UPDATED otherwise with the order
  attached. An owed order paid through a card gateway (an abandoned checkout) and an order with
  a status we cannot classify are IGNORED, as are other resources' topics.
- ``occurred_at``: ``date_modified_gmt`` (tz-aware UTC); for deletions, the time of parsing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from adapters.woocommerce import settings
from adapters.woocommerce.exceptions import NormalizationError, UnknownStatus
from adapters.woocommerce.normalize import (
    is_tracked,
    normalize_order,
    order_id,
    parse_gmt,
    raw_status,
)
from connector.platform import EventKind, InvoiceStatus, NormalizedEvent, WebhookParseError

_PING = re.compile(rb"^webhook_id=(\d{1,20})$")
_ORDER_TOPICS = frozenset(settings.WEBHOOK_TOPICS)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (frameworks differ in how they spell keys)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None:
        return None
    return value.strip() or None


def sign(raw_body: bytes, secret: str) -> str:
    """The ``X-WC-Webhook-Signature`` WooCommerce sends for ``raw_body``
    (``WC_Webhook::generate_signature``: base64 of the raw HMAC-SHA256)."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def is_ping(headers: Mapping[str, str], raw_body: bytes) -> bool:
    """The unsigned ``webhook_id=N`` form POST WooCommerce sends when a webhook is saved."""
    return header_value(headers, settings.SIGNATURE_HEADER) is None and bool(
        _PING.match(bytes(raw_body).strip())
    )


def verify(secret: str | None, headers: Mapping[str, str], raw_body: bytes) -> bool:
    """Constant-time check of the signature; False when the header or the secret is missing.
    The creation ping is accepted unsigned (see module docstring)."""
    if not secret or not isinstance(raw_body, bytes | bytearray):
        return False
    if is_ping(headers, raw_body):
        return True
    received = header_value(headers, settings.SIGNATURE_HEADER)
    if not received:
        return False
    try:
        received_bytes = received.encode("ascii")
    except UnicodeEncodeError:
        return False
    expected = sign(bytes(raw_body), secret).encode("ascii")
    return hmac.compare_digest(expected, received_bytes)


def parse_event(
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    site_url: str,
    checkout_path: str,
    now: Callable[[], datetime],
) -> NormalizedEvent:
    """A verified body → NormalizedEvent; WebhookParseError if it is not a readable event."""
    ping = _PING.match(bytes(raw_body).strip())
    if ping is not None:
        return NormalizedEvent(
            # One key for every ping: an unsigned body must never be able to grow the store.
            dedupe_key="ping",
            kind=EventKind.IGNORED,
            topic="webhook.ping",
            occurred_at=now(),
        )
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WebhookParseError(f"WooCommerce webhook body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise WebhookParseError("WooCommerce webhook body is not an object")
    topic = header_value(headers, settings.TOPIC_HEADER)
    if topic is None:
        raise WebhookParseError(f"WooCommerce webhook without {settings.TOPIC_HEADER}")
    if topic not in _ORDER_TOPICS:
        digest = hashlib.sha256(topic.encode() + b"\0" + bytes(raw_body)).hexdigest()[:32]
        return NormalizedEvent(
            dedupe_key=f"{topic}:{digest}", kind=EventKind.IGNORED, topic=topic, occurred_at=now()
        )
    try:
        oid = order_id(body.get("id"))
        if topic == "order.deleted":
            return NormalizedEvent(
                dedupe_key=f"{oid}@deleted",
                kind=EventKind.VOIDED,
                topic=topic,
                occurred_at=now(),
                external_invoice_id=str(oid),
            )
        modified = parse_gmt(body.get("date_modified_gmt"), "date_modified_gmt")
        base = NormalizedEvent(
            dedupe_key=f"{oid}@{body['date_modified_gmt']}",
            kind=EventKind.IGNORED,
            topic=topic,
            occurred_at=modified,
            external_invoice_id=str(oid),
        )
        status = raw_status(body)
        try:
            invoice = normalize_order(body, site_url=site_url, checkout_path=checkout_path)
        except UnknownStatus:
            return base
        if invoice.status.is_owed and not is_tracked(body):
            return base  # an abandoned card checkout: never dunned
        if status in settings.PAID_STATUSES and body.get("date_paid_gmt"):
            transaction = body.get("transaction_id")
            payment_id = transaction if isinstance(transaction, str) and transaction else None
            return replace(
                base,
                kind=EventKind.PAID,
                invoice=invoice,
                payment_amount=invoice.total,
                payment_external_id=payment_id,
            )
        if invoice.status is InvoiceStatus.VOID:
            kind = EventKind.VOIDED
        elif invoice.status is InvoiceStatus.REFUNDED:
            kind = EventKind.REFUNDED
        else:
            kind = EventKind.UPDATED
        return replace(base, kind=kind, invoice=invoice)
    except NormalizationError as exc:
        raise WebhookParseError(f"WooCommerce {topic}: {exc}") from exc
