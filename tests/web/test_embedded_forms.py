"""Forms inside the Shopify admin: the iframe has no cookie (third-party cookies blocked), so
static/embedded.js posts a fresh session token with each form. Such a POST, with no cookie at
all, is signed in by the token alone and is not held to the cookie-bound CSRF token; its
redirect keeps the shop, host and token (and the flash message, signed) so the next page loads
embedded too. Everything else stays behind CSRF, and a bad token changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from connector.platform import InvoiceStatus
from connector.sandbox.shopify import make_session_token
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Connection,
    Invoice,
    Sequence,
    Shop,
    Step,
    Task,
    TaskKind,
    TaskState,
)
from connector.tasks import open_task
from connector.web import create_app
from tests.support.builders import add_invoices, normalized
from tests.support.owner import signed_in
from tests.support.pages import csrf_token

API_KEY = "client-id-1"
SECRET = "shpss_test_secret"
SHOP = "relance-test.myshopify.com"
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcmVsYW5jZS10ZXN0"


@pytest.fixture
def shopify_services(services: Services) -> Iterator[Services]:
    settings = replace(services.settings, shopify_api_key=API_KEY, shopify_api_secret=SECRET)
    yield replace(services, settings=settings)


@pytest.fixture
def embedded_app(shopify_services: Services, shop: Shop) -> Flask:
    """The app, and ``shop`` installed as the Shopify store SHOP (its owner a member)."""
    signed_in_app = create_app(settings=shopify_services.settings, services=shopify_services)
    signed_in(signed_in_app, shopify_services, shop.id, "owner@dupont.example")  # the owner
    with write_session(shopify_services.sessions) as s:
        s.add(
            Connection(
                shop_id=shop.id,
                platform="shopify",
                external_account=SHOP,
                credentials_enc=shopify_services.secrets.encrypt_json(
                    {"access_token": "shpat_x", "client_id": API_KEY}
                ),
                active=True,
            )
        )
    return signed_in_app


@pytest.fixture
def invoice_id(shopify_services: Services, shop: Shop) -> int:
    add_invoices(
        shopify_services,
        shop,
        [normalized("F-7", email="a@client.example", due_on=date(2026, 6, 1), amount="240.00")],
    )
    with shopify_services.sessions() as s:
        found = s.scalar(select(Invoice.id).where(Invoice.number == "F-7"))
        assert found is not None
        return found


def _token(**claims: Any) -> str:
    secret = claims.pop("secret", SECRET)
    claims.setdefault("aud", API_KEY)
    claims.setdefault("dest", f"https://{SHOP}")
    return make_session_token(secret, now=datetime.now(UTC), **claims)


def _cookieless(app: Flask) -> FlaskClient:
    """The admin's iframe: no cookie is ever kept."""
    return app.test_client(use_cookies=False)


def _embedded_post(client: FlaskClient, path: str, token: str, **form: str) -> TestResponse:
    """What embedded.js sends: the form's fields plus id_token, shop and host; no CSRF token."""
    return client.post(path, data={**form, "id_token": token, "shop": SHOP, "host": HOST})


def _follow(client: FlaskClient, resp: TestResponse) -> str:
    """The redirect kept the embedded parameters; the page it leads to, loaded without cookie."""
    assert resp.status_code in (302, 303), resp.get_data(as_text=True)
    query = parse_qs(urlsplit(resp.location).query)
    assert query["shop"] == [SHOP] and query["host"] == [HOST] and query["id_token"]
    page = client.get(resp.location)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "Sign in" not in page.get_data(as_text=True)
    return page.get_data(as_text=True)


def test_a_settings_save_with_a_session_token_and_no_cookie(
    embedded_app: Flask, shopify_services: Services, shop: Shop
) -> None:
    client = _cookieless(embedded_app)
    resp = _embedded_post(client, "/settings/identity", _token(), contact_name="Léa Martin")
    page = _follow(client, resp)
    assert "Identity settings saved." in page  # the flash message, carried in the URL
    assert 'value="Léa Martin"' in page
    with shopify_services.sessions() as s:
        row = s.get(Shop, shop.id)
        assert row is not None and row.contact_name == "Léa Martin"


