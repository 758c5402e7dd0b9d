"""The interest line of a message: its basis, its period, its days, its amount and the day
it is computed to, in each language (« Pénalités de retard (taux BCE 2,15 % + 10 points) … »)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.dunning.compose import build_context
from connector.dunning.rendering import ReminderRenderer, sample_spec
from connector.platform import InvoiceStatus
from connector.store.models import Customer, Invoice, Shop

NNBSP = "\u202f"


def _message(locale: str, *, b2b: bool, due: datetime, now: datetime) -> str:
    shop = Shop(id=1, name="Atelier", owner_email="o@example.com", locale=locale)
    shop.timezone, shop.ecb_rate_bp, shop.b2b_margin_bp = "Europe/Paris", 215, 1000
    shop.consumer_rate_bp, shop.indemnity_minor = (None if b2b else 500), 4000
    customer = Customer(id=1, name="Marie Curie", email="m@example.org", is_b2b=b2b, locale=locale)
    invoice = Invoice(
        id=1,
        number="F-1",
        currency="EUR",
        total_minor=123450,
        amount_due_minor=123450,
        status=InvoiceStatus.OPEN,
        issued_at=datetime(2026, 5, 1, 22, tzinfo=UTC),
        due_at=due,
    )
    ctx = build_context(shop, customer, [(invoice, sample_spec("reminder_2"))], now)
    return ReminderRenderer().render(ctx).text


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "fr",
            f"Pénalités de retard (taux BCE 2,15{NNBSP}% + 10 points), du 2 au 8 juin 2026 "
            "(7 jours)\u00a0: 2,88\u00a0€ — montant arrêté au 8 juin 2026",
        ),
        (
            "en",
            "Late-payment interest (ECB rate 2.15% + 10 points), from 2 to 8 June 2026 "
            "(7 days): €2.88 — amount as at 8 June 2026",
        ),
    ],
)
def test_a_b2b_interest_line_has_basis_period_days_and_date(locale: str, expected: str) -> None:
    # Due 1 June (Paris midnight), the message of 8 June: 1,234.50 EUR x 12.15 % x 7 / 365.
    text = _message(
        locale,
        b2b=True,
        due=datetime(2026, 5, 31, 22, tzinfo=UTC),
        now=datetime(2026, 6, 8, 8, tzinfo=UTC),
    )
    assert expected in text


def test_a_period_across_1_july_is_two_lines_and_a_total() -> None:
    text = _message(
        "fr",
        b2b=True,
        due=datetime(2026, 6, 19, 22, tzinfo=UTC),  # 20 June
        now=datetime(2026, 7, 10, 8, tzinfo=UTC),
    )
    # 1234.50 x 12.15 % x 10 / 365 = 4.1093 → 4,11 € in each half-year.
    assert "du 21 au 30 juin 2026 (10 jours)\u00a0: 4,11\u00a0€\n" in text
    assert "du 1er au 10 juillet 2026 (10 jours)\u00a0: 4,11\u00a0€\n" in text
    total = "Pénalités de retard, total\u00a0: 8,22\u00a0€ — montant arrêté au 10 juillet 2026"
    assert total in text


def test_a_consumer_line_names_its_annual_rate_not_the_ecb() -> None:
    text = _message(
        "fr",
        b2b=False,
        due=datetime(2026, 5, 31, 22, tzinfo=UTC),
        now=datetime(2026, 6, 8, 8, tzinfo=UTC),
    )
    # 1234.50 x 5 % x 7 / 365 = 1.1837 → 1,18 €.
    assert f"Intérêts de retard (taux annuel de 5{NNBSP}%), du 2 au 8 juin 2026 (7 jours)" in text
    assert "1,18\u00a0€ — montant arrêté au 8 juin 2026" in text
    assert "BCE" not in text
