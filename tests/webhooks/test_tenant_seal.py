"""Shopify deliveries are bound to their shop, not by the unsigned header: every shop shares the
app secret, so a delivery captured for shop A verifies on B's URL too. A's bytes replayed to B
(B's URL, the app-level URL, a changed X-Shopify-Shop-Domain or event id) change nothing of B."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from adapters.shopify import ShopifyAdapter
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Shop, WebhookEvent, WebhookOutcome
from connector.sync import connection_context
from connector.webhooks.apply import apply_pending
from tests.support.fake_shopify import FakeClock, FakeShopify, make_order
from tests.support.webhooks import (
    SHOPIFY_APP_SECRET,
    invoice_by_external,
    open_invoice,
    seed_invoices,
    shopify_connection,
    shopify_headers,
    shopify_order,
)
from tests.webhooks.conftest import row_counts

DOMAIN_A, SHOP_ID_A = "atelier-a.myshopify.com", 111111
DOMAIN_B, SHOP_ID_B = "atelier-b.myshopify.com", 222222


@pytest.fixture
def two_shops(services: Services, shop: Shop) -> tuple[int, int]:
    """Shop A and shop B, each with a Shopify connection of the same app and an open order."""
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Atelier B", email="compta@b.example").id
    conn_a = shopify_connection(services, shop.id, DOMAIN_A, shopify_shop_id=SHOP_ID_A)
    conn_b = shopify_connection(services, other, DOMAIN_B, shopify_shop_id=SHOP_ID_B)
    seed_invoices(services, shop.id, conn_a, [open_invoice("7001")])
    seed_invoices(services, other, conn_b, [open_invoice("8001")])
    return conn_a, conn_b


def _invoices_of(services: Services, connection_id: int) -> list[tuple[str, InvoiceStatus]]:
    with services.sessions() as s:
        rows = s.execute(
            select(Invoice.external_id, Invoice.status)
            .where(Invoice.connection_id == connection_id)
            .order_by(Invoice.external_id)
        ).all()
    return [(row[0], row[1]) for row in rows]


def test_a_captured_order_replayed_to_another_shop_changes_nothing(
    services: Services, client: FlaskClient, two_shops: tuple[int, int]
) -> None:
    conn_a, conn_b = two_shops
    body = shopify_order(
        7001, "paid", "2026-06-12T10:00:00+02:00", domain=DOMAIN_A, shopify_shop_id=SHOP_ID_A
    )
    captured = shopify_headers(body, "orders/paid", "ev-a-1", domain=DOMAIN_A)
    assert (
        client.post(f"/webhooks/shopify/{conn_a}", data=body, headers=captured).status_code == 200
    )
    assert invoice_by_external(services, conn_a, "7001").status is InvoiceStatus.PAID
    before = row_counts(services)
    b_before = _invoices_of(services, conn_b)

    replays = {
        "B's URL as captured": (f"/webhooks/shopify/{conn_b}", {}),
        "B's URL, B's domain header": (
            f"/webhooks/shopify/{conn_b}",
            {"X-Shopify-Shop-Domain": DOMAIN_B},
        ),
        "B's URL, B's domain, a new event id": (
            f"/webhooks/shopify/{conn_b}",
            {"X-Shopify-Shop-Domain": DOMAIN_B, "X-Shopify-Event-Id": "ev-forged"},
        ),
        "app URL, B's domain, a new event id": (
            "/webhooks/shopify",
            {"X-Shopify-Shop-Domain": DOMAIN_B, "X-Shopify-Event-Id": "ev-forged-2"},
        ),
        "A's URL, B's domain header": (
            f"/webhooks/shopify/{conn_a}",
            {"X-Shopify-Shop-Domain": DOMAIN_B, "X-Shopify-Event-Id": "ev-forged-3"},
        ),
    }
    for name, (url, changed) in replays.items():
        answer = client.post(url, data=body, headers={**captured, **changed})
        assert answer.status_code == 401, name
        assert answer.get_json()["status"] == "delivery for another account", name
    assert row_counts(services) == before
    assert _invoices_of(services, conn_b) == b_before == [("8001", InvoiceStatus.OPEN)]


def test_a_delivery_naming_no_shop_dedupes_across_shops(
    services: Services, client: FlaskClient, two_shops: tuple[int, int]
) -> None:
    """refunds/create names an order, not a shop: the event id, unique across Shopify, is
    deduplicated for the whole app, so A's delivery replayed to B is a duplicate."""
    conn_a, conn_b = two_shops
    refund = {
        "id": 929361462,
        "order_id": 7001,
        "created_at": "2026-06-12T10:00:00+02:00",
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "108.00", "currency": "USD"}
        ],
    }
    body = json.dumps(refund).encode()
    captured = shopify_headers(body, "refunds/create", "ev-a-refund", domain=DOMAIN_A)
    first = client.post(f"/webhooks/shopify/{conn_a}", data=body, headers=captured)
    assert first.get_json()["status"] == "accepted"
    before = row_counts(services)
    for url in (f"/webhooks/shopify/{conn_b}", "/webhooks/shopify"):
        answer = client.post(
            url, data=body, headers={**captured, "X-Shopify-Shop-Domain": DOMAIN_B}
        )
        assert answer.get_json() == {"status": "duplicate", "stored": 0, "duplicates": 1}, url
    assert row_counts(services) == before
    with services.sessions() as s:
        [event] = s.scalars(select(WebhookEvent)).all()
    assert (event.scope, event.connection_id) == ("shopify", conn_a)


