"""Cancelling a payment plan in real Chromium, as an owner does it: put an overdue invoice on a
two-instalment plan from its page, then cancel the plan (the box must be ticked): the timeline
names who cancelled it, the plan's table is gone and the next step counts from the invoice's
own due date again, on a day no earlier than today. Screenshots (desktop and phone) under
tests/artifacts/; no Content-Security-Policy violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.actions.schedule import next_step
from connector.domain.dates import long_date
from connector.services import Services
from connector.store.models import Invoice, Shop
from connector.web.filters import PAGE_LANGUAGE
from tests.browser.conftest import OWNER, shoot, sign_in_owner
from tests.support.builders import add_invoices, invoice_by_number, normalized


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_put_an_invoice_on_a_plan_then_cancel_it(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    today = datetime.now(UTC).date()
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-2026-020",
                email="bruno@example.fr",
                name="Bruno Martin",
                amount="120.00",
                due_on=today - timedelta(days=20),
            )
        ],
    )
    sign_in_owner(page, live_server, services, shop)
    page.click("header >> text=Invoices")
    page.click("text=F-2026-020")
    page.wait_for_selector("h1:has-text('Invoice F-2026-020')")
    assert page.locator("#plan-cancel-form").count() == 0  # no plan yet: nothing to cancel

    for n, (days, amount) in enumerate(((10, "60"), (40, "60,00")), 1):
        page.fill(f"#due-{n}", (today + timedelta(days=days)).isoformat())
        page.fill(f"#amount-{n}", amount)
    page.click("#plan-form button[type=submit]")
    page.wait_for_selector("table.instalments")
    assert "counted from the next instalment" in page.inner_text("#next-step")
    shoot(page, "plan-cancel-1-on-a-plan")

    page.fill("#plan-cancel-reason", "the customer asked to stop")
    page.click("#plan-cancel-form button[type=submit]")  # the box is not ticked: not sent
    assert page.locator("table.instalments").count() == 1
    assert invoice_by_number(services, "F-2026-020").plan_due_at is not None
    page.check("#plan-cancel-form input[name=confirm]")
    page.click("#plan-cancel-form button[type=submit]")
    page.wait_for_selector(".flash:has-text('payment plan cancelled')")

    assert page.locator("table.instalments").count() == 0
    assert page.locator("#plan-cancel-form").count() == 0
    entry = page.locator("ol.timeline li.tl-plan", has_text="payment plan cancelled")
    assert entry.count() == 1
    text = entry.inner_text()
    assert "the customer asked to stop" in text and f"by {OWNER}" in text
    after = page.inner_text("#next-step")
    assert after.startswith("Next:") and "instalment" not in after
    inv = invoice_by_number(services, "F-2026-020")
    with services.sessions() as s:
        fresh = s.get(Invoice, inv.id)
        assert fresh is not None and fresh.plan_due_at is None
        expected = next_step(s, shop, fresh, fresh.customer, datetime.now(UTC))
    assert expected.on is not None and expected.on >= today  # from today, never in the past
    assert long_date(expected.on, PAGE_LANGUAGE) in after  # as the English page writes a day
    assert page.csp_violations == []
    shoot(page, "plan-cancel-2-cancelled")
