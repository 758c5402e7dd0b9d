"""Tenant isolation, over every route the app has: owner B, signed in, requests each route and
each action with shop A's identifiers in the URL and the form; the answer is 403/404 or a page
of B's own, never anything of A, and nothing of A changes. The routes come from the app's URL
map, so a new route is covered the day it is added; one that anybody may request must be listed
in PUBLIC (with its reason), and every other one must refuse a visitor who is not signed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from connector.actions.accounts import create_owner
from connector.actions.invoices import InstalmentSpec, set_plan
from connector.actions.sequences import RuleInput, add_rule, create_sequence
from connector.services import Services
from connector.store.base import Base
from connector.store.db import write_session
from connector.store.models import Invoice, Shop, TaskKind
from connector.tasks import open_task
from connector.web import create_app
from tests.support.pages import csrf_token

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
A_MARKERS = ("Atelier Dupont", "F-A-001", "marie@a.example")

PUBLIC = {
    "static": "the stylesheet",
    "health.healthz": "for load balancers; says nothing about any shop",
    "auth.signin": "the sign-in form",
    "auth.signout": "ends whatever session there is",
    "auth.forgot": "asks for a reset link; says the same for every email",
    "auth.reset": "the reset link mailed to the owner (the token is the authentication)",
    "onboarding.account": "sign-up, open only while the store has no owner",
    "shopify_app.install": "Shopify's signed install link (hmac, timestamp, shop checked)",
    "shopify_app.callback": "Shopify's signed redirect (hmac, timestamp, shop, one-time state)",
    "platform_callbacks.woocommerce_keys": (
        "WooCommerce's server POSTs the keys; the one-time token bound to the shop is the proof"
    ),
}
SIGNED_BY_PLATFORM = "webhooks"  # the webhook blueprint: its signature is the authentication


def _owner_routes(app: Flask) -> list[Rule]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        if rule.endpoint.startswith(SIGNED_BY_PLATFORM + "."):
            assert rule.rule.startswith("/webhooks/"), rule.rule
            continue
        rules.append(rule)
    return rules


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _identifiers(services: Services, shop: Shop) -> dict[str, Any]:
    """Shop A's identifiers, by the name a route or a form would give them."""
    sequence = create_sequence(services, shop.id, "Shop A's own sequence")
    rule = add_rule(services, shop.id, RuleInput(sequence.id, b2b=True))
    with write_session(services.sessions) as s:
        invoice = s.scalars(select(Invoice).where(Invoice.shop_id == shop.id)).first()
        assert invoice is not None
        task = open_task(  # a bounce of A's, with a letter-to-post's fields: every task route
            s,
            shop_id=shop.id,
            kind=TaskKind.BOUNCE,
            title="Email stopped (bounced): check the customer's address",
            dedupe_key="isolation",
            invoice_id=invoice.id,
            customer_id=invoice.customer_id,
        )
        s.flush()
        invoice_id, amount = invoice.id, invoice.amount_due.amount
    # On a payment plan, so that cancelling it (its page route, bulk) would change something.
    set_plan(
        services,
        shop.id,
        invoice_id,
        [InstalmentSpec(NOW.date() + timedelta(days=15), str(amount))],
        actor="a@a.example",
        now=NOW,
    )
    with services.sessions() as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice is not None and invoice.plan_due_at is not None
        return {
            "sequence_id": sequence.id,
            "step_id": sequence.steps[0].id,
            "rule_id": rule.id,
            "task_id": task.id,
            "shop_id": shop.id,
            "shop": shop.id,
            "id": invoice.id,
            "invoice_id": invoice.id,
            "customer_id": invoice.customer_id,
            "connection_id": invoice.connection_id,
            "number": invoice.number,
        }


