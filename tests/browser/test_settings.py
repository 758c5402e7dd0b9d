"""The settings pages in real Chromium, as an owner uses them: a window ending before it starts,
a SIREN that fails its check and B2B terms over the cap are shown next to their fields with
nothing saved; then the window, the payment instructions, the identity and a customer's address
are saved and shown again. A screenshot of every page (desktop and phone) under
tests/artifacts/; no Content-Security-Policy violation anywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

from connector.actions.accounts import create_owner
from connector.services import Services
from connector.store.models import Customer, Shop
from connector.web import create_app
from tests.browser.conftest import screenshot
from tests.support.builders import add_invoices, normalized

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
IBAN = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP"


def _shoot(page: Any, name: str) -> None:
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


def _stored(services: Services, shop_id: int) -> Shop:
    with services.sessions() as s:
        found = s.get(Shop, shop_id)
        assert found is not None
        return found


def _error_of(page: Any, field: str) -> str:
    return str(page.inner_text(f"#{field}-error"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_owner_sets_the_window_payment_instructions_and_identity(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    add_invoices(
        services,
        shop,
        [normalized("F-1", email="marie@client.example", due_on=date(2026, 12, 10))],
    )
    create_owner(
        services.sessions, email="o@dupont.example", password=PASSWORD, now=NOW, shop_ids=(shop.id,)
    )
    base = live_server(create_app(services=services))
    page.goto(base + "/signin")
    page.fill("#email", "o@dupont.example")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Atelier Dupont")
    assert page.is_visible("text=add your payment instructions")
    page.click("nav.main >> text=Settings")

    # Legal: B2B terms over the cap, refused next to the field, nothing saved.
    page.wait_for_selector("h2:has-text('Payment terms')")
    _shoot(page, "settings-1-legal")
    page.check("input[name=customers][value=b2b]")
    page.fill("#terms_days", "75")
    page.click("text=Save legal settings")
    page.wait_for_selector("#terms_days-error")
    assert "legal maximum of 60" in _error_of(page, "terms_days")
    assert page.input_value("#terms_days") == "75"  # what the owner typed stays
    _shoot(page, "settings-2-legal-error")
    stored = _stored(services, shop.id)
    assert (stored.terms_days, stored.default_b2b) == (30, False)

    # Sending: a window ending before it starts, then a good one with payment instructions.
    page.click("nav.tabs >> text=Sending")
    page.wait_for_selector("#window_start")
    page.fill("#window_start", "18:00")
    page.fill("#window_end", "08:00")
    page.fill("#payment_instructions", IBAN)
    page.click("text=Save sending settings")
    page.wait_for_selector("#window_end-error")
    assert "Must be after the start (18:00)" in _error_of(page, "window_end")
    _shoot(page, "settings-3-sending-error")
    assert _stored(services, shop.id).payment_instructions is None
    page.fill("#window_start", "08:30")
    page.fill("#window_end", "17:30")
    page.select_option("#holiday_subdiv", "57")
    page.click("text=Save sending settings")
    page.wait_for_selector("text=Sending settings saved.")
    stored = _stored(services, shop.id)
    assert (stored.window_start, stored.window_end) == (time(8, 30), time(17, 30))
    assert stored.payment_instructions == IBAN and stored.holiday_subdiv == "57"
    assert page.input_value("#window_start") == "08:30"
    _shoot(page, "settings-4-sending-saved")

    # Identity: a SIREN failing its check digit, then the right one.
    page.click("nav.tabs >> text=Identity")
    page.wait_for_selector("#siren")
    page.fill("#siren", "732 829 321")
    page.fill("#contact_name", "Claire Dubois")
    page.click("text=Save identity")
    page.wait_for_selector("#siren-error")
    assert "fails the SIREN check digit" in _error_of(page, "siren")
    _shoot(page, "settings-5-identity-error")
    assert _stored(services, shop.id).contact_name is None
    page.fill("#siren", "443 061 841")
    page.fill("#legal_name", "Atelier Dupont SAS")
    page.click("text=Save identity")
    page.wait_for_selector("text=Identity settings saved.")
    stored = _stored(services, shop.id)
    assert (stored.siren, stored.contact_name, stored.legal_name) == (
        "443061841",
        "Claire Dubois",
        "Atelier Dupont SAS",
    )
    _shoot(page, "settings-6-identity-saved")

    # A customer's postal address: a missing postal code, then a whole address.
    page.click("nav.tabs >> text=Customers' addresses")
    page.wait_for_selector("text=Marie Curie")
    _shoot(page, "settings-7-customers")
    page.click("text=Edit address")
    page.wait_for_selector("#line1")
    page.fill("#postal_code", "")
    page.click("text=Save address")
    page.wait_for_selector("#postal_code-error")
    _shoot(page, "settings-8-customer-error")
    page.fill("#line1", "3 rue Serpenoise")
    page.fill("#postal_code", "57000")
    page.fill("#city", "Metz")
    page.fill("#country", "France")
    page.click("text=Save address")
    page.wait_for_selector("text=3 rue Serpenoise, 57000 Metz, France")
    with services.sessions() as s:
        customer = s.scalars(select(Customer).where(Customer.shop_id == shop.id)).one()
        assert customer.postal_address == "3 rue Serpenoise\n57000 Metz\nFrance"

    # The home no longer asks for payment instructions.
    page.click("nav.main >> text=Home")
    page.wait_for_selector("text=F-1")
    assert not page.is_visible("text=add your payment instructions")
    assert page.csp_violations == []
