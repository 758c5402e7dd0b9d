"""What the settings pages set is what the engine does, on SQLite and PostgreSQL: each half-year
of late interest at its own ECB rate (a missing one: the last known rate, and a task), a
contractual rate, holidays of a subdivision, every-day sending, prescription off, hand-off
thresholds. Every setting goes in through the settings functions the pages and the CLI call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from connector.actions import settings
from connector.actions.settings import LegalSettings, SendingSettings
from connector.dunning.compose import build_context
from connector.dunning.rendering import ReminderRenderer, sample_spec
from connector.dunning.runner import DunningRunner
from connector.services import Services
from connector.store.models import Customer, Invoice, Reminder, Shop, Task, TaskKind
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

NBSP, NNBSP = "\u00a0", "\u202f"
AMOUNT = Decimal("1234.50")
DUE_IN_MARCH = date(2026, 3, 16)
PAID_IN_SEPTEMBER = date(2026, 9, 15)


def _interest(rate: Decimal, days: int) -> str:
    """The figure a lawyer would write: amount x rate x days / 365, rounded half-up, French."""
    value = (AMOUNT * rate / 100 * days / 365).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{value}".replace(".", ",") + f"{NBSP}€"


def _b2b_text(services: Services, shop: Shop, on: date) -> str:
    """The second reminder (it shows penalties) of the B2B invoice, written on ``on``, built
    the way the deliverer builds it: inside a session, from the stored rows."""
    inv_id = invoice_by_number(services, "F-1").id
    with services.sessions() as s:
        inv = s.get(Invoice, inv_id)
        assert inv is not None
        customer = s.get(Customer, inv.customer_id)
        stored = s.get(Shop, shop.id)
        assert customer is not None and stored is not None
        ctx = build_context(stored, customer, [(inv, sample_spec("reminder_2"))], paris(on))
    return ReminderRenderer().render(ctx).text


@pytest.fixture
def b2b_invoice(services: Services, shop: Shop) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-1",
                email="compta@acme.example",
                amount=str(AMOUNT),
                due_on=DUE_IN_MARCH,
                b2b=True,
            )
        ],
    )


@pytest.mark.usefixtures("b2b_invoice")
def test_each_half_year_of_delay_uses_that_half_years_ecb_rate(
    services: Services, shop: Shop
) -> None:
    settings.update_legal(
        services, shop.id, LegalSettings(ecb_rates=("2026-H2=2.40",)), DUE_IN_MARCH
    )
    text = _b2b_text(services, shop, PAID_IN_SEPTEMBER)
    # 17 March to 30 June: 106 days at 2.15 + 10; 1 July to 15 September: 77 days at 2.40 + 10.
    first, second = _interest(Decimal("12.15"), 106), _interest(Decimal("12.40"), 77)
    assert (
        f"(taux BCE 2,15{NNBSP}% + 10 points), du 17 mars au 30 juin 2026 (106 jours){NBSP}: "
        f"{first}"
    ) in text, text
    assert (
        f"(taux BCE 2,4{NNBSP}% + 10 points), du 1er juillet au 15 septembre 2026 (77 jours)"
        f"{NBSP}: {second}"
    ) in text, text


@pytest.mark.usefixtures("b2b_invoice")
def test_a_missing_half_year_uses_the_last_known_rate_and_asks_the_owner(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    text = _b2b_text(services, shop, PAID_IN_SEPTEMBER)
    second = _interest(Decimal("12.15"), 77)
    assert (
        f"(taux BCE 2,15{NNBSP}% + 10 points), du 1er juillet au 15 septembre 2026 (77 jours)"
        f"{NBSP}: {second}"
    ) in text, text
    assert settings.settings_of(services, shop.id, PAID_IN_SEPTEMBER).ecb_missing == "2026-H2"
    make_runner().tick(paris(PAID_IN_SEPTEMBER))
    with services.sessions() as s:
        titles = s.scalars(
            select(Task.title).where(
                Task.shop_id == shop.id, Task.kind == TaskKind.ECB_RATE_MISSING
            )
        ).all()
    assert len(titles) == 1 and "2026-H2" in titles[0] and "2.15 % (2026-H1)" in titles[0]


@pytest.mark.usefixtures("b2b_invoice")
def test_a_contractual_rate_replaces_ecb_plus_points(services: Services, shop: Shop) -> None:
    settings.update_legal(
        services,
        shop.id,
        LegalSettings(penalty="contractual", contractual_rate="12"),
        DUE_IN_MARCH,
    )
    text = _b2b_text(services, shop, PAID_IN_SEPTEMBER)
    assert f"(taux annuel de 12{NNBSP}%), du 17 mars au 30 juin 2026 (106 jours)" in text, text
    assert "taux BCE" not in text


GOOD_FRIDAY = date(2026, 4, 3)  # a public holiday in Moselle and Alsace, not in the rest of France


@pytest.mark.parametrize(("subdiv", "sent"), [("", 1), ("Moselle", 0), ("67", 0)])
def test_a_holiday_of_the_shops_subdivision_skips_sending(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    subdiv: str,
    sent: int,
) -> None:
    add_invoices(
        services, shop, [normalized("F-1", email="marie@client.example", due_on=date(2026, 4, 2))]
    )
    settings.update_sending(
        services,
        shop.id,
        SendingSettings(holiday_country="FR", holiday_subdiv=subdiv, payment_instructions="IBAN"),
        GOOD_FRIDAY,
    )
    make_runner().tick(paris(GOOD_FRIDAY))
    assert len(outbox_messages(services)) == sent


@pytest.mark.parametrize(("business_days", "sent"), [("on", 0), ("off", 1)])
def test_sending_every_day_sends_on_a_saturday(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    business_days: str,
    sent: int,
) -> None:
    add_invoices(
        services, shop, [normalized("F-1", email="marie@client.example", due_on=date(2026, 6, 12))]
    )
    settings.update_sending(
        services,
        shop.id,
        SendingSettings(business_days=business_days, payment_instructions="IBAN"),
        date(2026, 6, 12),
    )
    make_runner().tick(paris(date(2026, 6, 13)))  # Saturday, D+1
    assert len(outbox_messages(services)) == sent


@pytest.mark.parametrize("prescription", ["on", "off"])
def test_prescription_off_keeps_reminding_a_time_barred_claim(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    prescription: str,
) -> None:
    # A consumer's claim due more than two years ago: time-barred (L218-2 C. consom.).
    add_invoices(
        services, shop, [normalized("F-1", email="marie@client.example", due_on=date(2024, 3, 1))]
    )
    settings.update_legal(
        services, shop.id, LegalSettings(prescription=prescription), date(2026, 6, 10)
    )
    make_runner().tick(paris(date(2026, 6, 10)))
    inv = invoice_by_number(services, "F-1")
    with services.sessions() as s:
        reminders = s.scalars(select(Reminder).where(Reminder.invoice_id == inv.id)).all()
    if prescription == "on":
        assert inv.prescribed_at is not None and reminders == []
    else:
        assert inv.prescribed_at is None and reminders != []


@pytest.mark.parametrize(("above", "handed_off"), [("", False), ("100", True)])
def test_an_amount_above_the_threshold_goes_to_a_person(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    above: str,
    handed_off: bool,
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-1", email="marie@client.example", amount="120.00", due_on=date(2026, 6, 10)
            )
        ],
    )
    settings.update_sending(
        services,
        shop.id,
        SendingSettings(escalate_above=above, payment_instructions="IBAN"),
        date(2026, 6, 10),
    )
    make_runner().tick(paris(date(2026, 6, 11)))
    assert (invoice_by_number(services, "F-1").handed_off_at is not None) is handed_off
    assert len(outbox_messages(services)) == (0 if handed_off else 1)