def _snapshot(services: Services, shop_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the shop, table by table (and the shop's own row)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("shop_id") if table.name != "shop" else table.c.id
            if column is None:
                continue
            rows = conn.execute(select(table).where(column == shop_id)).all()
            found[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return found


@pytest.fixture
def app_with_everything_on(services: Services) -> Flask:
    """The operator overview on too, so its routes are exercised switched on."""
    settings = replace(services.settings, overview_token="operator-token-0123456789")
    app = create_app(settings=settings, services=replace(services, settings=settings))
    app.config["TESTING"] = True
    return app


def _signed_in_as_b(app: Flask, services: Services, shop_b: Shop) -> tuple[str, str]:
    """B's session cookie and a CSRF token of that session."""
    create_owner(
        services.sessions, email="b@b.example", password=PASSWORD, now=NOW, shop_ids=(shop_b.id,)
    )
    client = app.test_client()
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    resp = client.post(
        "/signin", data={"csrf_token": token, "email": "b@b.example", "password": PASSWORD}
    )
    assert resp.status_code == 302
    home = client.get("/").get_data(as_text=True)  # settles the current shop in the session
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value, csrf_token(home)


def _path(app: Flask, rule: Rule, ids: dict[str, Any]) -> str:
    with app.test_request_context():
        return url_for(rule.endpoint, **{arg: ids[arg] for arg in rule.arguments})


def _request(client: FlaskClient, method: str, url: str, data: dict[str, Any]) -> TestResponse:
    if method == "GET":
        return client.get(url, query_string=data, follow_redirects=True)
    return client.open(url, method=method, data=data, follow_redirects=True)


def test_every_route_refuses_shop_a_to_shop_bs_owner(
    app_with_everything_on: Flask, services: Services, two_shops: tuple[Shop, Shop]
) -> None:
    app = app_with_everything_on
    shop_a, shop_b = two_shops
    create_owner(
        services.sessions, email="a@a.example", password=PASSWORD, now=NOW, shop_ids=(shop_a.id,)
    )
    ids = _identifiers(services, shop_a)
    before = _snapshot(services, shop_a.id)
    cookie, token = _signed_in_as_b(app, services, shop_b)
    checked = []
    for rule in _owner_routes(app):
        missing = [arg for arg in rule.arguments if arg not in ids]
        assert not missing, f"{rule.rule}: give shop A's value for {missing} in _identifiers"
        path = _path(app, rule, ids)
        for method in _methods(rule):
            client = app.test_client()
            client.set_cookie("session", cookie)
            resp = _request(client, method, path, {"csrf_token": token, **ids})
            where = f"{method} {rule.rule} as shop B's owner"
            assert resp.status_code < 500, where
            assert "CSRF" not in resp.get_data(as_text=True), f"{where}: the request never ran"
            if rule.arguments:
                assert resp.status_code in (403, 404), f"{where}: {resp.status_code}"
            html = resp.get_data(as_text=True)
            leaked = [m for m in A_MARKERS if m in html]
            assert not leaked, f"{where} shows shop A's {leaked}"
            checked.append(f"{method} {rule.endpoint}")
    assert _snapshot(services, shop_a.id) == before, "shop A changed"
    assert {"POST home.switch", "GET home.index", "POST onboarding.upload"} <= set(checked)
    assert "POST invoices.plan_cancel" in checked


def test_every_route_not_listed_public_needs_a_signed_in_owner(
    app_with_everything_on: Flask, services: Services, two_shops: tuple[Shop, Shop]
) -> None:
    app = app_with_everything_on
    shop_a, _ = two_shops
    create_owner(
        services.sessions, email="a@a.example", password=PASSWORD, now=NOW, shop_ids=(shop_a.id,)
    )
    ids = _identifiers(services, shop_a)
    for endpoint in PUBLIC:
        assert endpoint in app.view_functions, f"PUBLIC lists {endpoint}, which no longer exists"
    for rule in _owner_routes(app):
        path = _path(app, rule, ids)
        for method in _methods(rule):
            client = app.test_client()
            token = csrf_token(client.get("/signin").get_data(as_text=True))
            resp = client.open(path, method=method, data={"csrf_token": token, **ids})
            where = f"{method} {rule.rule} without signing in"
            assert "CSRF" not in resp.get_data(as_text=True), f"{where}: the request never ran"
            if resp.status_code == 302:
                assert resp.location.startswith("/signin"), f"{where}: to {resp.location}"
            elif rule.endpoint == "overview.index":
                # The operator's own sign-in form (the overview behind it needs the token).
                assert "Operator token" in resp.get_data(as_text=True), where
            else:
                assert resp.status_code in (401, 403, 404), f"{where}: {resp.status_code}"
            leaked = [m for m in A_MARKERS if m in resp.get_data(as_text=True)]
            assert not leaked, f"{where} shows {leaked}"
