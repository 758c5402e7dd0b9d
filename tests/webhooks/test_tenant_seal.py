"""Shopify deliveries are bound to their shop, not by the unsigned header: every shop shares the
app secret, so a delivery captured for shop A verifies on B's URL too. A's bytes replayed to B
(B's URL, the app-level URL, a changed X-Shopify-Shop-Domain or event id) change nothing of B."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, Shop, WebhookEvent
from tests.support.webhooks import (
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
