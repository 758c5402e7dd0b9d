"""The pages show dates in the shop's time zone, never in UTC, written in the page's language
(English), and amounts in the shop's language."""

from __future__ import annotations

from datetime import date

from flask.testing import FlaskClient

from connector.services import Services
from connector.store.models import Shop
from tests.support.builders import add_invoices, normalized


def test_due_date_is_the_shops_day(
    services: Services, shop: Shop, operator_client: FlaskClient
) -> None:
    add_invoices(
        services,
        shop,
        [normalized("F-2026-061", email="marie@client.example", due_on=date(2026, 6, 1))],
    )
    page = operator_client.get("/overview").get_data(as_text=True)
    # The Paris shop's day, in the page's language (English), not the shop's (French).
    assert "1 June 2026" in page and "1er juin 2026" not in page
    assert "2026-05-31" not in page and "31 May" not in page
    # The next action (the planner's first look, 60 days before) on the shop's clock, with
    # its zone, its day written as every other day of the page.
    assert "2 April 2026, 00:00 CEST" in page


def test_amounts_are_written_in_the_shops_language(
    services: Services, shop: Shop, operator_client: FlaskClient
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-2026-062",
                email="marie@client.example",
                amount="2400.00",
                due_on=date(2026, 6, 1),
            )
        ],
    )
    page = operator_client.get("/overview").get_data(as_text=True)
    assert "2\u202f400,00\u00a0€" in page  # the Paris shop writes French amounts
    assert "€2,400.00" not in page
