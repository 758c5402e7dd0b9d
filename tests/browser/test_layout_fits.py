"""Pages a new owner found cut off or doubled, in real Chromium: the statement of account's
total row on a phone reads "Total" once (its label was repeated as "TotalTotal"); at 1280 px
the invoices table fits without scrolling sideways (long emails wrap, Source reads whole) and
an invoice's plan table shows every column in its card. Screenshots under tests/artifacts/."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.actions.invoices import InstalmentSpec, set_plan
from connector.ingest import upsert_invoices
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Shop
from tests.browser.conftest import screenshot, sign_in_owner
from tests.support.builders import add_invoices, invoice_by_number, normalized
from tests.support.webhooks import make_connection

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


#: How far a table overflows its scrolling box, in CSS pixels (0: it fits).
OVERFLOW = (
    "sel => { const t = document.querySelector(sel); const box = t.parentElement;"
    " return t.scrollWidth - box.clientWidth; }"
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_invoices_table_fits_1280_px(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    conn_id = make_connection(
        services, shop.id, "woocommerce", external_account="https://s.example"
    )
    today = datetime.now(UTC).date()
    items = [
        normalized(
            f"WC-2026-{n:05d}",
            email=f"comptabilite.fournisseurs.{n}@brasserie-du-port-de-saint-malo.example",
            name="Brasserie du Port de Saint-Malo SAS",
            amount="13200.00",
            due_on=today - timedelta(days=n * 20),
        )
        for n in range(1, 4)
    ]
    with write_session(services.sessions) as s:
        connection = s.get(Connection, conn_id)
        assert connection is not None
        upsert_invoices(s, s.merge(shop), connection, items, datetime.now(UTC))
    base = sign_in_owner(page, live_server, services, shop, email="o@d.example", password=PASSWORD)
    page.goto(f"{base}/invoices?status=all")
    screenshot(page, "invoices-1280")
    assert page.evaluate(OVERFLOW, "table.invoices") <= 0
    source = page.locator("table.invoices tbody td[data-label=Source]").first
    assert source.inner_text() == "WooCommerce"
    assert page.csp_violations == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_plan_table_shows_every_column_at_1280_px(
    page: Any, live_server: Any, services: Services, shop: Shop
) -> None:
    today = datetime.now(UTC).date()
    add_invoices(
        services,
        shop,
        [normalized("F-P1", email="a@client.example", amount="3200.00", due_on=today)],
    )
    invoice_id = invoice_by_number(services, "F-P1").id
    plan = [
        InstalmentSpec(today + timedelta(days=30 * n), "1066.66" if n < 3 else "1066.68")
        for n in (1, 2, 3)
    ]
    set_plan(services, shop.id, invoice_id, plan, actor="o@d.example")
    base = sign_in_owner(page, live_server, services, shop, email="o@d.example", password=PASSWORD)
    page.goto(f"{base}/invoices/{invoice_id}")
    screenshot(page, "invoice-plan-1280")
    assert page.evaluate(OVERFLOW, "table.instalments") <= 0
    for label in ("Paid", "State"):
        assert page.locator(f"table.instalments th:has-text('{label}')").is_visible()
    assert page.csp_violations == []
