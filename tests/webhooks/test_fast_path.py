"""Deliveries skip the pages' request machinery (connector.web.webhook_fast_path): none of the
app's request hooks runs for them — no session, no CSRF check, no rate-limit bookkeeping — while
their answers stay those of the blueprint (JSON, security headers) and every other request still
goes through Flask. The adapters' entry points are looked up once per process, not per apply."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import connector.webhooks.registry as registry_module
from connector.services import Services
from connector.store.models import Shop, WebhookEvent
from connector.webhooks.registry import AdapterRegistry
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

NOW = int(time.time())


def test_a_delivery_runs_none_of_the_pages_request_hooks(
    services: Services, shop: Shop, app: Flask, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_F1")])
    seen: list[str] = []
    app.before_request(lambda: seen.append("before") and None)
    body = stripe_invoice_event("evt_F1", "in_F1", created=NOW)

    resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))

    assert resp.status_code == 200
    assert resp.get_json() == {"status": "accepted", "stored": 1, "duplicates": 0}
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in resp.headers
    assert seen == []
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    # The pages still go through Flask, hooks and all.
    assert client.get("/healthz").status_code == 200
    assert seen == ["before"]


def test_a_refused_delivery_gets_the_same_answer_without_the_hooks(
    services: Services, shop: Shop, app: Flask, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seen: list[str] = []
    app.before_request(lambda: seen.append("before") and None)
    body = stripe_invoice_event("evt_F2", "in_F2", created=NOW)

    resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers={"Stripe-Signature": "x"})

    assert resp.status_code == 401
    assert resp.get_json() == {"status": "invalid signature", "stored": 0, "duplicates": 0}
    assert seen == []


def test_the_adapters_entry_points_are_looked_up_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Looking them up reads every installed distribution's metadata (milliseconds); the pump
    of `relance serve` makes a registry for nearly every delivery it applies."""
    assert AdapterRegistry().get("stripe") is not None
    lookups: list[str] = []
    real = registry_module.entry_points

    def counted(**kwargs: str):  # type: ignore[no-untyped-def]
        lookups.append(kwargs.get("group", ""))
        return real(**kwargs)

    monkeypatch.setattr(registry_module, "entry_points", counted)

    for _ in range(3):
        fresh = AdapterRegistry()
        assert fresh.get("stripe") is not None
        assert fresh.get("woocommerce") is not None
        assert fresh.get("no-such-platform") is None
    assert lookups == []
