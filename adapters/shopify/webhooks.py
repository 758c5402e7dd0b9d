"""Shopify webhooks: HMAC check on the raw bytes, then topic -> NormalizedEvent.

Decisions:

- Key: ``conn.webhook_secret`` if the core stored one, else the app's ``client_secret``
  (Shopify signs every app webhook with the client secret; register_webhooks returns
  ``secret=None`` so the secret is not stored twice).
- ``orders/updated`` takes its kind from the body: cancelled -> VOIDED, financial status paid ->
  PAID, partially_paid -> PARTIALLY_PAID, refunded -> REFUNDED, voided/expired -> VOIDED,
  anything else (pending, authorized, partially_refunded) -> UPDATED with the order attached.
  Shopify does not order orders/paid before orders/updated, so whichever arrives first stops the
  reminders; both are idempotent in the core.
- ``dedupe_key``: ``X-Shopify-Event-Id`` (the same for every subscription and retry of one
  event); else ``webhook:<X-Shopify-Webhook-Id>`` (same across retries of one delivery, differs
  per subscription); else ``sha256:<digest of topic + body>`` (Shopify retries carry the original
  payload, so retries still collapse).
- ``occurred_at``: the body's ``updated_at`` (the object's version, what orders stale updates),
  else its ``created_at`` (refunds), else ``X-Shopify-Triggered-At``; compliance and ignored
  topics fall back to the time of parsing, order topics without any timestamp are refused.
- Tenant seal: the HMAC covers the body only and every shop shares the app secret, so the
  signature proves Shopify sent the body, not which shop it is for. Every shop the delivery
  names must be the connection's, else ``WebhookWrongAccount`` (401): the
  ``X-Shopify-Shop-Domain`` header, the body's ``shop_domain`` and ``shop_id`` (compliance
  topics) and its ``order_status_url`` (orders: ``https://<host>/<shop id>/orders/…``; the host
  counts only when it is a myshopify.com domain, a shop's own domain can be anything). Shop ids
  are compared when the connection knows its own (``credentials["shop_id"]``, stored when the
  webhooks are registered), else not. A body naming no shop is sealed by the core instead: its
  dedupe is app-wide and an order the connection has never seen is confirmed with Shopify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from adapters.shopify.auth import normalize_shop
from adapters.shopify.exceptions import ShopifyConfigError
from adapters.shopify.normalize import (
    MalformedOrder,
    financial_status,
    invoice_from_rest,
    is_tracked,
    legacy_id,
    parse_timestamp,
    rest_has_terms,
)
from connector.domain.money import Money
from connector.platform import (
    ConnectionContext,
    EventKind,
    NormalizedEvent,
    WebhookParseError,
    WebhookWrongAccount,
)

HMAC_HEADER = "X-Shopify-Hmac-Sha256"

#: Topics we subscribe to (GraphQL enum names); compliance topics are app configuration
#: (shopify.app.toml / Partner Dashboard), not Admin API subscriptions.
SUBSCRIBED_TOPICS: tuple[str, ...] = (
    "ORDERS_PAID",
    "ORDERS_UPDATED",
    "ORDERS_CANCELLED",
    "REFUNDS_CREATE",
    "APP_UNINSTALLED",
)

APP_UNINSTALLED = "app/uninstalled"  # its body is the Shop resource
_ORDER_TOPICS = frozenset({"orders/paid", "orders/updated", "orders/cancelled"})
_COMPLIANCE = {
    "customers/data_request": EventKind.CUSTOMER_DATA_REQUEST,
    "customers/redact": EventKind.CUSTOMER_REDACT,
    "shop/redact": EventKind.SHOP_REDACT,
}
_UPDATED_KIND = {
    "PAID": EventKind.PAID,
    "PARTIALLY_PAID": EventKind.PARTIALLY_PAID,
    "REFUNDED": EventKind.REFUNDED,
    "VOIDED": EventKind.VOIDED,
    "EXPIRED": EventKind.VOIDED,
}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup over any mapping (WSGI dicts, Werkzeug, plain dicts)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                value = candidate
                break
    if value is None:
        return None
    return value.strip() or None


def sign(raw_body: bytes, secret: str) -> str:
    """``X-Shopify-Hmac-Sha256`` for ``raw_body``: base64 of HMAC-SHA256 with the secret."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes) -> bool:
    """Constant-time check of the HMAC header; False when anything is missing."""
    received = header(headers, HMAC_HEADER)
    secret = conn.webhook_secret or conn.credentials.get("client_secret")
    if not received or not isinstance(secret, str) or not secret:
        return False
    try:
        received_bytes = received.encode("ascii")
    except UnicodeEncodeError:
        return False
    expected = sign(raw_body, secret).encode("ascii")
    return hmac.compare_digest(expected, received_bytes)


