"""The pages show dates in the shop's time zone, never in UTC, and amounts in its language."""

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
    assert "1er juin 2026" in page  # the Paris shop's day, in its language
    assert "2026-05-31" not in page
    # The next action (the planner's first look, 60 days before) is labelled with its zone.
    assert "2026-04-02 00:00 CEST" in page


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
