"""fetch_status, register_webhooks (also through ``relance connect woocommerce``), discovery."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.woocommerce import WooCommerceAdapter
from connector.cli import cli
from connector.config import Settings
from connector.platform import (
    ENTRY_POINT_GROUP,
    AdapterError,
    AdapterNotFound,
    ConnectionContext,
    InvoiceStatus,
    PlatformAdapter,
    UnregistersWebhooks,
    load_adapters,
)
from connector.services import Services
from connector.store.models import Connection
from tests.support.fake_woocommerce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SITE_URL,
    WEBHOOKS,
    FakeWooCommerce,
)


def test_fetch_status(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    order = fake.add_order(status="pending", currency="JPY", total="1500")
    inv = adapter.fetch_status(conn, str(order["id"]))
    assert (
        inv is not None and inv.status is InvoiceStatus.OPEN and str(inv.amount_due) == "1500 JPY"
    )
    assert inv.payment_url is not None and inv.payment_url.startswith(
        f"{SITE_URL}/checkout/order-pay/"
    )
    fake.set_status(order["id"], "completed")
    paid = adapter.fetch_status(conn, str(order["id"]))
    assert paid is not None and paid.status is InvoiceStatus.PAID
    assert fake.requests[-1].path == f"/wp-json/wc/v3/orders/{order['id']}"


def test_fetch_status_of_a_missing_order(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    assert adapter.fetch_status(conn, "999999") is None
    with pytest.raises(AdapterNotFound):
        adapter.fetch_status(conn, "../webhooks")
    assert len(fake.requests) == 1


def test_register_webhooks(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    reg = adapter.register_webhooks(conn, "https://relance.example/")
    assert reg.secret and len(reg.secret) >= 40
    assert reg.external_ids == ["1", "2", "3", "4"]
    hooks = list(fake.webhooks.values())
    assert [h["topic"] for h in hooks] == [
        "order.created",
        "order.updated",
        "order.deleted",
        "order.restored",
    ]
    assert {h["delivery_url"] for h in hooks} == {"https://relance.example/webhooks/woocommerce/7"}
    assert {h["secret"] for h in hooks} == {reg.secret}
    assert all(h["status"] == "active" for h in hooks)
    again = adapter.register_webhooks(conn, "https://relance.example")
    assert again.secret != reg.secret  # a new secret every time


def test_connect_through_the_cli_stores_the_secret_encrypted(
    fake: FakeWooCommerce, env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    env = {**env, "RELANCE_BASE_URL": "https://relance.example"}
    for args in (
        ["db", "upgrade"],
        ["shop", "create", "--name", "Atelier", "--email", "a@b.example"],
    ):
        assert runner.invoke(cli, args, env=env, catch_exceptions=False).exit_code == 0
    result = runner.invoke(
        cli,
        [
            "connect",
            "woocommerce",
            "--site-url",
            SITE_URL,
            "--consumer-key",
            CONSUMER_KEY,
            "--consumer-secret",
            CONSUMER_SECRET,
            "--api-base",
            fake.url,
            "--json",
        ],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["account"] == SITE_URL and out["webhooks"] == ["1", "2", "3", "4"]
    secret = next(iter(fake.webhooks.values()))["secret"]
    svc = Services.build(Settings.from_env(env))
    try:
        with svc.sessions() as s:
            row = s.get(Connection, out["connection"])
            assert row is not None and row.webhook_secret_enc
            assert secret not in row.webhook_secret_enc and CONSUMER_SECRET not in (
                row.credentials_enc or ""
            )
            assert svc.secrets.decrypt(row.webhook_secret_enc) == secret
    finally:
        svc.close()
    assert len(fake.calls("POST", WEBHOOKS)) == 4


def test_entry_point_and_credential_fields() -> None:
    (ep,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "woocommerce"]
    assert ep.load() is WooCommerceAdapter
    adapter = load_adapters()["woocommerce"]
    assert isinstance(adapter, WooCommerceAdapter) and isinstance(adapter, PlatformAdapter)
    fields = {f.name: f for f in WooCommerceAdapter.credential_fields}
    assert list(fields) == ["site_url", "consumer_key", "consumer_secret"]
    assert [n for n, f in fields.items() if f.is_account] == ["site_url"]
    assert {n for n, f in fields.items() if f.secret} == {"consumer_key", "consumer_secret"}


def test_unregister_webhooks_deletes_them_for_good(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    reg = adapter.register_webhooks(conn, "https://relance.example")
    assert isinstance(adapter, UnregistersWebhooks)
    adapter.unregister_webhooks(conn, reg.external_ids)
    assert fake.webhooks == {}
    deletes = fake.calls("DELETE", f"{WEBHOOKS}/1")
    assert deletes and deletes[0].params.get("force") == "true"  # webhooks have no trash
    adapter.unregister_webhooks(conn, reg.external_ids[:1])  # already gone (404): fine


def test_a_registration_failing_midway_leaves_no_webhook(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    """All or nothing: the third webhook cannot be created, the two made are deleted."""
    fake.fail_after("POST", WEBHOOKS, served=2)
    with pytest.raises(AdapterError):
        adapter.register_webhooks(conn, "https://relance.example")
    assert len(fake.calls("POST", WEBHOOKS)) > 2
    assert fake.webhooks == {}
