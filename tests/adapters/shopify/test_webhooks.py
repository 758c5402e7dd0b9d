"""verify_webhook / parse_webhook on Shopify's canned body and bodies built per Shopify's docs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.shopify import ShopifyAdapter
from connector.domain.money import Money
from connector.platform import (
    ConnectionContext,
    EventKind,
    InvoiceStatus,
    WebhookParseError,
    WebhookWrongAccount,
)
from tests.adapters.shopify.conftest import CLIENT_SECRET, FIXTURES, SHOP
from tests.support.fake_shopify import FakeClock, sign_webhook, webhook_headers

CANNED_2019 = FIXTURES / "shopify_orders_webhook_test_notification_2019.json"
# The canned body as Shopify sends it to our test shop: its order_status_url names the shop.
OURS_2019 = CANNED_2019.read_bytes().replace(b"apple.myshopify.com", SHOP.encode())
CANNED_2025 = FIXTURES / "shopify_orders_webhook_test_notification_2025.json"
EVENT_ID = "e3a6b5c2-7f41-4d2a-9c53-1b0e2f6d8a90"


@pytest.fixture
def hook_conn() -> ConnectionContext:
    return ConnectionContext(
        id=42,
        shop_id=1,
        platform="shopify",
        external_account=SHOP,
        credentials={
            "shop": SHOP,
            "access_token": "x",
            "client_id": "c",
            "client_secret": CLIENT_SECRET,
        },
        webhook_secret=None,
        api_base=None,
        settings={},
    )


@pytest.fixture
def raw_2019() -> bytes:
    return OURS_2019


def _order_body(**changes: Any) -> dict[str, Any]:
    """The canned 2019 order, made a live one: not cancelled, with the 2026 fields."""
    body: dict[str, Any] = json.loads(OURS_2019)
    body.update(
        cancelled_at=None, cancel_reason=None, total_outstanding="403.00", payment_terms=None
    )
    body.update(changes)
    return body


def _deliver(
    adapter: ShopifyAdapter, conn: ConnectionContext, topic: str, body: Any, **header_args: Any
) -> Any:
    raw = json.dumps(body).encode()
    headers = webhook_headers(topic, raw, CLIENT_SECRET, **header_args)
    assert adapter.verify_webhook(conn, headers, raw)
    return adapter.parse_webhook(conn, headers, raw)


# --- verify ------------------------------------------------------------------------------------


def test_signed_fixture_verifies(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET)
    assert adapter.verify_webhook(hook_conn, headers, raw_2019) is True


def test_one_changed_byte_fails(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET)
    tampered = raw_2019.replace(b'"total_price": "403.00"', b'"total_price": "408.00"', 1)
    assert tampered != raw_2019 and len(tampered) == len(raw_2019)
    assert adapter.verify_webhook(hook_conn, headers, tampered) is False


def test_wrong_secret_fails(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, "shpss_some_other_app")
    assert adapter.verify_webhook(hook_conn, headers, raw_2019) is False


def test_reserialized_json_fails(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET)
    reserialized = json.dumps(json.loads(raw_2019)).encode()
    assert json.loads(reserialized) == json.loads(raw_2019)
    assert adapter.verify_webhook(hook_conn, headers, reserialized) is False


@pytest.mark.parametrize("value", [None, "", "   ", "not base64 at all", "é"])
def test_missing_or_garbage_header_fails(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes, value: str | None
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET)
    del headers["X-Shopify-Hmac-Sha256"]
    if value is not None:
        headers["X-Shopify-Hmac-Sha256"] = value
    assert adapter.verify_webhook(hook_conn, headers, raw_2019) is False


def test_header_names_are_case_insensitive(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = {"x-shopify-hmac-sha256": sign_webhook(raw_2019, CLIENT_SECRET)}
    assert adapter.verify_webhook(hook_conn, headers, raw_2019) is True


def test_webhook_secret_takes_precedence_over_client_secret(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    hook_conn.webhook_secret = "stored-webhook-secret"
    by_app = {"X-Shopify-Hmac-Sha256": sign_webhook(raw_2019, CLIENT_SECRET)}
    by_stored = {"X-Shopify-Hmac-Sha256": sign_webhook(raw_2019, "stored-webhook-secret")}
    assert adapter.verify_webhook(hook_conn, by_stored, raw_2019) is True
    assert adapter.verify_webhook(hook_conn, by_app, raw_2019) is False


def test_no_secret_at_all_fails(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    del hook_conn.credentials["client_secret"]
    headers = {"X-Shopify-Hmac-Sha256": sign_webhook(raw_2019, "")}
    assert adapter.verify_webhook(hook_conn, headers, raw_2019) is False


# --- parse: order topics -----------------------------------------------------------------------


def test_canned_orders_paid(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET)
    event = adapter.parse_webhook(hook_conn, headers, raw_2019)

    assert event.kind is EventKind.PAID  # the topic decides; the canned body says "voided"
    assert event.topic == "orders/paid"
    assert event.dedupe_key == EVENT_ID
    assert event.external_invoice_id == "820982911946154508"
    assert event.occurred_at == datetime(2019, 6, 4, 17, 53, 6, tzinfo=UTC)
    assert event.invoice is not None
    assert event.invoice.status is InvoiceStatus.VOID  # cancelled in the canned body
    assert event.invoice.amount_due == Money.zero("USD")
    assert event.invoice.total == Money(Decimal("403.00"), "USD")
    assert event.invoice.number == "#9999"
    assert event.invoice.customer.external_id == "115310627314723954"
    assert event.customer_email == "jon@doe.ca"


def test_canned_orders_cancelled(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/cancelled", raw_2019, CLIENT_SECRET)
    assert adapter.parse_webhook(hook_conn, headers, raw_2019).kind is EventKind.VOIDED


@pytest.mark.parametrize(
    ("changes", "kind", "status", "due"),
    [
        (
            {"financial_status": "paid", "total_outstanding": "0.00"},
            EventKind.PAID,
            InvoiceStatus.PAID,
            "0.00",
        ),
        (
            {"financial_status": "partially_paid", "total_outstanding": "100.00"},
            EventKind.PARTIALLY_PAID,
            InvoiceStatus.PARTIALLY_PAID,
            "100.00",
        ),
        (
            {"financial_status": "partially_paid", "total_outstanding": "0.00"},
            EventKind.PAID,
            InvoiceStatus.PAID,
            "0.00",
        ),
        ({"financial_status": "pending"}, EventKind.UPDATED, InvoiceStatus.OPEN, "403.00"),
        (
            {"financial_status": "refunded", "total_outstanding": "0.00"},
            EventKind.REFUNDED,
            InvoiceStatus.REFUNDED,
            "0.00",
        ),
        ({"financial_status": "voided"}, EventKind.VOIDED, InvoiceStatus.VOID, "0.00"),
        ({"financial_status": "expired"}, EventKind.VOIDED, InvoiceStatus.VOID, "0.00"),
        (
            {"financial_status": "partially_refunded", "total_outstanding": "0.00"},
            EventKind.UPDATED,
            InvoiceStatus.PAID,
            "0.00",
        ),
        (
            {"financial_status": "pending", "cancelled_at": "2026-03-06T10:00:00-05:00"},
            EventKind.VOIDED,
            InvoiceStatus.VOID,
            "0.00",
        ),
    ],
)
def test_orders_updated_kind_follows_the_body(
    adapter: ShopifyAdapter,
    hook_conn: ConnectionContext,
    changes: dict[str, Any],
    kind: EventKind,
    status: InvoiceStatus,
    due: str,
) -> None:
    event = _deliver(adapter, hook_conn, "orders/updated", _order_body(**changes))
    assert event.kind is kind
    assert event.invoice.status is status
    assert event.invoice.amount_due == Money.of(due, "USD")


def test_orders_updated_with_payment_terms(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    terms = {
        "id": 1,
        "payment_terms_name": "Net 30",
        "payment_terms_type": "net",
        "due_in_days": 30,
        "payment_schedules": [
            {
                "amount": "403.00",
                "currency": "USD",
                "issued_at": "2026-03-01T09:00:00+01:00",
                "due_at": "2026-03-31T09:00:00+02:00",
                "completed_at": None,
            },
        ],
    }
    body = _order_body(
        financial_status="pending", payment_terms=terms, updated_at="2026-03-06T10:00:00-05:00"
    )

    event = _deliver(adapter, hook_conn, "orders/updated", body)

    assert event.kind is EventKind.UPDATED
    assert event.invoice.due_at == datetime(2026, 3, 31, 7, 0, tzinfo=UTC)
    assert event.invoice.issued_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert event.occurred_at == datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


def test_authorized_without_terms_carries_no_invoice(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    event = _deliver(
        adapter, hook_conn, "orders/updated", _order_body(financial_status="authorized")
    )
    assert event.kind is EventKind.UPDATED
    assert event.invoice is None
    assert event.external_invoice_id == "820982911946154508"


def test_refunds_create(adapter: ShopifyAdapter, hook_conn: ConnectionContext) -> None:
    refund = {
        "id": 929361462,
        "order_id": 450789469,
        "created_at": "2026-03-06T11:00:00-05:00",
        "processed_at": "2026-03-06T11:00:00-05:00",
        "note": "it broke during shipping",
        "restock": True,
        "admin_graphql_api_id": "gid://shopify/Refund/929361462",
        "refund_line_items": [],
        "transactions": [
            {
                "id": 1,
                "order_id": 450789469,
                "kind": "refund",
                "status": "success",
                "amount": "41.94",
                "currency": "EUR",
                "gateway": "bogus",
            },
            {
                "id": 2,
                "order_id": 450789469,
                "kind": "refund",
                "status": "success",
                "amount": "8.06",
                "currency": "EUR",
                "gateway": "bogus",
            },
            {
                "id": 3,
                "order_id": 450789469,
                "kind": "refund",
                "status": "failure",
                "amount": "99.00",
                "currency": "EUR",
                "gateway": "bogus",
            },
        ],
    }

    event = _deliver(adapter, hook_conn, "refunds/create", refund)

    assert event.kind is EventKind.REFUNDED
    assert event.external_invoice_id == "450789469"
    assert event.payment_amount == Money(Decimal("50.00"), "EUR")
    assert event.payment_external_id == "929361462"
    assert event.occurred_at == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    assert event.invoice is None


# --- parse: compliance topics (bodies as in shopify.dev privacy-law-compliance) ------------------


def test_customers_data_request(adapter: ShopifyAdapter, hook_conn: ConnectionContext) -> None:
    body = {
        "shop_id": 954889,
        "shop_domain": SHOP,
        "orders_requested": [299938, 280263, 220458],
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "data_request": {"id": 9999},
    }
    event = _deliver(adapter, hook_conn, "customers/data_request", body)

    assert event.kind is EventKind.CUSTOMER_DATA_REQUEST
    assert (event.customer_email, event.customer_external_id) == ("john@example.com", "191167")
    assert event.occurred_at == datetime(2026, 3, 6, 15, 0, 0, 123456, tzinfo=UTC)  # Triggered-At
    assert event.dedupe_key == EVENT_ID


def test_customers_redact(adapter: ShopifyAdapter, hook_conn: ConnectionContext) -> None:
    body = {
        "shop_id": 954889,
        "shop_domain": SHOP,
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "orders_to_redact": [299938, 280263, 220458],
    }
    event = _deliver(adapter, hook_conn, "customers/redact", body)

    assert event.kind is EventKind.CUSTOMER_REDACT
    assert (event.customer_email, event.customer_external_id) == ("john@example.com", "191167")


def test_shop_redact(adapter: ShopifyAdapter, hook_conn: ConnectionContext) -> None:
    event = _deliver(adapter, hook_conn, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})

    assert event.kind is EventKind.SHOP_REDACT
    assert event.customer_email is None and event.customer_external_id is None


def test_compliance_without_triggered_at_uses_the_clock(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, clock: FakeClock
) -> None:
    event = _deliver(
        adapter, hook_conn, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}, triggered_at=None
    )
    assert event.occurred_at == clock()


def test_compliance_body_for_another_shop_is_refused(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    body = {"shop_id": 1, "shop_domain": "someone-else.myshopify.com"}
    raw = json.dumps(body).encode()
    headers = webhook_headers("shop/redact", raw, CLIENT_SECRET)
    assert adapter.verify_webhook(hook_conn, headers, raw)  # same app secret for every shop
    with pytest.raises(WebhookWrongAccount, match="someone-else"):
        adapter.parse_webhook(hook_conn, headers, raw)


def test_shop_header_for_another_shop_is_refused(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    headers = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET, shop="other.myshopify.com")
    with pytest.raises(WebhookWrongAccount):
        adapter.parse_webhook(hook_conn, headers, raw_2019)


def test_an_order_whose_status_url_names_another_shop_is_refused(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    """The header can be rewritten by whoever replays a delivery; the signed body cannot."""
    url = "https://other.myshopify.com/690933842/orders/123456abcd/authenticate?key=abcdefg"
    raw = json.dumps(_order_body(order_status_url=url)).encode()
    headers = webhook_headers("orders/paid", raw, CLIENT_SECRET)  # header says our shop
    assert adapter.verify_webhook(hook_conn, headers, raw)
    with pytest.raises(WebhookWrongAccount, match=r"order_status_url names other\.myshopify\.com"):
        adapter.parse_webhook(hook_conn, headers, raw)


def test_shop_ids_are_compared_once_the_connection_knows_its_own(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    """A shop's own domain in order_status_url says nothing; its shop id segment does."""
    custom = "https://www.atelier.example/85035548959/orders/123456abcd/authenticate?key=k"
    order = json.dumps(_order_body(order_status_url=custom)).encode()
    redact = json.dumps({"shop_id": 85035548959, "shop_domain": SHOP}).encode()
    deliveries = [("orders/paid", order), ("shop/redact", redact)]
    for topic, raw in deliveries:  # shop id unknown: not a reason to refuse
        adapter.parse_webhook(hook_conn, webhook_headers(topic, raw, CLIENT_SECRET), raw)
    hook_conn.credentials["shop_id"] = "85035548959"
    for topic, raw in deliveries:
        adapter.parse_webhook(hook_conn, webhook_headers(topic, raw, CLIENT_SECRET), raw)
    hook_conn.credentials["shop_id"] = "690933842"
    for topic, raw in deliveries:
        with pytest.raises(WebhookWrongAccount, match="names shop 85035548959"):
            adapter.parse_webhook(hook_conn, webhook_headers(topic, raw, CLIENT_SECRET), raw)