def parse(
    conn: ConnectionContext,
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    now: Callable[[], datetime],
) -> NormalizedEvent:
    """A verified delivery -> NormalizedEvent; WebhookParseError when it cannot be read."""
    topic = (header(headers, "X-Shopify-Topic") or "").lower()
    if not topic:
        raise WebhookParseError("no X-Shopify-Topic header")
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WebhookParseError(f"{topic}: body is not JSON") from exc
    if not isinstance(body, dict):
        raise WebhookParseError(f"{topic}: body is not a JSON object")
    _check_shop(conn, headers, body, topic)
    dedupe_key = _dedupe_key(headers, topic, raw_body)
    try:
        if topic in _ORDER_TOPICS:
            return _order_event(topic, body, headers, dedupe_key)
        if topic == "refunds/create":
            return _refund_event(body, headers, dedupe_key)
        if topic in _COMPLIANCE:
            return _compliance_event(topic, body, headers, dedupe_key, now)
        if topic == APP_UNINSTALLED:
            # When Shopify fired it (a retry keeps it): the body is the Shop, whose
            # updated_at says nothing about the uninstall.
            return NormalizedEvent(
                dedupe_key=dedupe_key,
                kind=EventKind.APP_UNINSTALLED,
                topic=topic,
                occurred_at=_lenient_occurred_at({}, headers) or now(),
            )
        return NormalizedEvent(
            dedupe_key=dedupe_key,
            kind=EventKind.IGNORED,
            topic=topic,
            occurred_at=_lenient_occurred_at(body, headers) or now(),
        )
    except MalformedOrder as exc:
        raise WebhookParseError(f"{topic}: {exc}") from exc


# --- per topic -------------------------------------------------------------------------------


def _order_event(
    topic: str, body: Mapping[str, Any], headers: Mapping[str, str], dedupe_key: str
) -> NormalizedEvent:
    invoice = invoice_from_rest(body)
    occurred_at = _occurred_at(body, headers)
    if occurred_at is None:
        raise MalformedOrder("no updated_at and no X-Shopify-Triggered-At")
    financial = financial_status(body.get("financial_status"))
    cancelled = body.get("cancelled_at") is not None
    if topic == "orders/paid":
        kind = EventKind.PAID
    elif topic == "orders/cancelled" or cancelled:
        kind = EventKind.VOIDED
    else:
        kind = _UPDATED_KIND.get(financial or "", EventKind.UPDATED)
        if kind is EventKind.PARTIALLY_PAID and not invoice.status.is_owed:
            kind = EventKind.PAID  # "partially paid" with nothing outstanding
    tracked = is_tracked(financial, rest_has_terms(body))
    return NormalizedEvent(
        dedupe_key=dedupe_key,
        kind=kind,
        topic=topic,
        occurred_at=occurred_at,
        external_invoice_id=invoice.external_id,
        invoice=invoice if tracked else None,
        customer_email=invoice.customer.email,
        customer_external_id=invoice.customer.external_id,
    )


def _refund_event(
    body: Mapping[str, Any], headers: Mapping[str, str], dedupe_key: str
) -> NormalizedEvent:
    """refunds/create: a REST Refund; amount = sum of its successful refund transactions."""
    order_id = legacy_id(body.get("order_id"))
    occurred_at = _occurred_at(body, headers)
    if occurred_at is None:
        raise MalformedOrder("no created_at and no X-Shopify-Triggered-At")
    amount: Money | None = None
    transactions = body.get("transactions") or []
    if not isinstance(transactions, list):
        raise MalformedOrder("transactions is not a list")
    for tx in transactions:
        if not isinstance(tx, Mapping):
            raise MalformedOrder("transaction is not an object")
        if tx.get("kind") != "refund" or tx.get("status") not in ("success", None):
            continue
        try:
            money = Money.of(str(tx.get("amount")), str(tx.get("currency")))
        except ValueError as exc:
            raise MalformedOrder(f"refund transaction amount: {exc}") from exc
        if amount is None:
            amount = money
        elif money.currency == amount.currency:
            amount = amount + money
        else:
            raise MalformedOrder("refund transactions in several currencies")
    if amount is not None and amount.amount == Decimal(0):
        amount = None
    refund_id = body.get("id")
    return NormalizedEvent(
        dedupe_key=dedupe_key,
        kind=EventKind.REFUNDED,
        topic="refunds/create",
        occurred_at=occurred_at,
        external_invoice_id=order_id,
        payment_amount=amount,
        payment_external_id=legacy_id(refund_id) if refund_id is not None else None,
    )


def _compliance_event(
    topic: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    dedupe_key: str,
    now: Callable[[], datetime],
) -> NormalizedEvent:
    """customers/data_request, customers/redact (with ``customer``), shop/redact (shop only)."""
    kind = _COMPLIANCE[topic]
    email: str | None = None
    customer_id: str | None = None
    if kind is not EventKind.SHOP_REDACT:
        customer = body.get("customer")
        if not isinstance(customer, Mapping):
            raise MalformedOrder("compliance body has no customer object")
        raw_email = customer.get("email")
        email = raw_email if isinstance(raw_email, str) and raw_email else None
        if customer.get("id") is not None:
            customer_id = legacy_id(customer.get("id"))
        if email is None and customer_id is None:
            raise MalformedOrder("compliance body names no customer")
    return NormalizedEvent(
        dedupe_key=dedupe_key,
        kind=kind,
        topic=topic,
        occurred_at=_occurred_at(body, headers) or now(),
        customer_email=email,
        customer_external_id=customer_id,
    )