def test_mark_paid_with_a_session_token_and_no_cookie(
    embedded_app: Flask, shopify_services: Services, invoice_id: int
) -> None:
    client = _cookieless(embedded_app)
    resp = _embedded_post(
        client, f"/invoices/{invoice_id}/pay", _token(), source="bank_transfer", confirm="yes"
    )
    assert urlsplit(resp.location).path == f"/invoices/{invoice_id}"
    assert "received by bank transfer" in _follow(client, resp)
    with shopify_services.sessions() as s:
        inv = s.get(Invoice, invoice_id)
        assert inv is not None and inv.status is InvoiceStatus.PAID


def test_a_task_closed_with_a_session_token_and_no_cookie(
    embedded_app: Flask, shopify_services: Services, shop: Shop, invoice_id: int
) -> None:
    with write_session(shopify_services.sessions) as s:
        task = open_task(
            s,
            shop_id=shop.id,
            kind=TaskKind.ESCALATION,
            title="Call Marie Curie",
            dedupe_key="esc",
            invoice_id=invoice_id,
        )
        s.flush()
        task_id = task.id
    client = _cookieless(embedded_app)
    resp = _embedded_post(client, f"/tasks/{task_id}/close", _token())
    assert "Task closed." in _follow(client, resp)
    with shopify_services.sessions() as s:
        row = s.get(Task, task_id)
        assert row is not None and row.state is TaskState.DONE


def test_a_sequence_made_and_its_step_edited_with_a_session_token_and_no_cookie(
    embedded_app: Flask, shopify_services: Services, shop: Shop
) -> None:
    client = _cookieless(embedded_app)
    made = _embedded_post(client, "/sequences/new", _token(), name="Gentle")
    assert "Sequence “Gentle” created" in _follow(client, made)
    with shopify_services.sessions() as s:
        sequence = s.scalars(
            select(Sequence).where(Sequence.shop_id == shop.id, Sequence.name == "Gentle")
        ).one()
        step = s.scalars(
            select(Step).where(Step.sequence_id == sequence.id).order_by(Step.position)
        ).first()
        assert step is not None
        step_id, sequence_id, channel = step.id, sequence.id, step.channel.value
    resp = _embedded_post(
        client,
        f"/sequences/steps/{step_id}",
        _token(),
        offset_days="-4",
        channel=channel,
        tone="polite",
        sequence_id=str(sequence_id),
    )
    assert "D-4" in _follow(client, resp)
    with shopify_services.sessions() as s:
        row = s.get(Step, step_id)
        assert row is not None and row.offset_days == -4


def test_without_a_token_and_without_a_cookie_csrf_refuses(
    embedded_app: Flask, shopify_services: Services, invoice_id: int
) -> None:
    resp = _cookieless(embedded_app).post(
        f"/invoices/{invoice_id}/pay",
        data={"source": "bank_transfer", "confirm": "yes", "shop": SHOP, "host": HOST},
    )
    assert resp.status_code == 400
    _unpaid(shopify_services, invoice_id)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp_in": -120.0},  # expired
        {"dest": "https://other-shop.myshopify.com"},  # another shop's admin
        {"aud": "another-app"},
        {"secret": "not-the-secret"},  # not minted by Shopify for us
    ],
)
def test_a_bad_token_in_the_form_is_refused_and_changes_nothing(
    embedded_app: Flask, shopify_services: Services, invoice_id: int, claims: dict[str, Any]
) -> None:
    resp = _embedded_post(
        _cookieless(embedded_app),
        f"/invoices/{invoice_id}/pay",
        _token(**claims),
        source="bank_transfer",
        confirm="yes",
    )
    assert resp.status_code == 401
    _unpaid(shopify_services, invoice_id)


def test_a_token_for_another_shop_than_the_form_names_is_refused(
    embedded_app: Flask, shopify_services: Services, invoice_id: int
) -> None:
    client = _cookieless(embedded_app)
    resp = client.post(
        f"/invoices/{invoice_id}/pay",
        data={"id_token": _token(), "shop": "other-shop.myshopify.com", "confirm": "yes"},
    )
    assert resp.status_code == 401
    _unpaid(shopify_services, invoice_id)


