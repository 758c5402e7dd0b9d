"""fetch_status (one order query) and register_webhooks (idempotent subscriptions)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.shopify import ShopifyAdapter
from adapters.shopify.exceptions import ShopifyUserError
from connector.platform import (
    AdapterError,
    AdapterNotFound,
    ConnectionContext,
    InvoiceStatus,
    UnregistersWebhooks,
)
from tests.support.fake_shopify import FakeShopify, make_order


def test_fetch_status_is_one_order_query(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    fake.add_orders(
        make_order(901, updated_at="2026-03-01T09:00:00Z", financial="PAID", outstanding="0.00")
    )

    invoice = adapter.fetch_status(conn, "901")

    assert invoice is not None
    assert (invoice.external_id, invoice.status) == ("901", InvoiceStatus.PAID)
    assert fake.operations() == ["RelanceOrder"]
    assert fake.graphql_requests[0]["variables"] == {"id": "gid://shopify/Order/901"}


def test_fetch_status_accepts_a_gid(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    fake.add_orders(make_order(902, updated_at="2026-03-01T09:00:00Z"))
    invoice = adapter.fetch_status(conn, "gid://shopify/Order/902")
    assert invoice is not None and invoice.status is InvoiceStatus.OPEN


def test_fetch_status_of_a_missing_order_is_none(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    assert adapter.fetch_status(conn, "123456") is None
    assert fake.operations() == ["RelanceOrder"]


def test_fetch_status_of_a_non_id_is_not_found(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    with pytest.raises(AdapterNotFound):
        adapter.fetch_status(conn, "#1001")
    assert fake.graphql_requests == []


def test_register_webhooks_subscribes_each_order_topic_once(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    registration = adapter.register_webhooks(conn, "https://relance.example.com/")

    uri = "https://relance.example.com/webhooks/shopify/42"
    assert registration.secret is None  # Shopify signs with the app's client secret
    assert sorted((s["topic"], s["uri"], s["format"]) for s in fake.webhook_subscriptions) == [
        ("APP_UNINSTALLED", uri, "JSON"),
        ("ORDERS_CANCELLED", uri, "JSON"),
        ("ORDERS_PAID", uri, "JSON"),
        ("ORDERS_UPDATED", uri, "JSON"),
        ("REFUNDS_CREATE", uri, "JSON"),
    ]
    assert registration.external_ids == [s["id"] for s in fake.webhook_subscriptions]

    again = adapter.register_webhooks(conn, "https://relance.example.com")

    assert again.external_ids == registration.external_ids
    assert len(fake.webhook_subscriptions) == 5
    assert fake.operations().count("RelanceWebhookSubscriptionCreate") == 5


def test_register_webhooks_stores_the_shops_id_once(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, saved: list[dict[str, Any]]
) -> None:
    """Webhook bodies name their shop by id (shop_id, order_status_url): the connection keeps
    its own to refuse the others', read in the same query as the subscriptions."""
    adapter.register_webhooks(conn, "https://relance.example.com")
    assert conn.credentials["shop_id"] == str(fake.shop_id)
    assert [c["shop_id"] for c in saved] == [str(fake.shop_id)]
    assert saved[0]["access_token"] == conn.credentials["access_token"]
    adapter.register_webhooks(conn, "https://relance.example.com")
    assert len(saved) == 1  # known already: not saved again


def test_register_webhooks_reports_user_errors(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    with pytest.raises(ShopifyUserError, match="Address is invalid") as caught:
        adapter.register_webhooks(conn, "ftp://relance.example.com")
    assert isinstance(caught.value, AdapterError)
    assert fake.webhook_subscriptions == []


def test_unregister_webhooks_deletes_the_subscriptions_and_tolerates_gone_ones(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    registration = adapter.register_webhooks(conn, "https://relance.example.com")
    assert isinstance(adapter, UnregistersWebhooks)

    adapter.unregister_webhooks(conn, registration.external_ids)
    assert fake.webhook_subscriptions == []
    adapter.unregister_webhooks(conn, registration.external_ids[:1])  # already gone: fine


def test_a_registration_failing_midway_leaves_no_subscription(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    """All or nothing: the third subscription fails (after retries), the two made are removed."""
    fake.script("ok", "ok", "ok", *["http500"] * 4)  # list, create, create, then 500s
    with pytest.raises(AdapterError):
        adapter.register_webhooks(conn, "https://relance.example.com")
    assert fake.operations().count("RelanceWebhookSubscriptionDelete") == 2
    assert fake.webhook_subscriptions == []
