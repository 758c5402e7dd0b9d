"""Connecting from the pages, over real HTTP against the local WooCommerce and Stripe servers:
WooCommerce's application authorization (the keys POSTed to our callback with the one-time
token) and pasted keys, a pasted Stripe restricted key, Stripe Connect OAuth; then the
Connections page's sync now, progress and disconnect. Every refusal stores nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from adapters.woocommerce.adapter import WooCommerceAdapter
from connector.actions.accounts import create_owner
from connector.actions.connect_flows import GRANT_VALID_FOR, start_woocommerce_authorization
from connector.scheduler import requested_syncs
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import ConnectGrant, Connection, Invoice, Shop
from connector.sync import sync_connection
from tests.support.fake_stripe import FULL_PERMISSIONS, FakeStripe
from tests.support.fake_woocommerce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    ORDERS,
    FakeWooCommerce,
)
from tests.support.pages import csrf_token
from tests.support.serving import served_app

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PLATFORM_KEY = "sk_test_platform"
CLIENT_ID = "ca_relance_test"


@dataclass
class Env:
    app: Flask
    svc: Services
    base: str
    woo: FakeWooCommerce
    stripe: FakeStripe
    shop: Shop
    owner_id: int

    def client(self, email: str = "a@a.example") -> FlaskClient:
        """A browser signed in as that owner."""
        client = self.app.test_client()
        token = csrf_token(client.get("/signin").get_data(as_text=True))
        resp = client.post(
            "/signin", data={"csrf_token": token, "email": email, "password": PASSWORD}
        )
        assert resp.status_code == 302
        client.get("/")
        return client

    def connections(self) -> list[Connection]:
        with self.svc.sessions() as s:
            return list(s.scalars(select(Connection).where(Connection.platform != "csv")))


@pytest.fixture
def env(services: Services, shop: Shop) -> Iterator[Env]:
    with (
        FakeWooCommerce() as woo,
        FakeStripe(api_keys=(PLATFORM_KEY,)) as stripe,
        served_app(
            services,
            stripe_connect_client_id=CLIENT_ID,
            stripe_secret_key=PLATFORM_KEY,
            stripe_connect_base=stripe.url,
            stripe_api_base=stripe.url,
        ) as (app, svc, base),
    ):
        owner = create_owner(
            svc.sessions, email="a@a.example", password=PASSWORD, now=NOW, shop_ids=(shop.id,)
        )
        yield Env(app, svc, base, woo, stripe, shop, owner.id)


def _form(client: FlaskClient, path: str, data: dict[str, str]) -> Any:
    token = csrf_token(client.get("/connections").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def _text(resp: Any) -> str:
    """A page's text as a person reads it (entities decoded)."""
    return html.unescape(resp.get_data(as_text=True))


def _local(url: str) -> str:
    """The path and query of one of our own URLs, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _authorize_woocommerce(env: Env, client: FlaskClient) -> requests.Response:
    """The owner asks, their browser goes to the store's approval page (which POSTs the keys to
    our callback), and comes back with WooCommerce's redirect."""
    start = _form(client, "/connections/woocommerce", {"store_url": env.woo.url})
    target = _onward(start)
    assert target.startswith(f"{env.woo.url}/wc-auth/v1/authorize?")
    return requests.get(target, allow_redirects=False, timeout=30)


def _onward(resp: Any) -> str:
    """The platform page a "continue on the platform" page sends the owner to."""
    assert resp.status_code == 200, _text(resp)
    found = re.search(
        r'<a class="button" id="continue" href="([^"]+)"', resp.get_data(as_text=True)
    )
    assert found, "no link onward"
    return html.unescape(found.group(1))


# -- WooCommerce ---------------------------------------------------------------------------


