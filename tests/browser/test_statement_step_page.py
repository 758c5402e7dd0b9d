"""Adding a statement step on the sequences page, in real Chromium: the owner picks "the
statement of account" for a new step, the page shows what it sends, the next business day's
preview shows the statement that would go, and a statement step asking for penalties is refused
naming the field (nothing saved). No CSP violation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.actions.sequences import StepInput, add_step, list_sequences, show_sequence
from connector.dunning.dry_run import next_business_opening
from connector.dunning.rules import sending_window
from connector.services import Services
from connector.store.models import Shop
from tests.browser.conftest import screenshot, sign_in_owner
from tests.support.builders import add_invoices, normalized

PASSWORD = "a long enough password"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_owner_adds_a_statement_step(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    # Two invoices of one customer fall due 20 days before the next business day: the new
    # statement step (D+20) is what goes out then.
    opening = next_business_opening(shop, datetime.now(UTC))
    due = sending_window(shop).local_date(opening) - timedelta(days=20)
    add_invoices(
        services,
        shop,
        [
            normalized(n, email="lea@client.example", amount=a, due_on=due, customer_id="lea")
            for n, a in (("F-S1", "120.00"), ("F-S2", "80.50"))
        ],
    )
    sign_in_owner(page, live_server, services, shop, email="o@dupont.example", password=PASSWORD)
    page.click("text=Sequences")
    page.click("a:has-text('default')")

    page.click("summary:has-text('Add a step')")
    page.fill("#new-key", "statement_d20")
    page.fill("#new-offset", "20")
    page.select_option("#new-content", "statement")
    page.select_option("#new-tone", "polite")
    page.click("button:has-text('Add step')")
    page.wait_for_selector("text=Step “statement_d20” added on D+20")
    card = page.locator("section.step-card", has_text="statement_d20")
    assert "Sends the statement of account" in card.inner_text()
    assert card.locator("select[name=content]").input_value() == "statement"
    screenshot(page, "sequences-statement-step")

    [default] = [s for s in list_sequences(services, shop.id) if s.is_default]
    [step] = [
        st for st in show_sequence(services, shop.id, default.id).steps if st.key == "statement_d20"
    ]
    assert step.content == "statement" and step.channel == "email" and step.languages == ()

    # Penalties on a statement step: refused, naming the field; the step is unchanged.
    card.locator("input[name=show_penalties]").check()
    card.locator("button:has-text('Save step')").click()
    page.wait_for_selector("text=show_penalties: a statement step only sends the statement")
    [again] = [
        st for st in show_sequence(services, shop.id, default.id).steps if st.key == "statement_d20"
    ]
    assert again.show_penalties is False and again.content == "statement"

    # The next business day's preview: the statement that would go, listing both invoices.
    page.click("text=All sequences")
    rows = page.inner_text("#next-day")
    assert "F-S1" in rows and "F-S2" in rows and "statement_d20" in rows
    assert page.csp_violations == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_wording_editor_of_a_statement_step_opened_by_url_says_why_not(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    """A bookmark or a hand-typed URL to a statement step's wording: the page goes back to the
    sequence and says the step has no wording of its own (no error page, no blank editor)."""
    [default] = [s for s in list_sequences(services, shop.id) if s.is_default]
    step = add_step(
        services, shop.id, default.id, StepInput(offset_days=45, content="statement"), key="stmt"
    )
    base = sign_in_owner(page, live_server, services, shop)
    response = page.goto(f"{base}/sequences/steps/{step.id}/template?lang=fr")
    assert response is not None and response.status == 200
    assert page.url.endswith(f"/sequences/{default.id}")
    page.wait_for_selector("text=it has no wording of its own to edit")
    assert page.locator("textarea[name=body]").count() == 0
    screenshot(page, "sequences-statement-step-no-wording")
    assert page.csp_violations == []
