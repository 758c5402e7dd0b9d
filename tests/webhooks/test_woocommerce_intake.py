"""WooCommerce deliveries through the Flask route, built from the shared order fixture and signed
as WooCommerce signs them (base64 HMAC-SHA256 of the raw body with the webhook's secret)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

from flask.testing import FlaskClient
from sqlalchemy import func, select

from adapters.woocommerce.webhooks import sign
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.models import Payment, Shop, WebhookEvent, WebhookOutcome
from tests.support.builders import invoice_by_number
from tests.support.fake_woocommerce import ORDER_FIXTURE
from tests.support.webhooks import make_connection, open_invoice, seed_invoices
from tests.webhooks.conftest import row_counts

FIXTURE = ORDER_FIXTURE
SECRET = "wc-webhook-secret"


def woo_connection(svc: Services, shop_id: int) -> int:
    return make_connection(
        svc,
        shop_id,
        "woocommerce",
        secret=SECRET,
        credentials={
            "site_url": "https://shop.example",
            "consumer_key": "ck_x",
            "consumer_secret": "cs_x",
        },
        external_account="https://shop.example",
    )


def delivery(body: bytes, topic: str = "order.updated") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": topic.split(".")[1],
        "X-WC-Webhook-Signature": sign(body, SECRET),
        "X-WC-Webhook-Delivery-ID": "d41d8cd98f00b204e9800998ecf8427e",
    }


def test_a_signed_paid_order_closes_the_invoice(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = woo_connection(services, shop.id)
    # Synced before the order was paid (the fixture's order was modified on 2017-03-22).
    synced = replace(
        open_invoice("727", amount="29.35", due_on=date(2026, 6, 10)),
        updated_at=datetime(2017, 3, 20, tzinfo=UTC),
    )
    seed_invoices(services, shop.id, conn_id, [synced])
    body = FIXTURE.read_bytes()
    url = f"/webhooks/woocommerce/{conn_id}"
    answer = client.post(url, data=body, headers=delivery(body))
    assert answer.status_code == 200, answer.get_json()
    assert client.post(url, data=body, headers=delivery(body)).get_json()["status"] == "duplicate"
    assert invoice_by_number(services, "727").status is InvoiceStatus.PAID
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        [event] = s.scalars(select(WebhookEvent)).all()
    order = json.loads(body)
    assert event.dedupe_key == f"727@{order['date_modified_gmt']}"
    assert event.outcome is WebhookOutcome.APPLIED


def test_one_byte_changed_is_401_and_writes_nothing(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = woo_connection(services, shop.id)
    body = FIXTURE.read_bytes()
    headers = delivery(body)
    tampered = body.replace(b'"29.35"', b'"20.35"')
    assert tampered != body
    before = row_counts(services)
    answer = client.post(f"/webhooks/woocommerce/{conn_id}", data=tampered, headers=headers)
    assert answer.status_code == 401
    assert row_counts(services) == before


def test_creation_pings_are_answered_and_never_grow_the_store(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = woo_connection(services, shop.id)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for webhook_id in (41, 42, 43):
        answer = client.post(
            f"/webhooks/woocommerce/{conn_id}", data=f"webhook_id={webhook_id}", headers=form
        )
        assert answer.status_code == 200
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    # Anything else unsigned is refused.
    answer = client.post(f"/webhooks/woocommerce/{conn_id}", data=b"{}", headers=form)
    assert answer.status_code == 401


def test_a_replayed_deletion_is_a_duplicate_whatever_its_delivery_header(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = woo_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("727", amount="29.35")])
    body = b'{"id":727}'  # what WooCommerce signs for order.deleted: the id, nothing else
    url = f"/webhooks/woocommerce/{conn_id}"
    first = client.post(url, data=body, headers=delivery(body, "order.deleted"))
    assert first.get_json()["status"] == "accepted"
    assert invoice_by_number(services, "727").status is InvoiceStatus.VOID
    before = row_counts(services)
    # The delivery id is unsigned: a replay with another one, or none, changes nothing.
    for replayed in ({"X-WC-Webhook-Delivery-ID": "another"}, {"X-WC-Webhook-Delivery-ID": ""}):
        answer = client.post(
            url, data=body, headers={**delivery(body, "order.deleted"), **replayed}
        )
        assert answer.get_json() == {"status": "duplicate", "stored": 0, "duplicates": 1}
    assert row_counts(services) == before
    with services.sessions() as s:
        [event] = s.scalars(select(WebhookEvent)).all()
    assert event.dedupe_key == "727@deleted"
