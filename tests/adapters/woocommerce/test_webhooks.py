"""verify_webhook / parse_webhook on bodies signed the way WooCommerce signs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.woocommerce import WooCommerceAdapter
from connector.platform import ConnectionContext, EventKind, InvoiceStatus, WebhookParseError
from tests.adapters.woocommerce.conftest import T0, WEBHOOK_SECRET, MakeConn
from tests.support.fake_woocommerce import FakeWooCommerce, sign_webhook, webhook_headers


def _delivery(order: dict[str, Any], topic: str = "order.updated") -> tuple[dict[str, str], bytes]:
    body = json.dumps(order).encode()  # WooCommerce: wp_json_encode of the REST representation
    headers = webhook_headers(topic, order["id"])
    headers["X-WC-Webhook-Signature"] = sign_webhook(body, WEBHOOK_SECRET)
    return headers, body


def test_a_signed_delivery_is_accepted_and_one_changed_byte_is_not(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    headers, body = _delivery(fake.add_order())
    assert adapter.verify_webhook(conn, headers, body)
    tampered = body.replace(b'"29.35"', b'"29.36"')
    assert len(tampered) == len(body) and tampered != body
    assert not adapter.verify_webhook(conn, headers, tampered)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert adapter.verify_webhook(conn, lowered, body)


def test_missing_signature_or_secret_is_refused(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, make_conn: MakeConn
) -> None:
    headers, body = _delivery(fake.add_order())
    assert not adapter.verify_webhook(make_conn(webhook_secret=None), headers, body)
    assert not adapter.verify_webhook(make_conn(webhook_secret="other"), headers, body)
    unsigned = {k: v for k, v in headers.items() if k != "X-WC-Webhook-Signature"}
    assert not adapter.verify_webhook(make_conn(), unsigned, body)


def test_the_creation_ping_is_accepted_and_ignored(
    adapter: WooCommerceAdapter, make_conn: MakeConn
) -> None:
    ping = b"webhook_id=42"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert adapter.verify_webhook(make_conn(), headers, ping)
    assert not adapter.verify_webhook(make_conn(webhook_secret=None), headers, ping)
    assert not adapter.verify_webhook(make_conn(), headers, b"webhook_id=42&status=paid")
    event = adapter.parse_webhook(make_conn(), headers, ping)
    assert event.kind is EventKind.IGNORED and event.dedupe_key == "ping"
    assert event.invoice is None and event.external_invoice_id is None


def test_paid_order(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    order = fake.add_order(status="on-hold")
    paid = fake.set_status(order["id"], "processing", at=T0 + 60)
    paid["transaction_id"] = "VIR-2025-10-09"
    headers, body = _delivery(paid)

    event = adapter.parse_webhook(conn, headers, body)

    assert event.kind is EventKind.PAID and event.topic == "order.updated"
    assert event.dedupe_key == f"{order['id']}@{paid['date_modified_gmt']}"
    assert event.occurred_at == datetime.fromtimestamp(T0 + 60, tz=UTC)
    assert event.external_invoice_id == str(order["id"])
    assert event.invoice is not None and event.invoice.status is InvoiceStatus.PAID
    assert str(event.payment_amount) == "29.35 EUR"
    assert event.payment_external_id == "VIR-2025-10-09"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("cancelled", EventKind.VOIDED),
        ("refunded", EventKind.REFUNDED),
        ("on-hold", EventKind.UPDATED),
        ("failed", EventKind.UPDATED),
    ],
)
def test_kind_follows_the_order_status(
    fake: FakeWooCommerce,
    adapter: WooCommerceAdapter,
    conn: ConnectionContext,
    status: str,
    kind: EventKind,
) -> None:
    order = fake.set_status(fake.add_order(status="pending")["id"], status, at=T0 + 5)
    event = adapter.parse_webhook(conn, *_delivery(order))
    assert event.kind is kind and event.invoice is not None


def test_the_same_version_twice_has_one_key_and_a_new_version_another(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    order = fake.add_order()
    first = adapter.parse_webhook(conn, *_delivery(order))
    again = adapter.parse_webhook(conn, *_delivery(order, "order.created"))
    later = adapter.parse_webhook(
        conn, *_delivery(fake.set_status(order["id"], "completed", at=T0 + 9))
    )
    assert first.dedupe_key == again.dedupe_key != later.dedupe_key


def test_deleted_and_ignored_topics(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    order = fake.add_order()
    headers, body = _delivery({"id": order["id"]}, "order.deleted")  # WooCommerce sends the id only
    event = adapter.parse_webhook(conn, headers, body)
    assert event.kind is EventKind.VOIDED and event.external_invoice_id == str(order["id"])
    assert event.dedupe_key == f"{order['id']}@deleted"  # from the signed body alone
    replayed = {**headers, "X-WC-Webhook-Delivery-ID": "another-delivery"}
    assert adapter.parse_webhook(conn, replayed, body).dedupe_key == event.dedupe_key
    card = fake.add_order(status="pending", payment_method="stripe")
    assert adapter.parse_webhook(conn, *_delivery(card)).kind is EventKind.IGNORED
    product = adapter.parse_webhook(conn, *_delivery({"id": 5, "name": "Mug"}, "product.updated"))
    assert product.kind is EventKind.IGNORED


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"id": "x", "status": "pending"}',
        b'{"id": 5, "status": "pending"}',
    ],
)
def test_an_unreadable_verified_body_is_a_parse_error(
    adapter: WooCommerceAdapter, conn: ConnectionContext, body: bytes
) -> None:
    headers = webhook_headers("order.updated", 5)
    headers["X-WC-Webhook-Signature"] = sign_webhook(body, WEBHOOK_SECRET)
    assert adapter.verify_webhook(conn, headers, body)
    with pytest.raises(WebhookParseError):
        adapter.parse_webhook(conn, headers, body)
