"""Validly signed bodies that no parser branch foresaw answer 400 with nothing written, never a
500: JSON nested past the interpreter's recursion limit, amounts no Decimal context holds. And a
chunked body (no Content-Length) over the limit answers 413 through a real HTTP server."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import cast

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from adapters.stripe import StripeAdapter
from adapters.woocommerce.webhooks import sign as woo_sign
from connector.config import Settings
from connector.domain.money import Money
from connector.platform import ConnectionContext, NormalizedEvent, PlatformAdapter
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Shop
from connector.web import create_app
from connector.webhooks.intake import WebhookIntake
from connector.webhooks.registry import AdapterRegistry
from tests.conftest import make_env
from tests.support.fake_woocommerce import ORDER_FIXTURE
from tests.support.webhooks import (
    SendGridSigner,
    make_connection,
    shopify_connection,
    shopify_headers,
    shopify_order,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)
from tests.webhooks.conftest import row_counts

WOO_SECRET = "wc-robustness-secret"
DEEP = b"[" * 100_000 + b"]" * 100_000  # well under the size limit, far past the recursion limit


def _woo_connection(svc: Services, shop_id: int) -> int:
    return make_connection(
        svc,
        shop_id,
        "woocommerce",
        secret=WOO_SECRET,
        credentials={
            "site_url": "https://shop.example",
            "consumer_key": "k",
            "consumer_secret": "s",
        },
        external_account="https://shop.example",
    )


def _woo_headers(body: bytes, topic: str = "order.updated") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Signature": woo_sign(body, WOO_SECRET),
        "X-WC-Webhook-Delivery-ID": "d41d8cd98f00b204e9800998ecf8427e",
    }


Post = Callable[[FlaskClient, Services, Shop, SendGridSigner, bytes], int]


def _post_stripe(
    client: FlaskClient, svc: Services, shop: Shop, _: SendGridSigner, b: bytes
) -> int:
    conn_id = stripe_connection(svc, shop.id)
    return client.post(f"/webhooks/stripe/{conn_id}", data=b, headers=stripe_headers(b)).status_code


def _post_shopify(
    client: FlaskClient, svc: Services, shop: Shop, _: SendGridSigner, b: bytes
) -> int:
    conn_id = shopify_connection(svc, shop.id)
    headers = shopify_headers(b, "orders/paid", "ev-robust")
    return client.post(f"/webhooks/shopify/{conn_id}", data=b, headers=headers).status_code


def _post_shopify_app(
    client: FlaskClient, svc: Services, shop: Shop, _: SendGridSigner, b: bytes
) -> int:
    shopify_connection(svc, shop.id)
    headers = shopify_headers(b, "customers/redact", "ev-robust")
    return client.post("/webhooks/shopify", data=b, headers=headers).status_code


def _post_woo(client: FlaskClient, svc: Services, shop: Shop, _: SendGridSigner, b: bytes) -> int:
    conn_id = _woo_connection(svc, shop.id)
    return client.post(
        f"/webhooks/woocommerce/{conn_id}", data=b, headers=_woo_headers(b)
    ).status_code


def _post_sendgrid(
    client: FlaskClient, svc: Services, shop: Shop, signer: SendGridSigner, b: bytes
) -> int:
    return client.post("/webhooks/sendgrid", data=b, headers=signer.headers(b)).status_code


ROUTES: dict[str, Post] = {
    "stripe": _post_stripe,
    "shopify": _post_shopify,
    "shopify app": _post_shopify_app,
    "woocommerce": _post_woo,
    "sendgrid": _post_sendgrid,
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_signed_json_nested_past_the_recursion_limit_is_400(
    services: Services, shop: Shop, client: FlaskClient, signer: SendGridSigner, route: str
) -> None:
    before = row_counts(services)
    assert ROUTES[route](client, services, shop, signer, DEEP) == 400
    assert row_counts(services) == before


def _absurd_shopify_order() -> bytes:
    body = json.loads(shopify_order(7001, "partially_paid", "2026-06-12T10:00:00+02:00"))
    body["total_outstanding"] = "1e30"
    return json.dumps(body).encode()


def _absurd_shopify_refund() -> bytes:
    refund = {
        "id": 929361462,
        "order_id": 7001,
        "created_at": "2026-06-12T10:00:00+02:00",
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "1e30", "currency": "USD"}
        ],
    }
    return json.dumps(refund).encode()


def _absurd_woo_order() -> bytes:
    fixture = ORDER_FIXTURE
    body = json.loads(fixture.read_bytes())
    body.update(total="1e30", status="on-hold", date_paid_gmt=None)
    return json.dumps(body).encode()


def test_an_absurd_shopify_amount_is_400(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = shopify_connection(services, shop.id)
    before = row_counts(services)
    for topic, body in (
        ("orders/updated", _absurd_shopify_order()),
        ("refunds/create", _absurd_shopify_refund()),
    ):
        headers = shopify_headers(body, topic, f"ev-absurd-{topic}")
        resp = client.post(f"/webhooks/shopify/{conn_id}", data=body, headers=headers)
        assert resp.status_code == 400, topic
        assert "out of range" in resp.get_json()["status"]
    assert row_counts(services) == before


def test_an_absurd_woocommerce_amount_is_400(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = _woo_connection(services, shop.id)
    body = _absurd_woo_order()
    before = row_counts(services)
    resp = client.post(f"/webhooks/woocommerce/{conn_id}", data=body, headers=_woo_headers(body))
    assert resp.status_code == 400
    assert "out of range" in resp.get_json()["status"]
    assert row_counts(services) == before


@pytest.mark.parametrize("amount", ["1e30", "-1e30", "9" * 40, "1e999999", "10000000000000.00"])
def test_money_refuses_absurd_amounts_as_value_errors(amount: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Money.of(amount, "EUR")
    assert Money.of("9999999999999.99", "EUR").to_minor() == 10**15 - 1


# -- chunked bodies through a real server -----------------------------------------------------

LIMIT = 8192


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Services, int, int]]:
    """A real werkzeug server (what `relance serve` runs) with a small body limit."""
    env = make_env(database_url, tmp_path / "var", RELANCE_MAX_WEBHOOK_BYTES=str(LIMIT))
    svc = Services.build(Settings.from_env(env))
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier Dupont", email="compta@dupont.example").id
    conn_id = stripe_connection(svc, shop_id)
    srv: BaseWSGIServer = make_server("127.0.0.1", 0, create_app(services=svc), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield svc, srv.server_port, conn_id
    srv.shutdown()
    thread.join(timeout=10)
    svc.close()


def _post_chunked(port: int, path: str, headers: dict[str, str], body: bytes) -> int:
    """POST over a plain socket with ``Transfer-Encoding: chunked`` and no Content-Length."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for start in range(0, len(body), 1000):
            part = body[start : start + 1000]
            sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.read()
        return response.status


