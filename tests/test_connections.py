"""Connect is all or nothing, against the local platforms: a failure after the platform created
webhooks removes them and leaves no connection behind; `connections list|remove` (remove
unregisters the webhooks, erases the credentials, keeps the history, pauses open invoices)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from adapters.shopify import ShopifyAdapter
from adapters.shopify.settings import ShopifySettings
from adapters.stripe import StripeAdapter
from adapters.woocommerce import WooCommerceAdapter
from connector.actions.connections import (
    PAUSED_BY_REMOVAL,
    ConnectionsError,
    connect,
    list_connections,
    remove_connection,
)
from connector.cli import cli
from connector.ingest import upsert_invoices
from connector.platform import ConnectionContext, WebhookRegistration
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Reminder, ReminderState, Shop
from connector.sync import platform_connections
from tests.support.builders import normalized
from tests.support.fake_shopify import FakeClock, FakeShopify, load_admin_schema
from tests.support.fake_stripe import DEFAULT_API_KEY, FakeStripe
from tests.support.fake_woocommerce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SITE_URL,
    WEBHOOKS,
    FakeWooCommerce,
)

NOW = datetime(2026, 6, 11, 8, 0, tzinfo=UTC)
SHOPIFY_DOMAIN = "relance-test.myshopify.com"


def no_sleep(_: float) -> None:
    return None


class ConnectionLostAfterRegistering:
    """The real adapter; once the platform has created the webhooks, the connection row is
    gone before it can be activated (a shop/redact erasing the shop mid-connect): the core's
    own failure after registration, which must remove the webhooks at the platform."""

    def __init__(self, inner: Any, svc: Services) -> None:
        self.inner = inner
        self.svc = svc
        self.platform = inner.platform
        self.credential_fields = inner.credential_fields

    def register_webhooks(self, conn: ConnectionContext, base_url: str) -> WebhookRegistration:
        registration = self.inner.register_webhooks(conn, base_url)
        with write_session(self.svc.sessions) as s:
            s.execute(delete(Connection).where(Connection.id == conn.id))
        return registration  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def stripe_fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def woo_fake() -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce() as server:
        yield server


@pytest.fixture
def shopify_fake() -> Iterator[FakeShopify]:
    with FakeShopify(clock=FakeClock(), schema=load_admin_schema()) as server:
        yield server


def connections_in_store(svc: Services) -> int:
    with svc.sessions() as s:
        return s.scalar(select(func.count()).select_from(Connection)) or 0


def stripe_credentials() -> dict[str, str | None]:
    return {"api_key": DEFAULT_API_KEY, "account": None}


def test_stripe_endpoint_created_without_secret_is_deleted_and_nothing_kept(
    services: Services, shop: Shop, stripe_fake: FakeStripe
) -> None:
    stripe_fake.malform("POST", "/v1/webhook_endpoints", 1, "no_secret")
    with pytest.raises(ConnectionsError, match=r"without a secret; nothing was connected"):
        connect(
            services,
            shop.id,
            "stripe",
            stripe_credentials(),
            NOW,
            api_base=stripe_fake.url,
            adapters={"stripe": StripeAdapter(sleep=no_sleep)},
        )
    assert len(stripe_fake.calls("POST", "/v1/webhook_endpoints")) == 1  # it was created…
    assert stripe_fake.webhook_endpoints == {}  # …and deleted again
    assert connections_in_store(services) == 0
    assert platform_connections(services) == []  # `relance sync` has nothing to fail on

    # The same account connects fine afterwards.
    done = connect(
        services,
        shop.id,
        "stripe",
        stripe_credentials(),
        NOW,
        api_base=stripe_fake.url,
        adapters={"stripe": StripeAdapter(sleep=no_sleep)},
    )
    assert done.active and done.webhooks == list(stripe_fake.webhook_endpoints)
    with services.sessions() as s:
        row = s.get(Connection, done.id)
        assert row is not None and row.webhook_secret_enc and row.credentials_enc
        secret = services.secrets.decrypt(row.webhook_secret_enc)
    assert secret == next(iter(stripe_fake.webhook_endpoints.values()))["secret"]


def test_stripe_failure_in_the_store_after_registering_removes_the_endpoint(
    services: Services, shop: Shop, stripe_fake: FakeStripe
) -> None:
    lost = ConnectionLostAfterRegistering(StripeAdapter(sleep=no_sleep), services)
    with pytest.raises(ConnectionsError, match=r"vanished.*nothing was connected"):
        connect(
            services,
            shop.id,
            "stripe",
            stripe_credentials(),
            NOW,
            api_base=stripe_fake.url,
            adapters={"stripe": lost},  # type: ignore[dict-item]
        )
    assert len(stripe_fake.calls("POST", "/v1/webhook_endpoints")) == 1
    assert stripe_fake.webhook_endpoints == {}
    assert connections_in_store(services) == 0


def test_woocommerce_failure_midway_removes_the_webhooks_made(
    services: Services, shop: Shop, woo_fake: FakeWooCommerce
) -> None:
    woo_fake.fail_after("POST", WEBHOOKS, served=2)
    with pytest.raises(ConnectionsError, match="nothing was connected"):
        connect(
            services,
            shop.id,
            "woocommerce",
            {
                "site_url": SITE_URL,
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": CONSUMER_SECRET,
            },
            NOW,
            api_base=woo_fake.url,
            adapters={"woocommerce": WooCommerceAdapter(sleep=no_sleep)},
        )
    assert woo_fake.webhooks == {}
    assert connections_in_store(services) == 0


def test_shopify_failure_after_registering_removes_the_subscriptions(
    services: Services, shop: Shop, shopify_fake: FakeShopify
) -> None:
    token = shopify_fake.issue_token_pair(None)["access_token"]
    adapter = ShopifyAdapter(ShopifySettings(max_retries=0), sleep=no_sleep)
    with pytest.raises(ConnectionsError):
        connect(
            services,
            shop.id,
            "shopify",
            {
                "shop": SHOPIFY_DOMAIN,
                "access_token": token,
                "client_id": "client-id-1",
                "client_secret": "shpss_test_secret",
            },
            NOW,
            api_base=shopify_fake.base_url,
            adapters={
                "shopify": ConnectionLostAfterRegistering(adapter, services)  # type: ignore[dict-item]
            },
        )
    assert shopify_fake.operations().count("RelanceWebhookSubscriptionCreate") == 5
    assert shopify_fake.webhook_subscriptions == []
    assert connections_in_store(services) == 0


def test_a_failed_reconnect_leaves_the_working_connection_as_it_was(
    services: Services, shop: Shop, stripe_fake: FakeStripe
) -> None:
    adapters: dict[str, Any] = {"stripe": StripeAdapter(sleep=no_sleep)}
    first = connect(
        services, shop.id, "stripe", stripe_credentials(), NOW, api_base=stripe_fake.url,
        adapters=adapters,
    )  # fmt: skip
    with services.sessions() as s:
        before = s.get(Connection, first.id)
        assert before is not None
        stored = (before.credentials_enc, before.webhook_secret_enc, before.webhook_ids)
    stripe_fake.malform("POST", "/v1/webhook_endpoints", 2, "no_secret")
    with pytest.raises(ConnectionsError):
        connect(
            services, shop.id, "stripe", stripe_credentials(), NOW, api_base=stripe_fake.url,
            adapters=adapters,
        )  # fmt: skip
    with services.sessions() as s:
        after = s.get(Connection, first.id)
        assert after is not None and after.active
        assert (after.credentials_enc, after.webhook_secret_enc, after.webhook_ids) == stored
    assert list(stripe_fake.webhook_endpoints) == first.webhooks  # the working one stays


def test_remove_unregisters_erases_credentials_keeps_history_and_pauses(
    services: Services, shop: Shop, stripe_fake: FakeStripe
) -> None:
    adapters: dict[str, Any] = {"stripe": StripeAdapter(sleep=no_sleep)}
    done = connect(
        services, shop.id, "stripe", stripe_credentials(), NOW, api_base=stripe_fake.url,
        adapters=adapters,
    )  # fmt: skip
    with write_session(services.sessions) as s:
        row = s.get(Connection, done.id)
        merged = s.get(Shop, shop.id)
        assert row is not None and merged is not None
        item = normalized("in_open", email="a@client.example", due_on=date(2026, 6, 1))
        upsert_invoices(s, merged, row, [item], NOW)
    (listed,) = list_connections(services, shop.id)
    assert listed.active and listed.platform == "stripe" and listed.webhooks

    removal = remove_connection(services, shop.id, done.id, NOW, adapters=adapters)

    assert stripe_fake.webhook_endpoints == {}
    assert removal.webhooks_removed == listed.webhooks and removal.invoices_paused == 1
    with services.sessions() as s:
        row = s.get(Connection, done.id)
        assert row is not None and not row.active
        assert row.credentials_enc is None and row.webhook_secret_enc is None
        inv = s.scalar(select(Invoice).where(Invoice.connection_id == done.id))
        assert inv is not None and inv.pause_reason == PAUSED_BY_REMOVAL  # history kept
        claimed = s.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.state == ReminderState.CLAIMED)
        )
    assert claimed == 0
    assert platform_connections(services) == []
    (listed,) = list_connections(services, shop.id)
    assert not listed.active
    with pytest.raises(ConnectionsError, match="already removed"):
        remove_connection(services, shop.id, done.id, NOW, adapters=adapters)

    # Another shop cannot see or remove it.
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Other", email="o@other.example").id
    assert list_connections(services, other) == []
    with pytest.raises(ConnectionsError, match=f"no platform connection {done.id} in shop"):
        remove_connection(services, other, done.id, NOW, adapters=adapters)

    # Reconnecting resumes the invoices the removal paused.
    connect(
        services, shop.id, "stripe", stripe_credentials(), NOW, api_base=stripe_fake.url,
        adapters=adapters,
    )  # fmt: skip
    with services.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.connection_id == done.id))
        assert inv is not None and inv.pause_reason is None


def test_cli_connect_shopify_with_shop_domain_list_and_remove(
    env: dict[str, str], shopify_fake: FakeShopify
) -> None:
    """`--shop` is the tenant everywhere; the store domain is `--shop-domain`; no warnings."""
    runner = CliRunner()
    env = {**env, "RELANCE_BASE_URL": "https://relance.example"}

    def run(*args: str) -> tuple[int, str, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a UserWarning fails the command
            result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert run("db", "upgrade")[0] == 0
    for name in ("Atelier", "Autre"):
        code, _, err = run("shop", "create", "--name", name, "--email", "o@shop.example")
        assert code == 0, err
    token = shopify_fake.issue_token_pair(None)["access_token"]
    code, out, err = run(
        "connect", "shopify", "--shop-domain", SHOPIFY_DOMAIN, "--shop", "2",
        "--access-token", token, "--client-id", "client-id-1",
        "--client-secret", "shpss_test_secret", "--api-base", shopify_fake.base_url, "--json",
    )  # fmt: skip
    assert code == 0, err
    connected = json.loads(out)
    assert connected["account"] == SHOPIFY_DOMAIN and len(connected["webhooks"]) == 5
    assert len(shopify_fake.webhook_subscriptions) == 5

    code, out, err = run("connections", "list", "--shop", "2", "--json")
    assert code == 0, err
    (listed,) = json.loads(out)
    assert (listed["id"], listed["shop"], listed["state"]) == (connected["connection"], 2, "active")
    code, out, _ = run("connections", "list", "--shop", "1", "--json")
    assert json.loads(out) == []

    code, out, err = run("connections", "remove", str(connected["connection"]), "--shop", "2")
    assert code == 0, err
    assert "5 webhook(s) deleted at shopify" in out
    assert shopify_fake.webhook_subscriptions == []
    code, _, err = run("connections", "remove", str(connected["connection"]), "--shop", "2")
    assert code == 1 and "already removed" in err and err.count("\n") == 1
