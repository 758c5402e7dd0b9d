"""Signature matrix per platform: every forgery → 401 and zero rows written; the platforms'
own signed deliveries (shared fixtures, SendGrid's signed vector) accepted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.config import Settings
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.models import Shop, WebhookEvent, WebhookOutcome
from connector.web import create_app
from tests.conftest import make_env
from tests.support.builders import invoice_by_number
from tests.support.webhooks import (
    FIXTURES,
    SENDGRID_BATCH,
    SENDGRID_VECTOR,
    SHOPIFY_ORDER,
    SHOPIFY_SHOP_ID,
    SendGridSigner,
    open_invoice,
    seed_invoices,
    shopify_connection,
    shopify_headers,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)
from tests.webhooks.conftest import row_counts

Forgery = Callable[[bytes], tuple[bytes, dict[str, str]]]


def _flip(body: bytes) -> bytes:
    i = len(body) // 2
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]


def _reserialized(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=2, sort_keys=True).encode()


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


STRIPE_BODY = stripe_invoice_event("evt_sig", "in_S1", created=int(time.time()))

STRIPE_FORGERIES: dict[str, Forgery] = {
    "wrong secret": lambda b: (b, stripe_headers(b, "whsec_someone_else")),
    "one byte changed": lambda b: (_flip(b), stripe_headers(b)),
    "re-serialized JSON": lambda b: (_reserialized(b), stripe_headers(b)),
    "missing header": lambda b: (b, _without(stripe_headers(b), "Stripe-Signature")),
    "timestamp outside tolerance": lambda b: (b, stripe_headers(b, t=int(time.time()) - 301)),
    "timestamp far in the future": lambda b: (b, stripe_headers(b, t=int(time.time()) + 3600)),
}


@pytest.mark.parametrize("forgery", list(STRIPE_FORGERIES), ids=list(STRIPE_FORGERIES))
def test_stripe_forgeries_are_401_and_write_nothing(
    services: Services, shop: Shop, client: FlaskClient, forgery: str
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_S1")])
    body, headers = STRIPE_FORGERIES[forgery](STRIPE_BODY)
    before = row_counts(services)
    resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=headers)
    assert resp.status_code == 401
    assert row_counts(services) == before
    # The genuine delivery goes through: the refusal was the forgery's, not the setup's.
    ok = client.post(
        f"/webhooks/stripe/{conn_id}", data=STRIPE_BODY, headers=stripe_headers(STRIPE_BODY)
    )
    assert ok.status_code == 200


SHOPIFY_BODY = json.dumps(
    {
        "shop_id": 954889,
        "shop_domain": "atelier-dupont.myshopify.com",
        "customer": {"id": 191167, "email": "marie@client.example", "phone": None},
        "orders_to_redact": [],
    }
).encode()
REDACT = "customers/redact"

SHOPIFY_FORGERIES: dict[str, Forgery] = {
    "wrong secret": lambda b: (b, shopify_headers(b, REDACT, "e1", secret="shpss_other_app")),
    "one byte changed": lambda b: (_flip(b), shopify_headers(b, REDACT, "e1")),
    "re-serialized JSON": lambda b: (_reserialized(b), shopify_headers(b, REDACT, "e1")),
    "missing header": lambda b: (
        b,
        _without(shopify_headers(b, REDACT, "e1"), "X-Shopify-Hmac-Sha256"),
    ),
}


@pytest.mark.parametrize("forgery", list(SHOPIFY_FORGERIES), ids=list(SHOPIFY_FORGERIES))
@pytest.mark.parametrize("route", ["app", "connection"])
def test_shopify_forgeries_are_401_and_write_nothing(
    services: Services, shop: Shop, client: FlaskClient, forgery: str, route: str
) -> None:
    conn_id = shopify_connection(services, shop.id)
    url = "/webhooks/shopify" if route == "app" else f"/webhooks/shopify/{conn_id}"
    body, headers = SHOPIFY_FORGERIES[forgery](SHOPIFY_BODY)
    before = row_counts(services)
    assert client.post(url, data=body, headers=headers).status_code == 401
    assert row_counts(services) == before
    genuine = shopify_headers(SHOPIFY_BODY, REDACT, "e1")
    assert client.post(url, data=SHOPIFY_BODY, headers=genuine).status_code == 200


SENDGRID_BODY = json.dumps(SENDGRID_BATCH[:3]).encode() + b"\r\n"


def _sendgrid_forgeries(signer: SendGridSigner) -> dict[str, Forgery]:
    other = SendGridSigner()
    return {
        "wrong key": lambda b: (b, other.headers(b)),
        "one byte changed": lambda b: (_flip(b), signer.headers(b)),
        "re-serialized JSON": lambda b: (_reserialized(b), signer.headers(b)),
        "missing signature header": lambda b: (
            b,
            _without(signer.headers(b), "X-Twilio-Email-Event-Webhook-Signature"),
        ),
        "missing timestamp header": lambda b: (
            b,
            _without(signer.headers(b), "X-Twilio-Email-Event-Webhook-Timestamp"),
        ),
        "signature not base64": lambda b: (
            b,
            {**signer.headers(b), "X-Twilio-Email-Event-Webhook-Signature": "%%%"},
        ),
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "wrong key",
        "one byte changed",
        "re-serialized JSON",
        "missing signature header",
        "missing timestamp header",
        "signature not base64",
    ],
)
def test_sendgrid_forgeries_are_401_and_write_nothing(
    services: Services, client: FlaskClient, signer: SendGridSigner, forgery: str
) -> None:
    body, headers = _sendgrid_forgeries(signer)[forgery](SENDGRID_BODY)
    before = row_counts(services)
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).status_code == 401
    assert row_counts(services) == before
    ok = client.post(
        "/webhooks/sendgrid", data=SENDGRID_BODY, headers=signer.headers(SENDGRID_BODY)
    )
    assert ok.status_code == 200


def test_sendgrids_own_signed_vector_is_accepted(database_url: str, tmp_path: Path) -> None:
    env = make_env(
        database_url,
        tmp_path / "var",
        SENDGRID_WEBHOOK_PUBLIC_KEY=SENDGRID_VECTOR["public_key_b64_der"],
    )
    svc = Services.build(Settings.from_env(env))
    try:
        client = create_app(services=svc).test_client()
        body = SENDGRID_VECTOR["raw_body"].encode()
        headers = dict(SENDGRID_VECTOR["headers"])
        resp = client.post("/webhooks/sendgrid", data=body, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        assert client.post("/webhooks/sendgrid", data=body, headers=headers).get_json() == {
            "status": "accepted",
            "stored": 0,
            "duplicates": 1,
        }
        with svc.sessions() as s:
            [row] = s.scalars(select(WebhookEvent)).all()
        assert row.dedupe_key == SENDGRID_VECTOR["events"][0]["sg_event_id"]
        assert row.scope == "sendgrid" and row.topic == "dropped"
        assert row.outcome is WebhookOutcome.IGNORED  # not one of our messages
        tampered = body.replace(b"hello@world.com", b"hello@world.org")
        assert client.post("/webhooks/sendgrid", data=tampered, headers=headers).status_code == 401
    finally:
        svc.close()


def test_sendgrid_unconfigured_is_404(database_url: str, tmp_path: Path) -> None:
    svc = Services.build(Settings.from_env(make_env(database_url, tmp_path / "var")))
    try:
        client = create_app(services=svc).test_client()
        body = SENDGRID_VECTOR["raw_body"].encode()
        resp = client.post("/webhooks/sendgrid", data=body, headers=SENDGRID_VECTOR["headers"])
        assert resp.status_code == 404
        assert row_counts(svc)["webhook_event"] == 0
    finally:
        svc.close()


def test_the_shared_stripe_delivery_is_accepted_as_is(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    raw = (FIXTURES / "stripe" / "stripe_event_invoice_paid.json").read_bytes()
    invoice_id = json.loads(raw)["data"]["object"]["id"]
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice(invoice_id)])
    resp = client.post(f"/webhooks/stripe/{conn_id}", data=raw, headers=stripe_headers(raw))
    assert resp.status_code == 200
    assert invoice_by_number(services, "54B03F60-0003").status is InvoiceStatus.PAID


def test_the_shared_shopify_delivery_is_accepted_as_is(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    raw = (FIXTURES / "shopify" / "shopify_orders_webhook_test_notification_2019.json").read_bytes()
    # The canned body is apple.myshopify.com's (its order_status_url names that shop and id).
    conn_id = shopify_connection(
        services, shop.id, "apple.myshopify.com", shopify_shop_id=SHOPIFY_SHOP_ID
    )
    headers = shopify_headers(raw, "orders/cancelled", "ev-2019", domain="apple.myshopify.com")
    resp = client.post(f"/webhooks/shopify/{conn_id}", data=raw, headers=headers)
    assert resp.status_code == 200
    with services.sessions() as s:
        [row] = s.scalars(select(WebhookEvent)).all()
    assert row.dedupe_key == "ev-2019" and row.kind == "voided"
    assert str(SHOPIFY_ORDER["id"]) in row.raw_body.decode()
