"""The invoice page offers only what makes sense, and keeps what the owner typed: a refused
payment plan comes back with its rows filled in and a message a person can act on; while a
plan holds, no second "agree a plan" form (and the action refuses one); when nothing is planned
because the invoice was handed to a person, no "Send now" (and the action refuses it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from connector.actions.errors import ActionError
from connector.actions.invoices import InstalmentSpec, set_plan
from connector.actions.send_now import send_now
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice, Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized
from tests.support.pages import csrf_token
from tests.web.conftest import OWNER


@pytest.fixture
def today(shop: Shop) -> date:
    """Today as the page counts it (the shop's local day), read when the test runs: a date read
    once at import went stale when the suite crossed midnight (the page's ``min`` was already
    tomorrow's)."""
    return datetime.now(ZoneInfo(shop.timezone)).date()


@pytest.fixture
def invoice_id(services: Services, shop: Shop, today: date) -> int:
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-45", email="hugo@client.example", amount="45.50", due_on=today - timedelta(7)
            )
        ],
    )
    return invoice_by_number(services, "F-45").id


def test_a_refused_plan_keeps_what_was_typed_and_says_what_to_do(
    signed_in: FlaskClient, invoice_id: int, today: date
) -> None:
    first, second = today + timedelta(days=15), today + timedelta(days=45)
    page = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    resp = signed_in.post(
        f"/invoices/{invoice_id}/plan",
        data={
            "csrf_token": csrf_token(page),
            "due_on_1": first.isoformat(),
            "amount_1": "20",
            "due_on_2": second.isoformat(),
            "amount_2": "20,00",
        },
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True).replace("\u202f", " ").replace("\xa0", " ")
    assert resp.status_code == 400
    assert (
        "The instalments add up to 40,00 €, but 45,50 € is due: adjust them so they add up to"
        " the amount due." in html
    )
    assert f'name="due_on_1" min="{today.isoformat()}" value="{first.isoformat()}"' in html
    assert 'name="amount_1" inputmode="decimal" value="20"' in html
    assert f'value="{second.isoformat()}"' in html and 'value="20,00"' in html


def test_no_second_plan_is_offered_or_taken_while_one_holds(
    signed_in: FlaskClient, services: Services, shop: Shop, invoice_id: int, today: date
) -> None:
    page = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert 'id="plan-form"' in page
    plan = [InstalmentSpec(today + timedelta(days=10), "45.50")]
    set_plan(services, shop.id, invoice_id, plan, actor=OWNER)
    page = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert 'id="plan-form"' not in page and 'id="plan-cancel-form"' in page
    with pytest.raises(ActionError, match="already has a payment plan: cancel it"):
        set_plan(services, shop.id, invoice_id, plan, actor=OWNER)


def test_no_send_now_once_the_invoice_is_handed_to_a_person(
    signed_in: FlaskClient, services: Services, shop: Shop, invoice_id: int
) -> None:
    page = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert 'id="send-form"' in page
    with write_session(services.sessions) as s:
        inv = s.get(Invoice, invoice_id)
        assert inv is not None
        inv.handed_off_at = datetime.now(UTC)
    page = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "Nothing planned" in page
    assert 'id="send-form"' not in page
    with pytest.raises(ActionError, match="was handed to a person: nothing more is sent"):
        send_now(services, shop.id, invoice_id, actor=OWNER, override_window=True)
