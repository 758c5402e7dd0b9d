"""The Shopify door in real Chromium: the browser follows Shopify's install link to the app, the
app sends it to the local Shopify's authorize page (which approves at once), the callback signs
the owner in to their new shop with the first sync queued, the worker's sync brings the orders;
then a load as the Shopify admin makes it (``shop``, ``host``, ``id_token``) renders framed by
that shop only, with App Bridge's CDN unreachable (offline) and no CSP violation. Screenshots of
every page, desktop and phone, under tests/artifacts/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from werkzeug.serving import make_server

from connector.config import Settings
from connector.services import Services
from connector.sync import sync_due
from connector.web import create_app
from tests.browser.conftest import screenshot
from tests.support.fake_shopify import FakeClock, FakeShopify, make_order, sign_query

API_KEY = "client-id-1"
SECRET = "shpss_test_secret"
SHOP = "relance-test.myshopify.com"
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"


def _shoot(page: Any, name: str) -> None:
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(clock=FakeClock(datetime.now(UTC)), client_id=API_KEY) as running:
        running.add_orders(
            make_order(1001, updated_at="2026-11-20T10:00:00Z", total="1250.00"),
            make_order(1002, updated_at="2026-11-21T10:00:00Z", total="89.90", customer_id=7002),
        )
        yield running


@pytest.fixture
def served(services: Services, fake: FakeShopify) -> Iterator[tuple[str, Services]]:
    """The app on a loopback port, its RELANCE_BASE_URL being that very address (the
    redirect URI Shopify sends the owner back to)."""
    apps: dict[str, Flask] = {}

    def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
        return apps["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    settings: Settings = replace(
        services.settings,
        base_url=base,
        shopify_api_key=API_KEY,
        shopify_api_secret=SECRET,
        shopify_admin_base=fake.base_url,
    )
    svc = replace(services, settings=settings)
    apps["app"] = create_app(settings=settings, services=svc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, svc
    server.shutdown()


def _install_link(base: str) -> str:
    params = {"shop": SHOP, "timestamp": str(int(datetime.now(UTC).timestamp()))}
    return f"{base}/shopify/install?{urlencode({**params, 'hmac': sign_query(params, SECRET)})}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_install_from_shopify_then_embedded_in_the_admin(
    page: Any, served: tuple[str, Services], fake: FakeShopify
) -> None:
    base, svc = served
    page.goto(_install_link(base))  # as Shopify sends the owner

    page.wait_for_selector("text=Relance is installed for relance-test.myshopify.com")
    assert page.url == base + "/"
    assert fake.authorize_requests and fake.authorize_requests[0]["client_id"] == API_KEY
    page.wait_for_selector("text=first sync queued")
    assert page.is_visible("text=Relance Test Shop")
    assert page.is_visible(f"text={fake.shop_email}")  # signed in as the shop's owner
    _shoot(page, "shopify-1-installed")

    sync_due(svc, datetime.now(UTC))  # the worker's next minute
    page.reload()
    page.wait_for_selector("text=#1001")
    assert page.is_visible("text=#1002") and page.is_visible("text=synced")
    _shoot(page, "shopify-2-synced")

    # Inside the Shopify admin: App Bridge's CDN is out of reach here (offline).
    page.context.clear_cookies()
    blocked: list[str] = []
    page.route(
        "https://cdn.shopify.com/**",
        lambda route: (blocked.append(route.request.url), route.abort()),
    )
    query = urlencode(
        {
            "embedded": "1",
            "shop": SHOP,
            "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcmVsYW5jZS10ZXN0",
            "id_token": fake.session_token(),
        }
    )
    response = page.goto(f"{base}/?{query}")
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert f"frame-ancestors https://{SHOP} https://admin.shopify.com" in policy
    assert "x-frame-options" not in response.headers
    page.wait_for_selector("text=#1001")  # the page works without App Bridge
    assert blocked == [APP_BRIDGE]
    assert page.locator('meta[name="shopify-api-key"]').get_attribute("content") == API_KEY
    _shoot(page, "shopify-3-embedded")

    # The same pages outside the admin: the normal framing policy again.
    outside = page.goto(f"{base}/")
    assert outside is not None and outside.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in outside.headers["content-security-policy"]
    assert page.csp_violations == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_forged_install_link_shows_why_and_changes_nothing(
    page: Any, served: tuple[str, Services], fake: FakeShopify
) -> None:
    base, _ = served
    response = page.goto(_install_link(base).replace(SHOP, "evil.example"))
    assert response is not None and response.status == 400
    page.wait_for_selector("text=This Shopify request was refused")
    assert fake.authorize_requests == []
    _shoot(page, "shopify-4-refused")
    assert page.csp_violations == []