def test_woocommerce_authorization_connects_the_store(env: Env) -> None:
    client = env.client()
    back = _authorize_woocommerce(env, client)
    assert back.status_code == 302, back.text
    assert back.headers["Location"].startswith(f"{env.base}/connections/woocommerce/return?")
    assert "success=1" in back.headers["Location"]
    callback, body, status = env.woo.auth_posts[-1]
    assert callback == f"{env.base}/connect/woocommerce/{env.shop.id}/callback"
    assert status == 200

    landed = client.get(_local(back.headers["Location"]), follow_redirects=True)
    html = landed.get_data(as_text=True)
    assert landed.status_code == 200
    assert f"WooCommerce store {env.woo.url} connected." in html
    assert "Connected" in html and env.woo.url in html

    [conn] = env.connections()
    assert (conn.shop_id, conn.platform, conn.external_account, conn.active) == (
        env.shop.id,
        "woocommerce",
        env.woo.url,
        True,
    )
    assert (
        env.svc.secrets.decrypt_json(conn.credentials_enc or "")["consumer_key"]
        == body["consumer_key"]
    )
    hooks = list(env.woo.webhooks.values())
    assert len(hooks) == 4
    assert {h["delivery_url"] for h in hooks} == {f"{env.base}/webhooks/woocommerce/{conn.id}"}
    assert conn.sync_requested_at is not None  # the first sync, for the worker


def test_woocommerce_callback_refuses_forged_reused_expired_and_other_shops_tokens(
    env: Env,
) -> None:
    with write_session(env.svc.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example")
        other_id = other.id
    urls = {"callback_url": "http://unused.example/cb", "return_url": "http://unused.example/r"}
    now = datetime.now(UTC)

    def start(shop_id: int, at: datetime) -> str:
        link = start_woocommerce_authorization(
            env.svc, shop_id, env.owner_id, env.woo.url, at, **urls
        )
        return dict(p.split("=", 1) for p in urlsplit(link).query.split("&"))["user_id"]

    def post(shop_id: int, token: str) -> Any:
        return env.app.test_client().post(
            f"/connect/woocommerce/{shop_id}/callback",
            json={
                "key_id": 1,
                "user_id": token,
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": CONSUMER_SECRET,
                "key_permissions": "read_write",
            },
        )

    forged = post(env.shop.id, "not-a-token-we-gave")
    others = post(env.shop.id, start(other_id, now))  # shop B's token at shop A's callback
    expired = post(env.shop.id, start(env.shop.id, now - timedelta(minutes=31)))
    assert [r.status_code for r in (forged, others, expired)] == [403, 403, 403]
    assert "expired" in expired.get_json()["error"]
    assert env.connections() == [] and env.woo.webhooks == {}

    token = start(env.shop.id, now)
    assert post(env.shop.id, token).status_code == 200
    replay = post(env.shop.id, token)
    assert replay.status_code == 403 and "already used" in replay.get_json()["error"]
    assert len(env.connections()) == 1 and len(env.woo.webhooks) == 4


def test_a_read_only_key_is_refused_by_the_callback_and_nothing_is_kept(env: Env) -> None:
    env.woo.auth_permissions = "read"
    back = _authorize_woocommerce(env, env.client())
    assert back.status_code == 401  # WooCommerce's own error page: the key was deleted there
    assert env.woo.auth_posts[-1][2] == 400 and env.woo.issued_keys == {}
    assert env.connections() == [] and env.woo.webhooks == {}


def test_declined_on_woocommerce_says_so(env: Env) -> None:
    env.woo.approve_auth = False
    client = env.client()
    back = _authorize_woocommerce(env, client)
    html = client.get(_local(back.headers["Location"]), follow_redirects=True).get_data(
        as_text=True
    )
    assert "You did not approve Relance on WooCommerce: nothing was connected." in html
    assert env.connections() == []


def test_another_shops_return_link_is_not_found(env: Env) -> None:
    back = _authorize_woocommerce(env, env.client())
    with write_session(env.svc.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example")
        other_id = other.id
    create_owner(
        env.svc.sessions, email="b@b.example", password=PASSWORD, now=NOW, shop_ids=(other_id,)
    )
    resp = env.client("b@b.example").get(_local(back.headers["Location"]))
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("store", "key", "secret", "says"),
    [
        ("{woo}", "ck_wrong", CONSUMER_SECRET, "refused these keys"),
        ("{woo}", CONSUMER_KEY, "cs_wrong", "refused these keys"),
        ("{woo}/blog", CONSUMER_KEY, CONSUMER_SECRET, "no WooCommerce REST API answers at"),
        ("http://127.0.0.1:9", CONSUMER_KEY, CONSUMER_SECRET, "could not be reached"),
        ("not a url", CONSUMER_KEY, CONSUMER_SECRET, "store URL: 'not a url' is not a web address"),
        ("{woo}", "wrong", CONSUMER_SECRET, "consumer key: it starts with ck_"),
    ],
)
def test_wrong_pasted_woocommerce_keys_say_what_is_wrong_and_keep_nothing(
    env: Env, store: str, key: str, secret: str, says: str
) -> None:
    resp = _form(
        env.client(),
        "/connections/woocommerce/keys",
        {
            "store_url": store.format(woo=env.woo.url),
            "consumer_key": key,
            "consumer_secret": secret,
        },
    )
    assert resp.status_code == 400
    assert says in _text(resp)
    assert env.connections() == [] and env.woo.webhooks == {}


def test_pasted_woocommerce_keys_are_tried_then_connected(env: Env) -> None:
    resp = _form(
        env.client(),
        "/connections/woocommerce/keys",
        {
            "store_url": env.woo.url,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
        },
    )
    assert resp.status_code == 302
    assert env.woo.calls("GET", ORDERS)[0].params["per_page"] == "1"  # the test call, first
    [conn] = env.connections()
    assert conn.active and len(env.woo.webhooks) == 4


# -- Stripe --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lacking", "named"),
    [
        ("rak_webhook_write", "Webhook Endpoints: Write"),
        ("rak_customer_read", "Customers: Read"),
        ("rak_event_read", "Events: Read"),
        ("rak_invoice_read", "Invoices: Read"),
    ],
)
def test_a_stripe_key_missing_a_permission_is_refused_naming_it(
    env: Env, lacking: str, named: str
) -> None:
    env.stripe.add_restricted_key("rk_test_partial", FULL_PERMISSIONS - {lacking})
    resp = _form(env.client(), "/connections/stripe/key", {"api_key": "rk_test_partial"})
    assert resp.status_code == 400
    assert f"lacks the permission {named}" in _text(resp)
    assert env.connections() == [] and env.stripe.webhook_endpoints == {}


