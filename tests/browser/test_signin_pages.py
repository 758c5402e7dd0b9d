"""The sign-in page and the operator overview in real Chromium: nothing of any shop before
signing in, the overview after, no Content-Security-Policy violation, readable on a phone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.actions.accounts import create_owner
from connector.services import Services
from connector.web import create_app
from tests.browser.conftest import screenshot
from tests.support.pages import SECRET_MARKERS

TOKEN = "browser-operator-token-0123456789"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("two_shops")


def _operator_app(services: Services) -> Any:
    settings = replace(services.settings, overview_token=TOKEN)
    return create_app(settings=settings, services=replace(services, settings=settings))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_signin_page_without_overview(page: Any, live_server: Any, services: Services) -> None:
    create_owner(services.sessions, email="o@x.example", password="a long password", now=NOW)
    base = live_server(create_app(services=services))
    page.goto(base + "/")
    text = page.inner_text("body")
    assert "Sign in to continue" in text
    assert not [m for m in SECRET_MARKERS if m in page.content()]
    screenshot(page, "signin-no-overview")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "signin-no-overview-phone")
    assert page.csp_violations == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_operator_signs_in_sees_every_shop_and_signs_out(
    page: Any, live_server: Any, services: Services
) -> None:
    base = live_server(_operator_app(services))
    page.goto(base + "/overview")
    screenshot(page, "signin")
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert "not the operator token" in page.inner_text("body")
    assert not [m for m in SECRET_MARKERS if m in page.content()]
    screenshot(page, "signin-wrong-token")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Overview of every shop")
    html = page.content()
    assert all(marker in html for marker in SECRET_MARKERS)
    screenshot(page, "overview")
    page.click("text=Sign out")
    page.wait_for_selector("text=Create your owner account")  # the store has no owner yet
    assert not [m for m in SECRET_MARKERS if m in page.content()]
    assert page.csp_violations == []
