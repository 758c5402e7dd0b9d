"""The owner's pages in real Chromium. The first run, as a new owner lives it: an empty store
opens on "create your owner account", then "create your shop", then the three choices; a CSV
with one bad row shows the line's error and writes nothing; the fixed file is imported and the
home lists the invoices. Then a returning owner: wrong password, forgotten password, reset
through the mailed link, demo data and the shop switcher, 429 after ten failures. A screenshot
of every page (desktop and phone) under tests/artifacts/; no Content-Security-Policy violation
anywhere."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.actions.accounts import create_owner, create_shop_for_owner
from connector.services import Services
from connector.store.models import Invoice, Owner, Shop
from connector.web import create_app
from tests.browser.conftest import screenshot

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
ROWS = (
    "F-2026-001,marie@client.example,Marie Curie,120.00,EUR,2026-10-01,2026-10-31,false,fr\n"
    "F-2026-002,acme@client.example,ACME SAS,1 500,00,EUR,2026-10-02,2026-11-01,true,fr\n"
)
BAD_ROW = "F-2026-003,paul@client.example,Paul Dirac,89.90,EUR,2026-10-03,2026-13-02,false,fr\n"
FIXED_ROW = "F-2026-003,paul@client.example,Paul Dirac,89.90,EUR,2026-10-03,2026-11-02,false,fr\n"


def _count(services: Services, model: type) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _shoot(page: Any, name: str) -> None:
    """Desktop and phone screenshots of the page as it is."""
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_first_run_account_shop_csv_with_a_bad_row_then_fixed(
    page: Any, live_server: Any, services: Services, tmp_path: Path
) -> None:
    base = live_server(create_app(services=services))
    page.goto(base + "/")
    page.wait_for_selector("text=Create your owner account")
    _shoot(page, "first-run-1-account")

    page.fill("#email", "camille@atelier.example")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD + " typo")
    page.click("main button[type=submit]")
    assert "confirm: the two passwords differ" in page.inner_text("body")
    _shoot(page, "first-run-1-account-error")
    assert _count(services, Owner) == 0
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("main button[type=submit]")

    page.wait_for_selector("text=Create your shop")
    assert page.input_value("#email") == "camille@atelier.example"
    _shoot(page, "first-run-2-shop")
    page.fill("#name", "Atelier Camille")
    page.fill("#timezone", "Europe/Pariss")
    page.click("main button[type=submit]")
    assert "timezone: unknown time zone 'Europe/Pariss'" in page.inner_text("body")
    _shoot(page, "first-run-2-shop-error")
    assert _count(services, Shop) == 0
    page.fill("#timezone", "Europe/Paris")
    page.check("input[value=businesses]")
    page.click("main button[type=submit]")

    page.wait_for_selector("text=Bring in your invoices")
    for choice in ("Connect a platform", "Upload a CSV", "Try it with demo data"):
        assert choice in page.inner_text("body")
    _shoot(page, "first-run-3-choices")

    bad = tmp_path / "factures.csv"
    bad.write_text(HEADER + ROWS.replace("1 500,00", '"1 500,00"') + BAD_ROW)
    page.set_input_files("#file", str(bad))
    page.click("button:text-is('Import')")
    page.wait_for_selector("div.error")
    error = page.inner_text("div.error")
    assert "factures.csv: nothing was imported" in error
    assert "Line 4, due_at: not an ISO 8601 date: '2026-13-02'" in error
    _shoot(page, "first-run-4-csv-error")
    assert _count(services, Invoice) == 0

    fixed = tmp_path / "factures-corrigees.csv"
    fixed.write_text(HEADER + ROWS.replace("1 500,00", '"1 500,00"') + FIXED_ROW)
    page.set_input_files("#file", str(fixed))
    page.click("button:text-is('Import')")
    page.wait_for_selector("text=Imported 3 invoices")
    body = page.inner_text("body")
    assert "Atelier Camille" in body
    for number in ("F-2026-001", "F-2026-002", "F-2026-003"):
        assert number in body
    assert "1\u202f500,00\u00a0€" in body and "89,90\u00a0€" in body  # a French shop
    _shoot(page, "first-run-5-home")
    assert _count(services, Invoice) == 3

    page.click("text=Sign out")
    page.wait_for_selector("text=Sign in to continue")
    assert "F-2026-001" not in page.content()
    _shoot(page, "first-run-6-signed-out")
    assert page.csp_violations == []


def _reset_path(outbox: Path) -> str:
    mails = [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]
    assert len(mails) == 1, mails
    found = re.search(r"https?://[^/\s]+(/reset/\S+)", mails[0]["text"])
    assert found, mails[0]["text"]
    return found.group(1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_returning_owner_reset_demo_switcher_and_closed_sign_up(
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
    page.goto(base + "/welcome")
    page.wait_for_selector("text=Sign in to continue")  # sign-up is closed: to sign-in
    page.fill("#email", "camille@atelier.example")
    page.fill("#password", "not my password")
    page.click("main button[type=submit]")
    assert "Wrong email or password." in page.inner_text("body")
    _shoot(page, "account-signin-wrong")

    page.click("text=Forgot your password?")
    page.wait_for_selector("text=Forgot your password?")
    _shoot(page, "account-forgot")
    page.fill("#email", "camille@atelier.example")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=If an account exists for that email")
    _shoot(page, "account-forgot-sent")

    page.goto(base + _reset_path(services.settings.outbox_dir))
    page.wait_for_selector("text=Choose a new password")
    _shoot(page, "account-reset")
    page.fill("#password", "a brand new passphrase")
    page.fill("#confirm", "a brand new passphrase")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=No invoices yet")
    _shoot(page, "home-empty")

    page.click("text=Add invoices")
    page.click("text=Load demo data")
    page.wait_for_selector("text=Boutique Démo is ready")
    assert "DEMO-001" in page.inner_text("body")
    _shoot(page, "home-demo-switcher")
    page.select_option("#shop_id", label="Atelier Camille")
    page.click("button:text-is('Switch')")
    page.wait_for_selector("h1:text-is('Atelier Camille')")
    assert "DEMO-001" not in page.inner_text("body")

    page.click("text=Sign out")
    page.wait_for_selector("text=Sign in to continue")
    for attempt in range(9):  # with the wrong password above: ten failures in the minute
        page.fill("#email", "camille@atelier.example")
        page.fill("#password", f"wrong {attempt}")
        page.click("main button[type=submit]")
        page.wait_for_selector("text=Wrong email or password.")
    page.fill("#email", "camille@atelier.example")
    page.fill("#password", "a brand new passphrase")  # the right one: refused all the same
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Too many attempts")
    _shoot(page, "account-too-many")
    assert page.csp_violations == []
