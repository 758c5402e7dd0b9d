""" "Load demo data" in real Chromium: the demo shop is loaded through the demo platforms, which
takes a few seconds, so once pressed the button says so and cannot be pressed again; then the
home lists the demo invoices. The button is read inside the page's submit event, so nothing
here depends on how fast the machine is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.actions.accounts import create_owner, create_shop_for_owner
from connector.demo import DEMO_NAME
from connector.services import Services
from connector.store.models import Shop
from connector.web import create_app
from tests.browser.conftest import screenshot

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_load_demo_data_says_it_is_busy_and_cannot_be_pressed_twice(
    page: Any, live_server: Any, services: Services
) -> None:
    owner = create_owner(
        services.sessions, email="camille@atelier.example", password=PASSWORD, now=NOW
    )
    create_shop_for_owner(
        services.sessions,
        owner.id,
        name="Atelier Camille",
        email="camille@atelier.example",
        timezone="Europe/Paris",
        b2b=False,
    )
    base = live_server(create_app(services=services))
    page.goto(base + "/signin")
    page.fill("#email", "camille@atelier.example")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("text=No invoices yet")
    page.goto(base + "/welcome/start")
    # What the page shows once the form is sent, read in the page's own submit event (after
    # static/busy.js's handler) and kept in sessionStorage across the navigation; a second
    # press, dispatched there, must be refused.
    page.evaluate(
        """() => document.addEventListener("submit", (event) => {
            if (sessionStorage.getItem("seen") !== null) return;  // the second press itself
            sessionStorage.setItem("seen", "");
            const form = event.target;
            const button = form.querySelector("button[type=submit]");
            const again = new SubmitEvent("submit", {cancelable: true, bubbles: true});
            form.dispatchEvent(again);
            sessionStorage.setItem("seen", JSON.stringify([
                form.getAttribute("aria-busy"), button.disabled, button.textContent,
                again.defaultPrevented,
            ]));
        })"""
    )

    page.click("text=Load demo data")
    page.wait_for_selector("text=Boutique Démo is ready", timeout=120_000)

    seen = json.loads(page.evaluate("() => sessionStorage.getItem('seen')"))
    assert seen == ["true", True, "Loading the demo shop… (a few seconds)", True]
    assert "DEMO-001" in page.inner_text("body")
    screenshot(page, "home-demo-loaded")
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Shop).where(Shop.name == DEMO_NAME)) == 1
    assert page.csp_violations == []
