"""The sequences pages in real Chromium: a second sequence with a rule, a step's day edited and
the next business day's preview changing with it, the wording editor's live preview, a draft
with a syntax error (its line shown) and one without the amount (refused). No CSP violation;
screenshots under tests/artifacts/ (desktop and phone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.actions.accounts import create_owner
from connector.dunning.dry_run import next_business_opening
from connector.dunning.rules import sending_window
from connector.services import Services
from connector.store.models import Shop
from connector.web import create_app
from tests.browser.conftest import screenshot
from tests.support.builders import add_invoices, normalized

PASSWORD = "a long enough password"


def _next_day_rows(page: Any) -> str:
    return page.inner_text("#next-day")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sequences_rules_step_edit_and_wording_preview(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    # The page previews the real next business day: the invoices fall due the day before it,
    # so their first reminder (D+1) is what goes out then.
    opening = next_business_opening(shop, datetime.now(UTC))
    due = sending_window(shop).local_date(opening) - timedelta(days=1)
    add_invoices(
        services,
        shop,
        [
            normalized("F-CONS-1", email="marie@client.example", due_on=due),
            normalized(
                "F-PRO-1", email="compta@acme.example", name="ACME SAS", b2b=True, due_on=due
            ),
        ],
    )
    create_owner(
        services.sessions,
        email="o@dupont.example",
        password=PASSWORD,
        now=datetime.now(UTC),
        shop_ids=(shop.id,),
    )
    base = live_server(create_app(services=services))
    page.goto(base + "/signin")
    page.fill("#email", "o@dupont.example")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Sequences")
    page.wait_for_selector("text=What goes out on the next business day")
    rows = _next_day_rows(page)
    assert "F-CONS-1" in rows and "F-PRO-1" in rows and "first reminder" in rows
    assert "reminder_1" not in rows  # a step by its name, never its key
    screenshot(page, "sequences-list")

    # A second sequence, and a rule sending business customers to it.
    page.fill("#new-name", "B2B firm")
    page.click("text=Create")
    page.wait_for_selector("h1:has-text('B2B firm')")
    screenshot(page, "sequences-new")
    page.click("text=All sequences")
    page.select_option("#rule-seq", label="B2B firm")
    page.select_option("#rule-customers", "business")
    page.click("button:has-text('Add rule')")
    page.wait_for_selector("text=Rule added")
    counts = page.locator("table.stack >> nth=0")
    assert counts.locator("tr", has_text="B2B firm").locator("td.num").inner_text() == "1"
    assert counts.locator("tr", has_text="default").locator("td.num").inner_text() == "1"
    assert "Business customers → B2B firm" in page.inner_text("ol.rules")
    screenshot(page, "sequences-rule")

    # The default sequence's first reminder moves from D+1 to D+3: the consumer's invoice no
    # longer goes out on the next business day; the business one (other sequence) still does.
    page.click("a:has-text('default')")
    card = page.locator("section.step-card", has_text="first reminder")
    card.locator("input[name=offset_days]").fill("3")
    card.locator("button:has-text('Save step')").click()
    page.wait_for_selector("text=Step “first reminder” saved")
    screenshot(page, "sequences-step-saved")
    page.click("text=All sequences")
    rows = _next_day_rows(page)
    assert "F-CONS-1" not in rows and "F-PRO-1" in rows
    screenshot(page, "sequences-list-after-edit")

    # The wording editor: the live preview follows the draft.
    page.click("a:has-text('default')")
    card = page.locator("section.step-card", has_text="second reminder")
    card.locator("a:has-text('fr')").click()
    page.wait_for_selector("#preview-subject:has-text('F-')")
    body = page.locator("#body")
    body.fill("Un mot de notre part.\n\n" + body.input_value())
    page.wait_for_selector("#preview-text:has-text('Un mot de notre part.')")
    frame = page.frame_locator("#preview-frame")
    frame.locator("text=Un mot de notre part.").wait_for()
    screenshot(page, "sequences-template-preview")

    # A syntax error: refused, its line shown.
    original = body.input_value()
    body.fill("Bonjour,\nFacture {{ ctx.invoices[0].number }\n" + original)
    page.wait_for_selector("#preview-error:has-text('line 2')")
    page.click("button:has-text('Save wording')")
    page.wait_for_selector("#save-error")
    assert "body, line 2" in page.inner_text("#save-error")
    page.frame_locator("#preview-frame").locator("text=could not be made").wait_for()
    screenshot(page, "sequences-template-syntax-error")

    # Without the amount due: refused, naming it.
    page.locator("#body").fill(
        "Bonjour {{ customer.name }},\n\nLa facture {{ ctx.invoices[0].number }} était due le "
        "{{ ctx.invoices[0].due_on }}.\n\n{{ m.how_to_pay(ctx) }}\n\n{{ m.contact(ctx) }}\n"
    )
    page.click("button:has-text('Save wording')")
    page.wait_for_selector("#save-error")
    assert "amount due" in page.inner_text("#save-error")
    assert "F-2025" not in page.inner_text("#save-error")  # no sample invoice named
    page.frame_locator("#preview-frame").locator("text=F-PRO-1").first.wait_for()
    screenshot(page, "sequences-template-missing-amount")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "sequences-template-phone")
    page.goto(base + "/sequences")
    screenshot(page, "sequences-list-phone")
    assert page.csp_violations == []
