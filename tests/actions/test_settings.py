"""The settings application layer, on SQLite and PostgreSQL: every bad value is refused with a
message naming its field, and then nothing of the form is written (the good fields neither)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from connector.actions import settings
from connector.actions.settings import (
    AddressForm,
    IdentitySettings,
    LegalSettings,
    SendingSettings,
    SettingsError,
)
from connector.services import Services
from connector.shops import create_shop
from connector.store.base import Base
from connector.store.db import write_session
from connector.store.models import Customer, Shop

TODAY = date(2026, 3, 10)


def _shop_row(services: Services, shop_id: int) -> dict[str, Any]:
    with services.engine.connect() as conn:
        table = Base.metadata.tables["shop"]
        row = conn.execute(select(table).where(table.c.id == shop_id)).one()
    return {k: v for k, v in row._mapping.items() if k != "updated_at"}


def _ecb_rows(services: Services) -> list[tuple[Any, ...]]:
    with services.engine.connect() as conn:
        table = Base.metadata.tables["shop_ecb_rate"]
        return sorted(tuple(r) for r in conn.execute(select(table.c.shop_id, table.c.starts_on)))


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        (LegalSettings(terms_days="90", customers="b2b"), "terms_days", "legal maximum of 60"),
        (
            LegalSettings(terms_mode="eom_then_days", terms_days="50", customers="b2b"),
            "terms_days",
            "45 days end of month",
        ),
        (LegalSettings(terms_days="-3"), "terms_days", "cannot be negative"),
        (LegalSettings(terms_mode="weekly"), "terms_mode", "choose one of net"),
        (LegalSettings(indemnity="-40"), "indemnity", "cannot be negative"),
        (LegalSettings(indemnity="25"), "indemnity", "at least 40 €"),
        (LegalSettings(consumer_rate="-1"), "consumer_rate", "cannot be negative"),
        (LegalSettings(consumer_rate="abc"), "consumer_rate", "is not a percentage"),
        (LegalSettings(margin_points="5"), "margin_points", "at least 10 points"),
        (
            LegalSettings(penalty="contractual", contractual_rate="7.5"),
            "contractual_rate",
            "below three times the legal interest rate (at least 7.86 %: 3 × the legal "
            "interest rate of 2.62 % (2026-H1)",
        ),
        (LegalSettings(penalty="contractual"), "contractual_rate", "give the rate"),
        (LegalSettings(ecb_rates=("2026-H3=2.15",)), "ecb_rate", "YYYY-H1 or YYYY-H2"),
        (LegalSettings(ecb_rates=("2026-H2=-1",)), "ecb_rate", "cannot be negative"),
        (LegalSettings(prescription="maybe"), "prescription", "on or off"),
        (SendingSettings(window_start="18:00", window_end="09:00"), "window_end", "after"),
        (SendingSettings(window_end="25:00"), "window_end", "a time of day"),
        (SendingSettings(timezone="Europe/Atlantis"), "timezone", "unknown time zone"),
        (SendingSettings(holiday_country="XX"), "holiday_country", "no public holiday"),
        (SendingSettings(holiday_subdiv="Bretagne"), "holiday_subdiv", "57"),
        (SendingSettings(escalate_after="0"), "escalate_after", "between 1 and 50"),
        (SendingSettings(escalate_above="-100"), "escalate_above", "cannot be negative"),
        (SendingSettings(escalate_above="12.345"), "escalate_above", "at most 2 decimals"),
        (SendingSettings(reply_to="not an email"), "reply_to", ""),
        (SendingSettings(posting_delay="40"), "posting_delay", "between 0 and 15"),
        (SendingSettings(from_name="x" * 300), "from_name", "one line of at most 255"),
        (IdentitySettings(siren="732829321"), "siren", "fails the SIREN check digit"),
        (IdentitySettings(siren="12345"), "siren", "must be 9 digits"),
        (IdentitySettings(registered_office="12 rue des Lilas"), "registered_office", "street"),
        (IdentitySettings(terms_and_conditions="perhaps"), "terms_and_conditions", "on or off"),
    ],
)
def test_a_bad_value_is_refused_by_name_and_nothing_is_written(
    services: Services, shop: Shop, form: Any, field: str, says: str
) -> None:
    before, rates_before = _shop_row(services, shop.id), _ecb_rows(services)
    group = {
        LegalSettings: "legal",
        SendingSettings: "sending",
        IdentitySettings: "identity",
    }[type(form)]
    # A good value beside the bad one, in every group: it must not be written either.
    good = {
        "legal": LegalSettings(ecb_rates=("2026-H2=2.40",), prescription="off"),
        "sending": SendingSettings(payment_instructions="IBAN FR76 3000 6000 0112 3456 7890 189"),
        "identity": IdentitySettings(rcs_city="Lyon"),
    }
    given = {**good, group: _merged(good[group], form)}
    with pytest.raises(SettingsError) as raised:
        settings.update_settings(services, shop.id, TODAY, **given)
    assert field in raised.value.errors, raised.value.errors
    assert says in raised.value.errors[field]
    assert f"{field}: " in str(raised.value) and "\n" not in str(raised.value)
    assert _shop_row(services, shop.id) == before
    assert _ecb_rows(services) == rates_before


def _merged(good: Any, bad: Any) -> Any:
    values = {k: getattr(good, k) for k in type(good).__dataclass_fields__}
    for k in type(bad).__dataclass_fields__:
        value = getattr(bad, k)
        if value not in (None, ()):
            values[k] = value
    return type(good)(**values)


def test_every_bad_field_is_named_at_once(services: Services, shop: Shop) -> None:
    with pytest.raises(SettingsError) as raised:
        settings.update_settings(
            services,
            shop.id,
            TODAY,
            legal=LegalSettings(indemnity="-1"),
            sending=SendingSettings(timezone="Nowhere/Else", window_start="9", window_end="8"),
            identity=IdentitySettings(siren="1"),
        )
    assert set(raised.value.errors) == {
        "indemnity",
        "timezone",
        "window_start",
        "window_end",
        "siren",
    }


def test_good_values_are_saved_and_shown(services: Services, shop: Shop) -> None:
    view = settings.update_settings(
        services,
        shop.id,
        TODAY,
        legal=LegalSettings(
            terms_mode="days_then_eom",
            terms_days="45",
            customers="b2b",
            penalty="contractual",
            contractual_rate="12,5",
            indemnity="40",
            consumer_rate="",
            prescription="off",
            ecb_rates=("2026-H2=2.40",),
        ),
        sending=SendingSettings(
            window_start="08:30",
            window_end="17:00",
            timezone="Europe/Paris",
            business_days="on",
            holiday_country="fr",
            holiday_subdiv="Moselle",
            escalate_after="4",
            escalate_above="1 500,00",
            thank_you="on",
            from_name="Atelier Dupont",
            reply_to="compta@dupont.example",
            payment_instructions="Virement : IBAN FR76 3000 6000 0112 3456 7890 189",
        ),
        identity=IdentitySettings(
            legal_name="Atelier Dupont SARL",
            siren="732 829 320",
            registered_office="12 rue des Lilas\n75011 Paris",
            contact_name="Claire Dubois",
            contact_phone="01 23 45 67 89",
            terms_and_conditions="on",
            consumer_mediator="CM2C, www.cm2c.net",
        ),
    )
    with services.sessions() as s:
        stored = s.get(Shop, shop.id)
        assert stored is not None
        assert (stored.terms_mode.value, stored.terms_days, stored.default_b2b) == (
            "days_then_eom",
            45,
            True,
        )
        assert (stored.contractual_rate_bp, stored.prescription_enabled) == (1250, False)
        assert (stored.window_start.hour, stored.window_start.minute) == (8, 30)
        assert (stored.holiday_country, stored.holiday_subdiv) == ("FR", "57")
        assert (stored.escalate_after_reminders, stored.escalate_above_minor) == (4, 150000)
        assert stored.thank_you_enabled and stored.contact_email == "compta@dupont.example"
        assert stored.siren == "732829320" and stored.has_terms_and_conditions
    assert view.values["contractual_rate"] == "12.5" and view.values["margin_points"] == "10"
    assert view.values["escalate_above"] == "1500.00"
    assert [(r.half_year, str(r.rate), r.own) for r in view.ecb_rows[:2]] == [
        ("2026-H2", "2.40", True),
        ("2026-H1", "2.15", False),
    ]
    # Emptying an optional setting clears it; a switch back to ECB + points drops the rate.
    settings.update_settings(
        services,
        shop.id,
        TODAY,
        legal=LegalSettings(penalty="ecb"),
        sending=SendingSettings(escalate_above="", holiday_subdiv=""),
    )
    with services.sessions() as s:
        stored = s.get(Shop, shop.id)
        assert stored is not None
        assert stored.contractual_rate_bp is None and stored.escalate_above_minor is None
        assert stored.holiday_subdiv is None


def test_a_missing_half_year_is_shown(services: Services, shop: Shop) -> None:
    view = settings.settings_of(services, shop.id, date(2026, 9, 1))
    assert view.ecb_missing == "2026-H2" and view.ecb_used == "2.15 % (2026-H1)"
    assert settings.settings_of(services, shop.id, TODAY).ecb_missing is None


def test_one_shops_ecb_rate_is_its_own(services: Services, shop: Shop) -> None:
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example").id
    settings.update_legal(services, shop.id, LegalSettings(ecb_rates=("2026-H2=2.40",)), TODAY)
    assert settings.settings_of(services, shop.id, date(2026, 9, 1)).ecb_missing is None
    assert settings.settings_of(services, other, date(2026, 9, 1)).ecb_missing == "2026-H2"


def test_a_customers_address_is_edited_in_its_shop_only(
    services: Services, two_shops: tuple[Shop, Shop]
) -> None:
    shop_a, shop_b = two_shops
    with services.sessions() as s:
        mine = s.scalar(select(Customer.id).where(Customer.shop_id == shop_b.id))
        theirs = s.scalar(select(Customer.id).where(Customer.shop_id == shop_a.id))
    assert mine is not None and theirs is not None
    with pytest.raises(SettingsError) as raised:
        settings.update_customer_address(
            services, shop_b.id, mine, AddressForm(line1="", postal_code="7", city="Metz")
        )
    assert set(raised.value.errors) == {"line1", "postal_code"}
    updated = settings.update_customer_address(
        services,
        shop_b.id,
        mine,
        AddressForm(line1="3 rue Serpenoise", postal_code="57000", city="Metz", country="France"),
    )
    assert updated.address == "3 rue Serpenoise\n57000 Metz\nFrance"
    assert settings.customer_of(services, shop_b.id, mine).parts.city == "Metz"
    with services.sessions() as s:
        before = s.get(Customer, theirs)
        assert before is not None
        address = before.postal_address
    with pytest.raises(LookupError):
        settings.update_customer_address(
            services, shop_b.id, theirs, AddressForm(line1="x", postal_code="75001", city="Paris")
        )
    with pytest.raises(LookupError):
        settings.customer_of(services, shop_b.id, theirs)
    with services.sessions() as s:
        after = s.get(Customer, theirs)
        assert after is not None and after.postal_address == address