@pytest.fixture
def shopify_b() -> Iterator[FakeShopify]:
    """Shop B's Shopify, on 127.0.0.1: what the worker asks about B's orders."""
    with FakeShopify(clock=FakeClock(), client_secret=SHOPIFY_APP_SECRET) as server:
        yield server


def _connect_b(services: Services, fake: FakeShopify) -> int:
    """Shop B's connection, pointed at its local Shopify; its shop id not known yet."""
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Atelier B", email="compta@b.example").id
    token = fake.issue_token_pair(None)["access_token"]
    return shopify_connection(services, other, DOMAIN_B, api_base=fake.base_url, access_token=token)


def _order_requests(fake: FakeShopify) -> list[str]:
    return [r["variables"]["id"] for r in fake.graphql_requests if r["operation"] == "RelanceOrder"]


def test_an_order_a_connection_never_saw_is_created_only_from_the_platforms_answer(
    services: Services, client: FlaskClient, shopify_b: FakeShopify
) -> None:
    """A's order, its status page on A's own domain (no myshopify host, no shop id B knows):
    nothing in the body tells it is not B's. The web process stores it and creates nothing;
    the worker asks B's Shopify, which has no such order, so B never gets it. B's own new
    order is created from what B's Shopify answers, not from what the body says."""
    conn_b = _connect_b(services, shopify_b)
    foreign = json.loads(shopify_order(7001, "pending", "2026-06-12T10:00:00+02:00"))
    foreign["order_status_url"] = f"https://atelier-a.example/{SHOP_ID_A}/orders/t/authenticate"
    body = json.dumps(foreign).encode()
    headers = shopify_headers(body, "orders/updated", "ev-a-foreign", domain=DOMAIN_B)
    answer = client.post(f"/webhooks/shopify/{conn_b}", data=body, headers=headers)
    assert answer.get_json()["status"] == "accepted"  # stored: its signature is the app's
    assert _invoices_of(services, conn_b) == []
    assert _order_requests(shopify_b) == []  # the web process never calls Shopify

    assert apply_pending(services, datetime.now(UTC)) == 1
    assert _order_requests(shopify_b) == ["gid://shopify/Order/7001"]
    assert _invoices_of(services, conn_b) == []
    with services.sessions() as s:
        event = s.scalar(select(WebhookEvent).where(WebhookEvent.dedupe_key == "ev-a-foreign"))
        assert event is not None and event.outcome is WebhookOutcome.IGNORED

    shopify_b.add_orders(
        make_order(8002, updated_at="2026-06-12T08:00:00Z", total="250.00", currency="USD")
    )
    own = shopify_order(8002, "pending", "2026-06-12T10:00:00+02:00", domain=DOMAIN_B)
    headers = shopify_headers(own, "orders/updated", "ev-b-own", domain=DOMAIN_B)
    assert client.post(f"/webhooks/shopify/{conn_b}", data=own, headers=headers).status_code == 200
    assert _invoices_of(services, conn_b) == []
    assert apply_pending(services, datetime.now(UTC)) == 1
    assert _invoices_of(services, conn_b) == [("8002", InvoiceStatus.OPEN)]
    # Shopify's amount (250.00), not the body's (108.00).
    assert invoice_by_external(services, conn_b, "8002").amount_due_minor == 25000

    # An unknown order whose body says it is paid: nothing to remind about, nothing to ask.
    asked = len(_order_requests(shopify_b))
    paid = shopify_order(9003, "paid", "2026-06-12T10:00:00+02:00", domain=DOMAIN_B)
    headers = shopify_headers(paid, "orders/paid", "ev-b-paid", domain=DOMAIN_B)
    assert client.post(f"/webhooks/shopify/{conn_b}", data=paid, headers=headers).status_code == 200
    apply_pending(services, datetime.now(UTC))
    assert _invoices_of(services, conn_b) == [("8002", InvoiceStatus.OPEN)]
    assert len(_order_requests(shopify_b)) == asked


def test_registering_the_webhooks_stores_the_shop_id_that_seals_them(
    services: Services, client: FlaskClient, shopify_b: FakeShopify
) -> None:
    """What `relance connect shopify` does after saving the credentials: the shop's id lands in
    the stored (encrypted) credentials, and from then on a body naming another shop id is 401."""
    conn_b = _connect_b(services, shopify_b)
    with services.sessions() as s:
        row = s.get(Connection, conn_b)
        assert row is not None
        ctx = connection_context(services, row)
    ShopifyAdapter().register_webhooks(ctx, "https://relance.example.com")
    with services.sessions() as s:
        row = s.get(Connection, conn_b)
        assert row is not None
        assert services.secrets.decrypt_json(row.credentials_enc)["shop_id"] == "690933842"

    custom = json.loads(shopify_order(7001, "pending", "2026-06-12T10:00:00+02:00"))
    custom["order_status_url"] = f"https://atelier-a.example/{SHOP_ID_A}/orders/t/authenticate"
    body = json.dumps(custom).encode()
    headers = shopify_headers(body, "orders/updated", "ev-a-custom", domain=DOMAIN_B)
    before = row_counts(services)
    answer = client.post(f"/webhooks/shopify/{conn_b}", data=body, headers=headers)
    assert answer.status_code == 401
    assert row_counts(services) == before