def test_customers_redact_without_customer_is_refused(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    raw = json.dumps({"shop_id": 1, "shop_domain": SHOP}).encode()
    headers = webhook_headers("customers/redact", raw, CLIENT_SECRET)
    with pytest.raises(WebhookParseError):
        adapter.parse_webhook(hook_conn, headers, raw)


# --- parse: other topics, dedupe, garbage ------------------------------------------------------


def test_other_topics_are_ignored(adapter: ShopifyAdapter, hook_conn: ConnectionContext) -> None:
    event = _deliver(
        adapter, hook_conn, "products/update", {"id": 1, "updated_at": "2026-03-06T10:00:00-05:00"}
    )
    assert event.kind is EventKind.IGNORED
    assert event.topic == "products/update"
    assert event.occurred_at == datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


def test_dedupe_falls_back_to_webhook_id_then_body_digest(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, raw_2019: bytes
) -> None:
    no_event = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET, event_id=None)
    assert (
        adapter.parse_webhook(hook_conn, no_event, raw_2019).dedupe_key
        == "webhook:b54557e4-8a5f-bf7d-70bc-d043a1b2c3d4"
    )

    bare = webhook_headers("orders/paid", raw_2019, CLIENT_SECRET, event_id=None, webhook_id=None)
    first = adapter.parse_webhook(hook_conn, bare, raw_2019).dedupe_key
    retry = adapter.parse_webhook(hook_conn, dict(bare), raw_2019).dedupe_key
    other_topic = webhook_headers(
        "orders/updated", raw_2019, CLIENT_SECRET, event_id=None, webhook_id=None
    )
    assert first == retry and first.startswith("sha256:")
    assert adapter.parse_webhook(hook_conn, other_topic, raw_2019).dedupe_key != first