def test_a_stripe_key_with_its_permissions_connects(env: Env) -> None:
    env.stripe.add_restricted_key("rk_test_good", FULL_PERMISSIONS)
    resp = _form(env.client(), "/connections/stripe/key", {"api_key": "rk_test_good"})
    assert resp.status_code == 302
    [conn] = env.connections()
    assert conn.platform == "stripe" and conn.active
    [endpoint] = env.stripe.webhook_endpoints.values()
    assert endpoint["url"] == f"{env.base}/webhooks/stripe/{conn.id}"


def test_an_unknown_stripe_key_is_refused(env: Env) -> None:
    resp = _form(env.client(), "/connections/stripe/key", {"api_key": "rk_test_unknown"})
    assert resp.status_code == 400 and "Invalid API Key" in _text(resp)
    assert env.connections() == []


def test_stripe_connect_oauth_connects_the_account_through_the_platform_key(env: Env) -> None:
    client = env.client()
    target = _onward(_form(client, "/connections/stripe/connect", {}))
    assert target.startswith(f"{env.stripe.url}/oauth/authorize?")
    assert f"client_id={CLIENT_ID}" in target and "scope=read_write" in target
    back = requests.get(target, allow_redirects=False, timeout=30)
    assert back.headers["Location"].startswith(f"{env.base}/connections/stripe/callback?")
    landed = client.get(_local(back.headers["Location"]))
    assert landed.status_code == 302, landed.get_data(as_text=True)

    [account] = env.stripe.connected_accounts
    [conn] = env.connections()
    assert conn.external_account == account and conn.active
    # Every call for the account carries Stripe-Account with the platform's key.
    reads = env.stripe.calls("GET", "/v1/invoices")
    assert reads and all(r.headers.get("stripe-account") == account for r in reads)
    assert all(r.headers["authorization"] == f"Bearer {PLATFORM_KEY}" for r in reads)
    [endpoint] = env.stripe.webhook_endpoints.values()
    assert endpoint["url"] == f"{env.base}/webhooks/stripe/{conn.id}"


