"""The sequences page's next business day counts every step due that day and says why the
ones that wait wait, from the engine's own judgement (a tick's claim, rolled back)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from flask.testing import FlaskClient

from connector.actions.onboarding import import_csv
from connector.actions.schedule import WAITS_FOR_A_WAY_TO_PAY
from connector.actions.sequence_preview import next_business_day
from connector.services import Services
from connector.store.models import Shop
from tests.support.builders import invoice_by_number, paris

HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_steps_waiting_for_payment_instructions_are_counted_with_why(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    """An overdue invoice imported without a payment link, in a shop without payment
    instructions: its invoice page shows its next step for the next business day, and the
    sequences page said "Nothing goes out that day" without a word about it."""
    now = datetime.now(UTC)  # the page judges as of the clock
    due = (now - timedelta(days=60)).date()
    row = f"W-1,w@client.example,Paul,300.00,EUR,{due - timedelta(days=30)},{due},false,fr\n"
    import_csv(services.sessions, shop.id, (HEADER + row).encode(), now)
    page = _text(signed_in.get("/sequences").get_data(as_text=True))
    assert "Nothing goes out that day." not in page
    assert "1 step due that day: 0 go out, 1 waits." in page
    assert "W-1 formal notice No way to pay: no payment link and no payment instructions" in page
    assert "formal_notice" not in page  # the step by its name, not its key
    # The invoice page, planning the same step, says it waits and why.
    inv = invoice_by_number(services, "W-1")
    shown = _text(signed_in.get(f"/invoices/{inv.id}").get_data(as_text=True))
    assert f"— {WAITS_FOR_A_WAY_TO_PAY}" in shown


def test_the_days_before_the_next_business_day_say_why_nothing_goes_out(
    services: Services, shop: Shop
) -> None:
    """Christmas Eve after the window: the preview is of Monday 28, and the page says why not
    Friday 25 (a public holiday) nor the weekend, from the shop's sending window."""
    day = next_business_day(services, shop.id, now=paris(date(2026, 12, 24), 19))
    assert day.now == paris(date(2026, 12, 28), 9)
    assert day.days_off == (
        (date(2026, 12, 25), "public holiday: Noël"),
        (date(2026, 12, 26), "weekend"),
        (date(2026, 12, 27), "weekend"),
    )


def test_a_day_with_nothing_due_says_so_once(signed_in: FlaskClient) -> None:
    """No invoice: the table says nothing falls due, and no "0 steps due that day" repeats it."""
    page = _text(signed_in.get("/sequences").get_data(as_text=True))
    assert "Nothing falls due that day." in page
    assert "0 steps due" not in page
