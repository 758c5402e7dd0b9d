"""The Shopify door over real HTTP: the app's pages (Flask test client) talk to the local Shopify
(tests/support/fake_shopify.py: OAuth authorize and token endpoints, GraphQL Admin API) through
the real adapter. Every refused request leaves the store as it was (rows counted)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import (
    Connection,
    Invoice,
    Membership,
    OAuthState,
    Owner,
    Reminder,
    ReminderState,
    Shop,
)
from connector.sync import sync_due
from connector.web import create_app
from tests.support.fake_shopify import (
    FakeClock,
    FakeShopify,
    make_order,
    sign_query,
    webhook_headers,
)

API_KEY = "client-id-1"
SECRET = "shpss_test_secret"
SHOP = "relance-test.myshopify.com"
COUNTED = (Shop, Owner, Membership, Connection, OAuthState, Invoice)


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(clock=FakeClock(datetime.now(UTC)), client_id=API_KEY) as running:
        yield running


@pytest.fixture
def shopify_services(services: Services, fake: FakeShopify) -> Services:
    settings = replace(
        services.settings,
        shopify_api_key=API_KEY,
        shopify_api_secret=SECRET,
        shopify_admin_base=fake.base_url,
    )
    return replace(services, settings=settings)


@pytest.fixture
def shopify_app(shopify_services: Services) -> Flask:
    app = create_app(settings=shopify_services.settings, services=shopify_services)
    app.config["TESTING"] = True
    return app


def _signed(params: dict[str, str], secret: str = SECRET) -> str:
    return urlencode({**params, "hmac": sign_query(params, secret)})


def _now() -> str:
    return str(int(datetime.now(UTC).timestamp()))


def _counts(svc: Services) -> dict[str, int]:
    with svc.sessions() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) or 0 for m in COUNTED}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _authorize(location: str) -> str:
    """Shopify's authorize page (the fake approves at once): the callback URL it sends back."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(location, timeout=5)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.read()
        return str(redirect.headers["Location"])
    raise AssertionError("the authorize page did not redirect")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def install(client: FlaskClient, fake: FakeShopify) -> str:
    """Shopify's install link → authorize → the callback; the callback URL that was used."""
    resp = client.get(f"/shopify/install?{_signed({'shop': SHOP, 'timestamp': _now()})}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert resp.location.startswith(fake.base_url + "/admin/oauth/authorize?")
    callback = _authorize(resp.location)
    done = client.get(_path(callback))
    assert done.status_code == 302, done.get_data(as_text=True)
    assert done.location == "/"
    return callback


def _connection(svc: Services) -> Connection:
    with svc.sessions() as s:
        row = s.scalars(select(Connection).where(Connection.platform == "shopify")).one()
        s.expunge(row)
        return row


# -- the install ---------------------------------------------------------------------------------


def test_install_stores_an_expiring_token_encrypted_registers_webhooks_queues_the_sync_and_signs_in(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    client = shopify_app.test_client()
    install(client, fake)

    row = _connection(shopify_services)
    assert row.active and row.external_account == SHOP
    assert row.credentials_enc and "shpat_" not in row.credentials_enc  # encrypted at rest
    creds = shopify_services.secrets.decrypt_json(row.credentials_enc)
    assert creds["access_token"] in fake.access_tokens
    assert creds["refresh_token"] in fake.refresh_tokens  # expiring offline token: a pair
    assert creds["expires_at"] and creds["client_id"] == API_KEY
    grant = fake.token_requests[0]
    assert grant["code"] and str(grant["expiring"]) == "1"
    uri = f"{shopify_services.settings.base_url}/webhooks/shopify/{row.id}"
    topics = sorted(s["topic"] for s in fake.webhook_subscriptions if s["uri"] == uri)
    assert topics == [
        "APP_UNINSTALLED",
        "ORDERS_CANCELLED",
        "ORDERS_PAID",
        "ORDERS_UPDATED",
        "REFUNDS_CREATE",
    ]
    assert row.last_sync_status == "queued" and row.last_sync_at is None  # for the worker
    with shopify_services.sessions() as s:
        shop = s.get(Shop, row.shop_id)
        owner = s.scalars(select(Owner)).one()
        assert shop is not None and shop.name == "Relance Test Shop"
        assert shop.owner_email == fake.shop_email == owner.email

    home = client.get("/")
    page = home.get_data(as_text=True)
    assert home.status_code == 200
    assert "Relance Test Shop" in page and "first sync queued" in page
    assert home.headers["X-Frame-Options"] == "DENY"  # outside the admin: never framed


def test_the_queued_sync_is_the_workers_and_brings_the_unpaid_orders(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    fake.add_orders(make_order(1001, updated_at="2026-11-20T10:00:00Z"))
    client = shopify_app.test_client()
    install(client, fake)
    assert "#1001" not in client.get("/").get_data(as_text=True)  # the web never syncs

    sync_due(shopify_services, datetime.now(UTC))  # what the worker does every minute

    page = client.get("/").get_data(as_text=True)
    assert "#1001" in page and "synced" in page


def test_reinstall_reuses_the_shop_and_its_owner(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    install(shopify_app.test_client(), fake)
    first = _counts(shopify_services)
    install(shopify_app.test_client(), fake)
    again = _counts(shopify_services)
    assert again[Shop.__name__] == first[Shop.__name__] == 1
    assert again[Owner.__name__] == first[Owner.__name__] == 1
    assert again[Connection.__name__] == 1


# -- refused installs and callbacks: 4xx, nothing stored -----------------------------------------


def _stale() -> str:
    return str(int((datetime.now(UTC) - timedelta(days=2)).timestamp()))


@pytest.mark.parametrize(
    ("query", "why"),
    [
        (_signed({"shop": SHOP, "timestamp": "T"}, "not-the-secret"), "hmac"),
        (urlencode({"shop": SHOP, "timestamp": "T"}), "hmac"),
        (_signed({"shop": SHOP, "timestamp": "STALE"}), "timestamp"),
        (_signed({"shop": "evil.example", "timestamp": "T"}), "shop"),
        (_signed({"shop": "x.myshopify.com.evil.example", "timestamp": "T"}), "shop"),
        (_signed({"shop": "X.myshopify.com", "timestamp": "T"}), "shop"),
    ],
)
def test_install_refuses(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify, query: str, why: str
) -> None:
    query = query.replace("STALE", _stale()).replace("=T", "=" + _now())
    if why == "timestamp" or "T" in query:  # re-sign after putting the real timestamp in
        params = {k: v[0] for k, v in parse_qs(query).items() if k != "hmac"}
        secret = "not-the-secret" if "not-the-secret" in str(params) else SECRET
        query = _signed(params, secret) if "hmac=" in query else urlencode(params)
    before = _counts(shopify_services)
    resp = shopify_app.test_client().get(f"/shopify/install?{query}")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert why in resp.get_data(as_text=True)
    assert _counts(shopify_services) == before
    assert fake.authorize_requests == []


def _callback_params(fake: FakeShopify, client: FlaskClient) -> dict[str, str]:
    """A genuine callback's parameters (install started, Shopify approved), not yet used."""
    resp = client.get(f"/shopify/install?{_signed({'shop': SHOP, 'timestamp': _now()})}")
    callback = _authorize(resp.location)
    return {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


@pytest.mark.parametrize("trouble", ["forged_state", "bad_hmac", "stale", "other_shop"])
def test_callback_refuses(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify, trouble: str
) -> None:
    client = shopify_app.test_client()
    params = _callback_params(fake, client)
    params.pop("hmac")
    if trouble == "forged_state":
        params["state"] = "forged-state-never-issued"
    elif trouble == "stale":
        params["timestamp"] = _stale()
    elif trouble == "other_shop":
        params["shop"] = "another-shop.myshopify.com"  # the state was issued for SHOP
    secret = "not-the-secret" if trouble == "bad_hmac" else SECRET
    before = _counts(shopify_services)
    resp = client.get(f"/shopify/callback?{_signed(params, secret)}")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert _counts(shopify_services) == before
    assert fake.token_requests == []  # the code was never exchanged
    assert client.get("/").status_code == 302  # not signed in


def test_a_callback_cannot_be_replayed(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    callback = install(shopify_app.test_client(), fake)
    before = _counts(shopify_services)
    other = shopify_app.test_client()
    resp = other.get(_path(callback))
    assert resp.status_code == 400 and "state" in resp.get_data(as_text=True)
    assert _counts(shopify_services) == before
    assert other.get("/").status_code == 302  # the replayer is not signed in


def test_an_expired_state_is_refused(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    client = shopify_app.test_client()
    params = _callback_params(fake, client)
    with shopify_services.sessions.begin() as s:  # ten minutes later
        for row in s.scalars(select(OAuthState)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    before = _counts(shopify_services)
    assert client.get(f"/shopify/callback?{urlencode(params)}").status_code == 400
    assert _counts(shopify_services) == before


# -- the embedded admin: session tokens -----------------------------------------------------------


def _embedded(token: str) -> str:
    return "/?" + urlencode({"shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20", "id_token": token})


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},
        {"exp_in": -120.0, "secret": "not-the-secret"},
        {"nbf_in": 120.0},
        {"dest": "https://other-shop.myshopify.com"},
        {"dest": "https://relance-test.myshopify.com.evil.example"},
        {"secret": "not-the-secret"},
    ],
)
def test_a_bad_session_token_is_refused_and_stores_nothing(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify, claims: dict[str, Any]
) -> None:
    before = _counts(shopify_services)
    resp = shopify_app.test_client().get(_embedded(fake.session_token(**claims)))
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert _counts(shopify_services) == before
    assert fake.token_requests == []


def test_a_reload_with_a_stale_session_token_asks_app_bridge_for_a_fresh_one(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    """The admin's iframe reloaded a minute later keeps its URL, stale token included: a page
    that fetches a fresh token and loads the same URL again, not a dead end. Nothing is shown
    or stored on the stale token, and a fetch or a form carrying one is still refused."""
    before = _counts(shopify_services)
    stale = fake.session_token(exp_in=-120.0)

    page = shopify_app.test_client().get(_embedded(stale))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="relance-bounce" content="reload"' in html and "Invoices" not in html
    assert _counts(shopify_services) == before and fake.token_requests == []

    bearer = shopify_app.test_client().get("/", headers={"Authorization": f"Bearer {stale}"})
    assert bearer.status_code == 401
    form = shopify_app.test_client().post(
        "/settings", data={"id_token": stale, "shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20"}
    )
    assert form.status_code == 401


def test_a_bad_bearer_token_is_refused(shopify_app: Flask, fake: FakeShopify) -> None:
    token = fake.session_token(aud="another-app")
    resp = shopify_app.test_client().get("/", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_a_token_with_alg_none_is_refused(shopify_app: Flask, fake: FakeShopify) -> None:
    head, body, _ = fake.session_token().split(".")
    none_head = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    assert shopify_app.test_client().get(_embedded(f"{none_head}.{body}.")).status_code == 401
    assert head != none_head


def test_embedded_load_installs_by_token_exchange_and_is_framed_by_that_shop_only(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    resp = shopify_app.test_client().get(_embedded(fake.session_token()))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200, page
    policy = resp.headers["Content-Security-Policy"]
    assert f"frame-ancestors https://{SHOP} https://admin.shopify.com" in policy
    assert "X-Frame-Options" not in resp.headers
    assert '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js">' in page
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in page
    assert "Relance Test Shop" in page
    exchange = fake.token_requests[0]
    assert exchange["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert str(exchange["expiring"]) == "1"
    row = _connection(shopify_services)
    assert row.active and row.last_sync_status == "queued"

    # The next load finds the shop installed: no second exchange, the same shop.
    again = shopify_app.test_client().get(
        "/", headers={"Authorization": f"Bearer {fake.session_token()}"}
    )
    assert again.status_code == 200 and len(fake.token_requests) == 1
    assert _counts(shopify_services)[Shop.__name__] == 1


def test_a_session_token_shows_only_its_own_shop(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify, shop: Shop
) -> None:
    """Another shop in the store (with its own owner) never shows through a token."""
    install(shopify_app.test_client(), fake)
    page = shopify_app.test_client().get(_embedded(fake.session_token())).get_data(as_text=True)
    assert "Relance Test Shop" in page and "Atelier Dupont" not in page


def test_without_the_app_configured_the_install_is_off(app: Flask) -> None:
    resp = app.test_client().get(f"/shopify/install?{_signed({'shop': SHOP, 'timestamp': _now()})}")
    assert resp.status_code == 404
    assert "SHOPIFY_API_KEY" in resp.get_data(as_text=True)  # says what to set


# -- app/uninstalled ----------------------------------------------------------------------------


def _uninstalled(
    client: FlaskClient, connection_id: int, fake: FakeShopify, at: datetime | None = None
) -> int:
    """Shopify's app/uninstalled delivery, fired ``at`` (now by default)."""
    body = json.dumps(
        {"id": fake.shop_id, "name": fake.shop_name, "myshopify_domain": SHOP, "domain": SHOP}
    ).encode()
    fired = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    headers = webhook_headers(
        "app/uninstalled",
        body,
        SECRET,
        shop=SHOP,
        event_id=f"uninstall-{fired}",
        triggered_at=fired,
    )
    resp = client.post(f"/webhooks/shopify/{connection_id}", data=body, headers=headers)
    return resp.status_code


def test_uninstall_erases_the_tokens_and_stops_the_reminders_and_reinstall_resumes(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    fake.add_orders(
        make_order(1001, updated_at="2026-11-20T10:00:00Z", due_at="2026-12-01T00:00:00Z")
    )
    install(shopify_app.test_client(), fake)
    sync_due(shopify_services, datetime.now(UTC))
    row = _connection(shopify_services)
    with shopify_services.sessions.begin() as s:
        shop = s.get(Shop, row.shop_id)
        assert shop is not None
        shop.payment_instructions = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"

    assert _uninstalled(shopify_app.test_client(), row.id, fake) == 200

    gone = _connection(shopify_services)
    assert not gone.active and gone.credentials_enc is None and gone.webhook_ids is None
    with shopify_services.sessions() as s:
        invoice = s.scalars(select(Invoice)).one()
        assert invoice.pause_reason == "app uninstalled"
    due_day = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # D+1, a Wednesday, in the window
    report = dunning_runner(shopify_services).tick(due_day)
    assert [o for o in report.outcomes if o.outcome == "sent"] == []
    with shopify_services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Reminder)) == 0

    install(shopify_app.test_client(), fake)

    back = _connection(shopify_services)
    assert back.id == row.id and back.active and back.credentials_enc
    with shopify_services.sessions() as s:
        assert s.scalars(select(Invoice)).one().pause_reason is None
    report = dunning_runner(shopify_services).tick(due_day)
    with shopify_services.sessions() as s:
        states = s.scalars(select(Reminder.state)).all()
    assert ReminderState.SENT in states, report.as_dict()


def test_an_uninstall_naming_another_shop_is_refused(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    install(shopify_app.test_client(), fake)
    row = _connection(shopify_services)
    body = json.dumps({"id": 1, "myshopify_domain": "other-shop.myshopify.com"}).encode()
    headers = webhook_headers("app/uninstalled", body, SECRET, shop=SHOP, event_id="u-other")
    resp = shopify_app.test_client().post(f"/webhooks/shopify/{row.id}", data=body, headers=headers)
    assert resp.status_code == 401
    assert _connection(shopify_services).active


def test_shop_redact_after_the_uninstall_is_still_verified_and_applied(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    """Shopify sends shop/redact 48 hours after app/uninstalled erased the connection's
    credentials: the app's own secret still verifies it, and the shop's data goes."""
    fake.add_orders(make_order(1001, updated_at="2026-11-20T10:00:00Z"))
    install(shopify_app.test_client(), fake)
    sync_due(shopify_services, datetime.now(UTC))
    row = _connection(shopify_services)
    assert _uninstalled(shopify_app.test_client(), row.id, fake) == 200
    body = json.dumps({"shop_id": fake.shop_id, "shop_domain": SHOP}).encode()
    client = shopify_app.test_client()

    forged = webhook_headers("shop/redact", body, "not-the-secret", shop=SHOP, event_id="r-1")
    assert client.post("/webhooks/shopify", data=body, headers=forged).status_code in (401, 404)
    with shopify_services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 1

    headers = webhook_headers("shop/redact", body, SECRET, shop=SHOP, event_id="r-2")
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    with shopify_services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 0
        assert s.get(Connection, row.id) is None


def test_a_first_install_that_cannot_register_its_webhooks_leaves_no_shop_behind(
    shopify_services: Services, fake: FakeShopify
) -> None:
    """Shopify refuses the webhook address: no connection, and no orphan shop or owner that a
    retry would duplicate."""
    settings = replace(shopify_services.settings, base_url="ftp://relance.example")
    svc = replace(shopify_services, settings=settings)
    app = create_app(settings=settings, services=svc)
    client = app.test_client()
    started = client.get(f"/shopify/install?{_signed({'shop': SHOP, 'timestamp': _now()})}")
    state = parse_qs(urlsplit(started.location).query)["state"][0]
    fake.codes["code-1"] = "ftp://relance.example/shopify/callback"  # as if approved
    before = _counts(svc)

    params = {"code": "code-1", "shop": SHOP, "state": state, "timestamp": _now()}
    resp = client.get(f"/shopify/callback?{_signed(params)}")

    assert resp.status_code == 502
    assert "nothing was connected" in resp.get_data(as_text=True)
    assert _counts(svc) == before
    assert fake.webhook_subscriptions == []
    assert client.get("/").status_code == 302  # not signed in


def test_the_app_url_loaded_inside_the_admin_forwards_its_session_token_to_the_home(
    shopify_app: Flask, fake: FakeShopify
) -> None:
    """The Partner dashboard's App URL is /shopify/install: inside the admin Shopify loads it
    with a session token, which installs (token exchange) and leads to the home, framed."""
    query = {
        "embedded": "1",
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcmVsYW5jZS10ZXN0",
        "id_token": fake.session_token(),
        "shop": SHOP,
        "timestamp": _now(),
    }
    resp = shopify_app.test_client().get(f"/shopify/install?{_signed(query)}")
    assert resp.status_code == 302 and resp.location.startswith("/?")
    assert f"frame-ancestors https://{SHOP} " in resp.headers["Content-Security-Policy"]
    assert fake.authorize_requests == []  # no OAuth round trip inside the admin

    home = shopify_app.test_client().get(resp.location)  # no cookie: the token alone
    assert home.status_code == 200 and "Relance Test Shop" in home.get_data(as_text=True)
    assert "Sign out" not in home.get_data(as_text=True)  # Shopify signs people in and out


def test_the_installed_expiring_token_is_refreshed_and_the_new_pair_stored(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    fake.add_orders(make_order(1001, updated_at="2026-11-20T10:00:00Z"))
    install(shopify_app.test_client(), fake)
    row = _connection(shopify_services)
    assert row.credentials_enc is not None
    old = shopify_services.secrets.decrypt_json(row.credentials_enc)
    fake.expire_token(old["access_token"])  # its hour is up

    sync_due(shopify_services, datetime.now(UTC))

    row = _connection(shopify_services)
    assert row.last_sync_status == "ok" and row.credentials_enc is not None
    new = shopify_services.secrets.decrypt_json(row.credentials_enc)
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]  # rotated, and kept
    assert fake.refresh_requests[-1]["refresh_token"] == old["refresh_token"]


def test_a_late_retry_of_an_older_uninstall_does_not_undo_the_reinstall(
    shopify_app: Flask, shopify_services: Services, fake: FakeShopify
) -> None:
    """Shopify retries app/uninstalled for hours with its original timestamp: one fired
    before the reinstall arrives after it, and the reinstalled shop carries on."""
    install(shopify_app.test_client(), fake)
    row = _connection(shopify_services)
    fired_before = datetime.now(UTC) - timedelta(minutes=30)

    assert _uninstalled(shopify_app.test_client(), row.id, fake, at=fired_before) == 200

    still = _connection(shopify_services)
    assert still.active and still.credentials_enc is not None