def test_a_cookie_session_post_without_its_csrf_token_is_still_refused(
    embedded_app: Flask, shopify_services: Services, shop: Shop, invoice_id: int
) -> None:
    client = signed_in(embedded_app, shopify_services, shop.id, "second@dupont.example")
    resp = client.post(f"/invoices/{invoice_id}/pay", data={"confirm": "yes"})
    assert resp.status_code == 400
    _unpaid(shopify_services, invoice_id)
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    ok = client.post(
        f"/invoices/{invoice_id}/pay", data={"confirm": "yes", "csrf_token": csrf_token(page)}
    )
    assert ok.status_code == 303 and "id_token" not in ok.location  # not embedded: untouched


def test_a_forged_notice_is_not_shown(embedded_app: Flask, invoice_id: int) -> None:
    query = urlencode(
        {"id_token": _token(), "shop": SHOP, "host": HOST, "notice": "W1siZG9uZSIsIkhpIl1d"}
    )
    page = _cookieless(embedded_app).get(f"/invoices/{invoice_id}?{query}")
    assert page.status_code == 200 and 'class="flash' not in page.get_data(as_text=True)


def _unpaid(services: Services, invoice_id: int) -> None:
    with services.sessions() as s:
        inv = s.get(Invoice, invoice_id)
        assert inv is not None and inv.status is not InvoiceStatus.PAID


def test_a_page_loaded_in_the_admin_without_a_token_asks_app_bridge_for_one(
    embedded_app: Flask,
) -> None:
    """Not our sign-in page (the iframe has no cookie): a blank page, framed by that admin only,
    whose embedded.js reloads the same URL with a fresh token."""
    resp = _cookieless(embedded_app).get(f"/tasks?{urlencode({'shop': SHOP, 'host': HOST})}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200, page
    assert "Sign in" not in page and "Call" not in page  # nothing of the shop's
    assert '<meta name="relance-bounce" content="reload">' in page and "embedded.js" in page
    assert f"frame-ancestors https://{SHOP} " in resp.headers["Content-Security-Policy"]
    # Not a shop's host: the usual sign-in, never framed.
    other = _cookieless(embedded_app).get(
        f"/tasks?{urlencode({'shop': 'x.example', 'host': HOST})}"
    )
    assert other.status_code == 302 and "/signin" in other.location
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]


def test_the_scripts_fetches_with_a_bearer_token_and_no_cookie(
    embedded_app: Flask, shopify_services: Services, shop: Shop, invoice_id: int
) -> None:
    """The sequence preview (a fetch POST from sequences.js, a Bearer token from App Bridge or
    embedded.js) works without cookie or CSRF token; its HTML frame may sit inside the admin."""
    with shopify_services.sessions() as s:
        step_id = s.scalars(
            select(Step.id)
            .join(Sequence, Sequence.id == Step.sequence_id)
            .where(Sequence.shop_id == shop.id, Sequence.is_default)
            .order_by(Step.position)
        ).first()
    client = _cookieless(embedded_app)
    bearer = {"Authorization": f"Bearer {_token()}"}
    form = {"invoice_id": str(invoice_id), "subject": "Votre facture", "body": "Bonjour"}
    data = client.post(f"/sequences/steps/{step_id}/preview", data=form, headers=bearer)
    assert data.status_code == 200 and data.get_json().get("subject") == "Votre facture", (
        data.get_json()
    )
    html = client.post(
        f"/sequences/steps/{step_id}/preview", data={**form, "format": "html"}, headers=bearer
    )
    assert html.status_code == 200
    assert (
        f"frame-ancestors 'self' https://{SHOP} https://admin.shopify.com;"
        in (html.headers["Content-Security-Policy"])
    )
    assert "X-Frame-Options" not in html.headers
    without = client.post(f"/sequences/steps/{step_id}/preview", data=form)
    assert without.status_code == 400  # no token, no cookie: CSRF still refuses