# --- helpers ---------------------------------------------------------------------------------


def _dedupe_key(headers: Mapping[str, str], topic: str, raw_body: bytes) -> str:
    event_id = header(headers, "X-Shopify-Event-Id")
    if event_id:
        return event_id
    webhook_id = header(headers, "X-Shopify-Webhook-Id")
    if webhook_id:
        return f"webhook:{webhook_id}"
    digest = hashlib.sha256(topic.encode("utf-8") + b"\n" + raw_body).hexdigest()
    return f"sha256:{digest}"


def _occurred_at(body: Mapping[str, Any], headers: Mapping[str, str]) -> datetime | None:
    for key in ("updated_at", "created_at"):
        if body.get(key) is not None:
            return parse_timestamp(body[key], key)
    triggered = header(headers, "X-Shopify-Triggered-At")
    if triggered is not None:
        return parse_timestamp(triggered, "X-Shopify-Triggered-At")
    return None


def _lenient_occurred_at(body: Mapping[str, Any], headers: Mapping[str, str]) -> datetime | None:
    """For topics we only acknowledge: an odd timestamp must not turn into a 400."""
    try:
        return _occurred_at(body, headers)
    except MalformedOrder:
        return None


def _check_shop(
    conn: ConnectionContext, headers: Mapping[str, str], body: Mapping[str, Any], topic: str
) -> None:
    """The tenant seal (module docstring): WebhookWrongAccount when the delivery names a shop
    that is not the connection's."""
    try:
        expected = normalize_shop(conn.credentials.get("shop") or conn.external_account)
    except ShopifyConfigError as exc:
        raise WebhookParseError(f"{topic}: {exc}") from exc
    expected_id = _known_shop_id(conn)
    for where, domain, shop_id in _named_shops(headers, body, topic):
        if domain is not None and domain != expected:
            raise WebhookWrongAccount(f"{topic}: {where} names {domain}, connection is {expected}")
        if shop_id is not None and expected_id is not None and shop_id != expected_id:
            raise WebhookWrongAccount(
                f"{topic}: {where} names shop {shop_id}, connection is shop {expected_id}"
            )


def _named_shops(
    headers: Mapping[str, str], body: Mapping[str, Any], topic: str
) -> Iterator[tuple[str, str | None, str | None]]:
    """(where, myshopify domain or None, shop id or None) for every shop the delivery names."""
    claimed = header(headers, "X-Shopify-Shop-Domain")
    if claimed is not None:
        try:
            yield "X-Shopify-Shop-Domain", normalize_shop(claimed), None
        except ShopifyConfigError as exc:  # unsigned, and no shop of ours: not this connection's
            raise WebhookWrongAccount(f"{topic}: bad shop domain header {claimed!r}") from exc
    domain, shop_id = body.get("shop_domain"), body.get("shop_id")
    if domain is not None or shop_id is not None:
        try:
            yield (
                "shop_domain/shop_id",
                None if domain is None else normalize_shop(domain),
                None if shop_id is None else legacy_id(shop_id),
            )
        except (ShopifyConfigError, MalformedOrder) as exc:
            raise WebhookParseError(f"{topic}: bad shop_domain or shop_id: {exc}") from exc
    if topic == APP_UNINSTALLED:
        try:
            yield (
                "myshopify_domain/id",
                normalize_shop(body.get("myshopify_domain")),
                None if body.get("id") is None else legacy_id(body.get("id")),
            )
        except (ShopifyConfigError, MalformedOrder) as exc:
            raise WebhookParseError(f"{topic}: bad myshopify_domain or id: {exc}") from exc
    status_url = body.get("order_status_url")
    if isinstance(status_url, str) and status_url:
        yield ("order_status_url", *_status_url_shop(status_url))


def _status_url_shop(url: str) -> tuple[str | None, str | None]:
    """``https://<host>/<shop id>/orders/<token>/…``: the host if it is a myshopify.com domain
    (a custom domain tells nothing), the shop id if the first path segment is one."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None, None
    host = (parts.hostname or "").lower()
    domain = host if host.endswith(".myshopify.com") else None
    first = parts.path.strip("/").split("/", 1)[0]
    return domain, first if first.isascii() and first.isdigit() else None


def _known_shop_id(conn: ConnectionContext) -> str | None:
    """The connection's own Shopify shop id, when it was stored (see ``register_webhooks``)."""
    value = conn.credentials.get("shop_id")
    try:
        return None if value in (None, "") else legacy_id(value)
    except MalformedOrder:
        return None