@pytest.mark.parametrize(
    ("topic", "raw"),
    [
        ("orders/paid", b"not json"),
        ("orders/paid", b"[1, 2, 3]"),
        ("orders/paid", b'{"name": "#1"}'),  # no id
        (
            "orders/paid",
            json.dumps(
                {**json.loads(OURS_2019), "currency": "XXY", "total_price_set": None}
            ).encode(),
        ),
        ("refunds/create", b'{"id": 1}'),  # no order_id
        ("", b"{}"),  # no topic
    ],
)
def test_unreadable_bodies_raise_webhook_parse_error(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext, topic: str, raw: bytes
) -> None:
    headers = webhook_headers(topic or "x", raw, CLIENT_SECRET)
    if not topic:
        del headers["X-Shopify-Topic"]
    with pytest.raises(WebhookParseError):
        adapter.parse_webhook(hook_conn, headers, raw)


def test_canned_2025_body_with_mangled_timestamps_is_refused(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    raw = CANNED_2025.read_bytes()  # "2025-10-07T11: 28: 07-05: 00", as uploaded
    headers = webhook_headers("orders/updated", raw, CLIENT_SECRET)
    assert adapter.verify_webhook(hook_conn, headers, raw)
    with pytest.raises(WebhookParseError, match="ISO 8601"):
        adapter.parse_webhook(hook_conn, headers, raw)


def test_canned_2025_body_with_repaired_timestamps_parses(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    text = CANNED_2025.read_text().replace("T11: 28: 07-05: 00", "T11:28:07-05:00")
    body = json.loads(text)
    event = _deliver(adapter, hook_conn, "orders/updated", body)

    assert event.kind is EventKind.VOIDED  # cancelled, financial_status "voided"
    assert event.external_invoice_id == "820982911946154508"  # id, not the odd graphql id
    assert event.invoice.total == Money(Decimal("534150.00"), "COP")  # current_total_price_set
    assert event.invoice.customer.locale == "es"


def test_the_canned_order_brings_its_billing_address(
    adapter: ShopifyAdapter, hook_conn: ConnectionContext
) -> None:
    text = CANNED_2025.read_text().replace("T11: 28: 07-05: 00", "T11:28:07-05:00")
    event = _deliver(adapter, hook_conn, "orders/updated", json.loads(text))
    address = event.invoice.customer.postal_address
    assert address is not None  # the body's billing_address, as Shopify sent it
    assert address.text() == "123 Shipping Street\n40003 Shippington\nUS"