def _padded_stripe_event(size: int) -> bytes:
    """A signed-able invoice.paid event padded with JSON whitespace to exactly ``size`` bytes."""
    body = stripe_invoice_event("evt_chunked", "in_C1", created=int(time.time()))
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + body[-1:]


def test_a_chunked_body_over_the_limit_is_413_and_one_at_it_goes_through(
    served: tuple[Services, int, int],
) -> None:
    svc, port, conn_id = served
    path = f"/webhooks/stripe/{conn_id}"
    over = _padded_stripe_event(LIMIT + 1)
    before = row_counts(svc)
    assert _post_chunked(port, path, stripe_headers(over), over) == 413
    assert row_counts(svc) == before
    at_limit = _padded_stripe_event(LIMIT)
    assert _post_chunked(port, path, stripe_headers(at_limit), at_limit) == 200
    assert row_counts(svc)["webhook_event"] == 1


class _ParserBug:
    """A Stripe adapter whose parser hits a case it did not foresee (not a WebhookParseError)."""

    platform = "stripe"
    credential_fields = StripeAdapter.credential_fields

    def __init__(self) -> None:
        self._real = StripeAdapter()

    def verify_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw: bytes
    ) -> bool:
        return self._real.verify_webhook(conn, headers, raw)

    def parse_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw: bytes
    ) -> NormalizedEvent:
        raise KeyError("data")


def test_any_exception_from_a_verified_bodys_parse_is_400(services: Services, shop: Shop) -> None:
    conn_id = stripe_connection(services, shop.id)
    registry = AdapterRegistry({"stripe": cast(PlatformAdapter, _ParserBug())})
    intake = WebhookIntake(services, registry, background=False)
    body = stripe_invoice_event("evt_bug", "in_B1", created=int(time.time()))
    before = row_counts(services)
    result = intake.receive("stripe", conn_id, stripe_headers(body), body)
    assert (result.status, result.detail) == (400, "unreadable event")
    assert row_counts(services) == before
