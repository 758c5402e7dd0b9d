"""Pages a new owner found cut off or doubled, in real Chromium: the statement of account's
total row on a phone reads "Total" once (its label was repeated as "TotalTotal"). Screenshots
under tests/artifacts/."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connector.services import Services
from connector.store.models import Shop
from tests.browser.conftest import screenshot, sign_in_owner
from tests.support.builders import add_invoices, invoice_by_number, normalized

PASSWORD = "a long enough password"
#: What a row shows, each cell's ::before label (the phone layout's data-label) included.
SHOWN = """sel => [...document.querySelector(sel).cells]
  .filter(td => getComputedStyle(td).display !== 'none')
  .map(td => {
    const before = getComputedStyle(td, '::before').content;
    const label = before && before !== 'none' && before !== 'normal' ? JSON.parse(before) : '';
    return label + ' ' + td.innerText;
  }).join(' ')"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_statement_total_reads_total_once_on_a_phone(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    add_invoices(
        services,
        shop,
        [normalized("F-T1", email="hugo@client.example", amount="45.50", due_on=date(2026, 6, 1))],
    )
    customer_id = invoice_by_number(services, "F-T1").customer_id
    base = sign_in_owner(page, live_server, services, shop, email="o@d.example", password=PASSWORD)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/customers/{customer_id}/statement")
    text = " ".join(page.evaluate(SHOWN, "tr.total").split())
    screenshot(page, "statement-phone")
    assert text.startswith("Total") and text.count("Total") == 1, text
    assert page.csp_violations == []
