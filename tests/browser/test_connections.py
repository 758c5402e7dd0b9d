"""The Connections page in real Chromium, against the local WooCommerce and Stripe servers: an
owner connects their WooCommerce store through WooCommerce's own approval page and comes back
to see it connected, watches the first sync's progress (run by the worker, page by page), then
pastes a Stripe key missing a permission (named), then a good one, and disconnects it after the
confirmation. Screenshots of every page, desktop and phone, under tests/artifacts/; no
Content-Security-Policy violation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.woocommerce.adapter import WooCommerceAdapter
from connector.actions.accounts import create_owner
from connector.platform import ConnectionContext, SyncPage
from connector.services import Services
from connector.store.models import Shop
from connector.sync import sync_requested
from tests.browser.conftest import screenshot
from tests.support.fake_stripe import FULL_PERMISSIONS, FakeStripe
from tests.support.fake_woocommerce import FakeWooCommerce
from tests.support.serving import served_app

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
PAGE_PAUSE_SECONDS = 1.5  # long enough for the page's poll (every 2 s) to see a sync running


class SlowWooCommerce(WooCommerceAdapter):
    """The real adapter, one order per page, pausing after each page: a big shop's sync."""

    def __init__(self) -> None:
        super().__init__(page_size=1)

    def sync(self, conn: ConnectionContext, cursor: str | None) -> Iterator[SyncPage]:
        for page in super().sync(conn, cursor):
            yield page
            time.sleep(PAGE_PAUSE_SECONDS)


def _shoot(page: Any, name: str) -> None:
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_connect_woocommerce_watch_the_sync_then_stripe(
    page: Any, services: Services, shop: Shop
) -> None:
    with (
        FakeWooCommerce() as woo,
        FakeStripe() as stripe,
        served_app(services, stripe_api_base=stripe.url) as (_, svc, base),
    ):
        for i in range(4):
            woo.add_order(total=f"{120 + i}.00", email=f"client{i}@example.com")
        create_owner(
            svc.sessions,
            email="claire@dupont.example",
            password=PASSWORD,
            now=NOW,
            shop_ids=(shop.id,),
        )
        page.goto(base + "/signin")
        page.fill("#email", "claire@dupont.example")
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.click("nav.main >> text=Connections")
        page.wait_for_selector("h1:text-is('Connections')")
        assert "No platform is connected yet." in page.inner_text("main")
        _shoot(page, "connections-1-empty")

        page.fill("#store_url", woo.url)
        page.click("button:text-is('Continue on WooCommerce')")  # → the store → back here
        page.wait_for_selector(f"text=WooCommerce store {woo.url} connected.")
        card = page.locator("li.connection").first
        assert "Connected" in card.inner_text() and woo.url in card.inner_text()
        assert "Sync requested" in card.inner_text()
        _shoot(page, "connections-2-woocommerce-connected")

        worker = threading.Thread(
            target=sync_requested,
            args=(svc, datetime.now(UTC)),
            kwargs={"adapters": {"woocommerce": SlowWooCommerce()}},
        )
        worker.start()
        page.wait_for_selector("li.connection .progress-text:has-text('Syncing:')", timeout=20000)
        assert "so far" in page.inner_text("li.connection .progress-text")
        _shoot(page, "connections-3-sync-running")
        worker.join(timeout=60)
        page.wait_for_selector("text=Last sync read 4 invoices in 4 pages.", timeout=20000)
        _shoot(page, "connections-4-synced")

        stripe.add_restricted_key("rk_test_nowebhooks", FULL_PERMISSIONS - {"rak_webhook_write"})
        stripe.add_restricted_key("rk_test_complete", FULL_PERMISSIONS)
        page.fill("#api_key", "rk_test_nowebhooks")
        page.click("button:text-is('Connect Stripe')")
        page.wait_for_selector("#stripe div.error")
        assert "lacks the permission Webhook Endpoints: Write" in page.inner_text("#stripe")
        _shoot(page, "connections-5-stripe-missing-permission")
        assert stripe.webhook_endpoints == {}

        page.fill("#api_key", "rk_test_complete")
        page.click("button:text-is('Connect Stripe')")
        page.wait_for_selector("text=Stripe connected. The first sync starts")
        assert page.locator("li.connection").count() == 2
        _shoot(page, "connections-6-stripe-connected")

        page.locator("li.connection", has_text="Stripe").locator("text=Disconnect…").click()
        page.wait_for_selector("h1:text-is('Disconnect Stripe?')")
        _shoot(page, "connections-7-disconnect-confirm")
        page.click("button:text-is('Disconnect')")
        page.wait_for_selector("text=disconnected; its invoices and history stay.")
        assert stripe.webhook_endpoints == {}
        _shoot(page, "connections-8-disconnected")
        assert page.csp_violations == []