def test_stripe_connect_with_a_forged_or_replayed_state_is_refused(env: Env) -> None:
    client = env.client()
    code = env.stripe.issue_oauth_code()
    forged = client.get(f"/connections/stripe/callback?code={code}&state=forged")
    assert forged.status_code == 400
    assert "unknown here" in forged.get_data(as_text=True)
    assert env.stripe.calls("POST", "/oauth/token") == []  # the code was never exchanged
    assert env.connections() == []

    target = _onward(_form(client, "/connections/stripe/connect", {}))
    back = requests.get(target, allow_redirects=False, timeout=30)
    assert client.get(_local(back.headers["Location"])).status_code == 302
    replay = client.get(_local(back.headers["Location"]))
    assert replay.status_code == 400 and "already used" in replay.get_data(as_text=True)
    assert len(env.connections()) == 1


# -- the Connections page: sync now, progress, disconnect -----------------------------------


def _woo_connected(env: Env, orders: int) -> int:
    for i in range(orders):
        env.woo.add_order(total=f"{100 + i}.00", email=f"client{i}@example.com")
    resp = _form(
        env.client(),
        "/connections/woocommerce/keys",
        {
            "store_url": env.woo.url,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
        },
    )
    assert resp.status_code == 302
    [conn] = env.connections()
    return conn.id


def test_sync_now_is_run_by_the_worker_and_reported(env: Env) -> None:
    cid = _woo_connected(env, orders=3)
    client = env.client()
    requested_syncs(env.svc)  # the first sync, asked for by the connect
    progress = client.get(f"/connections/{cid}/progress").get_json()
    assert progress["state"] == "idle" and progress["invoices"] == 3
    env.woo.add_order(total="42.00", email="late@example.com")

    resp = _form(client, f"/connections/{cid}/sync", {})
    assert resp.status_code == 302
    assert client.get(f"/connections/{cid}/progress").get_json()["state"] == "waiting"
    before = len(env.woo.calls("GET", ORDERS))
    requested_syncs(env.svc)  # what the worker's job runs every few seconds
    assert len(env.woo.calls("GET", ORDERS)) > before
    with env.svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 4
    done = client.get(f"/connections/{cid}/progress").get_json()
    assert done["state"] == "idle" and done["last_sync_ok"] is True
    after = len(env.woo.calls("GET", ORDERS))
    requested_syncs(env.svc)  # nothing asked: nothing synced
    assert len(env.woo.calls("GET", ORDERS)) == after
    assert env.connections()[0].sync_requested_at is None


def test_progress_reports_pages_and_invoices_while_a_sync_runs(env: Env) -> None:
    cid = _woo_connected(env, orders=5)
    client = env.client()
    seen: list[dict[str, Any]] = []
    adapter = WooCommerceAdapter(page_size=2, sleep=lambda _: None, retries=0)
    sync_connection(
        env.svc,
        cid,
        datetime.now(UTC),
        adapters={"woocommerce": adapter},
        progress=lambda pages, invoices: seen.append(
            client.get(f"/connections/{cid}/progress").get_json()
        ),
    )
    # Each write of pages (a few at once, or sooner on a slow platform) is seen while running.
    progress = [(p["state"], p["pages"], p["invoices"]) for p in seen]
    assert progress and all(state == "running" for state, _, _ in progress)
    assert progress == sorted(progress) and progress[-1] == ("running", 3, 5)
    page = _text(client.get("/connections"))
    assert "Last sync read 5 invoices in 3 pages." in page


