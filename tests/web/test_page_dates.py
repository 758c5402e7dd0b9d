"""The overview page shows dates in the shop's time zone, never in UTC."""

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