def test_a_failed_sync_is_explained_in_plain_words(env: Env) -> None:
    cid = _woo_connected(env, orders=3)
    env.woo.fail_after("GET", ORDERS, served=0)
    adapter = WooCommerceAdapter(page_size=2, sleep=lambda _: None, retries=0)
    with pytest.raises(Exception, match="after 0 retries"):
        sync_connection(env.svc, cid, datetime.now(UTC), adapters={"woocommerce": adapter})
    page = _text(env.client().get("/connections"))
    assert "The WooCommerce store could not be reached. The next sync tries again." in page
    assert "Needs attention" in page


def test_disconnect_is_confirmed_unregisters_the_webhooks_and_keeps_history(env: Env) -> None:
    cid = _woo_connected(env, orders=2)
    requested_syncs(env.svc)
    client = env.client()
    confirm = client.get(f"/connections/{cid}/disconnect")
    assert confirm.status_code == 200 and "Disconnect WooCommerce?" in confirm.get_data(
        as_text=True
    )
    token = csrf_token(confirm.get_data(as_text=True))
    unconfirmed = client.post(f"/connections/{cid}/disconnect", data={"csrf_token": token})
    assert unconfirmed.status_code == 200 and len(env.woo.webhooks) == 4  # asks again

    done = client.post(
        f"/connections/{cid}/disconnect", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 302
    assert env.woo.webhooks == {}
    [conn] = env.connections()
    assert not conn.active and conn.credentials_enc is None
    with env.svc.sessions() as s:
        invoices = list(s.scalars(select(Invoice).where(Invoice.connection_id == cid)))
    assert len(invoices) == 2 and all(i.pause_reason == "connection removed" for i in invoices)
    page = _text(client.get("/connections"))
    assert "Disconnected" in page and "Reminders paused for 2 open invoice(s)." in page


def test_another_shops_connection_is_not_found(env: Env) -> None:
    cid = _woo_connected(env, orders=1)
    with write_session(env.svc.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example")
        other_id = other.id
    create_owner(
        env.svc.sessions, email="b@b.example", password=PASSWORD, now=NOW, shop_ids=(other_id,)
    )
    b = env.client("b@b.example")
    token = csrf_token(b.get("/connections").get_data(as_text=True))
    assert b.get(f"/connections/{cid}/progress").status_code == 404
    assert b.get(f"/connections/{cid}/disconnect").status_code == 404
    for action in ("sync", "disconnect"):
        resp = b.post(f"/connections/{cid}/{action}", data={"csrf_token": token, "confirm": "yes"})
        assert resp.status_code == 404
    assert env.woo.webhooks and env.connections()[0].active
    assert env.connections()[0].sync_requested_at is not None  # A's own first-sync request only
    assert env.woo.url not in b.get("/connections").get_data(as_text=True)


def test_grants_are_stored_hashed(env: Env) -> None:
    link = start_woocommerce_authorization(
        env.svc, env.shop.id, env.owner_id, env.woo.url, NOW, callback_url="c", return_url="r"
    )
    token = link.split("user_id=")[1].split("&")[0]
    with env.svc.sessions() as s:
        [grant] = s.scalars(select(ConnectGrant)).all()
    assert token not in grant.token_hash and len(grant.token_hash) == 64


def test_grants_expired_over_a_day_are_deleted_when_the_next_is_issued(env: Env) -> None:
    def issue(at: datetime) -> None:
        start_woocommerce_authorization(
            env.svc, env.shop.id, env.owner_id, env.woo.url, at, callback_url="c", return_url="r"
        )

    issue(NOW - timedelta(days=3))  # expired two days before NOW: deleted
    issue(NOW - timedelta(hours=12))  # expired, but its outcome may still be read: kept
    issue(NOW)
    with env.svc.sessions() as s:
        expiries = sorted(s.scalars(select(ConnectGrant.expires_at)).all())
    assert expiries == [
        NOW - timedelta(hours=12) + GRANT_VALID_FOR,
        NOW + GRANT_VALID_FOR,
    ]
