from datetime import date
from decimal import Decimal

import pytest

from connector.domain.money import Money
from connector.domain.penalties import (
    Penalties,
    PenaltyPolicy,
    annual_rate,
    compute_penalties,
    days_late,
    late_interest,
    recovery_indemnity,
)

POLICY = PenaltyPolicy(ecb_rate=Decimal("2.15"))
DUE = date(2026, 1, 10)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


@pytest.mark.parametrize(
    ("due_on", "on", "expected"),
    [
        (DUE, date(2026, 1, 1), 0),  # before due
        (DUE, DUE, 0),  # paying on the due date is on time
        (DUE, date(2026, 1, 11), 1),
        (DUE, date(2026, 2, 9), 30),
        (date(2024, 2, 1), date(2024, 3, 1), 29),  # leap February
        (date(2025, 2, 1), date(2025, 3, 1), 28),
        (date(2024, 1, 1), date(2025, 1, 1), 366),
    ],
)
def test_days_late(due_on: date, on: date, expected: int) -> None:
    assert days_late(due_on, on) == expected


def test_b2b_rate_is_ecb_plus_ten_points() -> None:
    assert annual_rate(POLICY, is_b2b=True) == Decimal("12.15")


def test_b2b_margin_is_configurable() -> None:
    policy = PenaltyPolicy(ecb_rate=Decimal("2.15"), b2b_margin_points=Decimal("7"))
    assert annual_rate(policy, is_b2b=True) == Decimal("9.15")


def test_consumer_rate_defaults_to_none() -> None:
    assert annual_rate(POLICY, is_b2b=False) is None


def test_consumer_rate_from_the_shop_terms() -> None:
    policy = PenaltyPolicy(ecb_rate=Decimal("2.15"), consumer_rate=Decimal("3.5"))
    assert annual_rate(policy, is_b2b=False) == Decimal("3.5")


@pytest.mark.parametrize(
    ("amount", "rate", "due_on", "on", "expected"),
    [
        (eur("1000.00"), "12.15", DUE, DUE, eur("0.00")),  # 0 days
        (eur("1000.00"), "12.15", DUE, date(2026, 1, 5), eur("0.00")),  # not yet due
        (eur("1000.00"), "12.15", DUE, date(2026, 1, 11), eur("0.33")),  # 1 day: 0.33287
        (eur("1000.00"), "12.15", DUE, date(2027, 1, 10), eur("121.50")),  # 365 days
        (eur("1000.00"), "12.15", DUE, date(2026, 2, 9), eur("9.99")),  # 30 days: 9.9863
        # leap year: 29 days in February 2024, divisor stays 365
        (eur("1000.00"), "12.15", date(2024, 2, 1), date(2024, 3, 1), eur("9.65")),  # 9.6534
        # 366 days late across 2024: a bit more than one year of interest
        (eur("1000.00"), "12.15", date(2024, 1, 1), date(2025, 1, 1), eur("121.83")),  # 121.833
        # half-up at the minor unit: 18.25 x 10% / 365 = 0.005 exactly
        (eur("18.25"), "10", DUE, date(2026, 1, 11), eur("0.01")),
        (eur("18.24"), "10", DUE, date(2026, 1, 11), eur("0.00")),
        # JPY has no decimals: 1825 x 10% / 365 = 0.5 → 1; 1824 → 0.4997 → 0
        (Money.of("1825", "JPY"), "10", DUE, date(2026, 1, 11), Money.of("1", "JPY")),
        (Money.of("1824", "JPY"), "10", DUE, date(2026, 1, 11), Money.of("0", "JPY")),
        (Money.of("100000", "JPY"), "12.15", DUE, date(2026, 2, 9), Money.of("999", "JPY")),
        # three-decimal currency: 1000 BHD x 12.15% x 1/365 = 0.332876... → 0.333
        (Money.of("1000.000", "BHD"), "12.15", DUE, date(2026, 1, 11), Money.of("0.333", "BHD")),
        # zero rate, nothing owed, or a credit: no interest
        (eur("1000.00"), "0", DUE, date(2026, 2, 9), eur("0.00")),
        (eur("0.00"), "12.15", DUE, date(2026, 2, 9), eur("0.00")),
        (eur("-50.00"), "12.15", DUE, date(2026, 2, 9), eur("0.00")),
    ],
)
def test_late_interest(amount: Money, rate: str, due_on: date, on: date, expected: Money) -> None:
    result = late_interest(amount, Decimal(rate), due_on, on)
    assert result == expected
    assert result.currency == amount.currency
    # quantized to the minor unit: the stored exponent matches the currency's
    assert result.amount.as_tuple().exponent == expected.amount.as_tuple().exponent


def test_late_interest_rejects_negative_rate() -> None:
    with pytest.raises(ValueError, match="negative"):
        late_interest(eur("100.00"), Decimal("-1"), DUE, date(2026, 2, 9))


def test_late_interest_rejects_float_rate() -> None:
    with pytest.raises(TypeError):
        late_interest(eur("100.00"), 12.15, DUE, date(2026, 2, 9))  # type: ignore[arg-type]


def test_indemnity_b2b_is_40_eur() -> None:
    assert recovery_indemnity(POLICY, is_b2b=True) == eur("40.00")


@pytest.mark.parametrize(
    "policy",
    [POLICY, PenaltyPolicy(ecb_rate=Decimal("2.15"), consumer_rate=Decimal("5"))],
)
def test_indemnity_never_for_consumers(policy: PenaltyPolicy) -> None:
    assert recovery_indemnity(policy, is_b2b=False) is None


def test_indemnity_is_configurable() -> None:
    policy = PenaltyPolicy(ecb_rate=Decimal("2.15"), indemnity=Money.of("50", "CHF"))
    assert recovery_indemnity(policy, is_b2b=True) == Money.of("50.00", "CHF")


def test_b2b_penalties_thirty_days_late() -> None:
    result = compute_penalties(POLICY, eur("1000.00"), DUE, date(2026, 2, 9), is_b2b=True)
    assert result == Penalties(
        interest=eur("9.99"),
        rate=Decimal("12.15"),
        indemnity=eur("40.00"),
        total_with_penalties=eur("1049.99"),
        interest_lines=result.interest_lines,
    )
    [line] = result.interest_lines  # one half-year: one line, the same figure
    assert (line.days, line.amount) == (30, eur("9.99"))


def test_indemnity_counted_once_per_invoice_not_per_reminder() -> None:
    # several reminders later (D+1, D+7, D+14, D+30): always one 40 EUR, only interest grows
    totals = [
        compute_penalties(POLICY, eur("1000.00"), DUE, date(2026, 1, 10 + d), is_b2b=True)
        for d in (1, 7, 14, 21)
    ]
    assert all(p.indemnity == eur("40.00") for p in totals)
    for p in totals:
        assert p.interest is not None
        assert p.total_with_penalties == eur("1000.00") + p.interest + eur("40.00")


def test_b2b_not_late_owes_no_indemnity() -> None:
    result = compute_penalties(POLICY, eur("1000.00"), DUE, DUE, is_b2b=True)
    assert result.indemnity is None
    assert result.interest == eur("0.00")
    assert result.total_with_penalties == eur("1000.00")


def test_consumer_default_no_interest_no_indemnity() -> None:
    result = compute_penalties(POLICY, eur("1000.00"), DUE, date(2026, 2, 9), is_b2b=False)
    assert result == Penalties(
        interest=None, rate=None, indemnity=None, total_with_penalties=eur("1000.00")
    )


def test_consumer_with_shop_rate_gets_interest_but_no_indemnity() -> None:
    policy = PenaltyPolicy(ecb_rate=Decimal("2.15"), consumer_rate=Decimal("3"))
    result = compute_penalties(policy, eur("1000.00"), DUE, date(2027, 1, 10), is_b2b=False)
    # A year late is three half-year lines, each rounded once: 14.05 + 15.12 + 0.82.
    assert [line.amount for line in result.interest_lines] == [
        eur("14.05"),
        eur("15.12"),
        eur("0.82"),
    ]
    assert result.interest == eur("29.99")
    assert result.rate == Decimal("3")
    assert result.indemnity is None
    assert result.total_with_penalties == eur("1029.99")


def test_non_eur_invoice_keeps_indemnity_out_of_the_total() -> None:
    usd = Money.of("1000.00", "USD")
    result = compute_penalties(POLICY, usd, DUE, date(2026, 2, 9), is_b2b=True)
    assert result.interest == Money.of("9.99", "USD")
    assert result.indemnity == eur("40.00")
    assert result.total_with_penalties == Money.of("1009.99", "USD")


def test_indemnity_in_invoice_currency_is_added() -> None:
    policy = PenaltyPolicy(ecb_rate=Decimal("2.15"), indemnity=Money.of("45", "USD"))
    usd = Money.of("1000.00", "USD")
    result = compute_penalties(policy, usd, DUE, date(2026, 2, 9), is_b2b=True)
    assert result.total_with_penalties == Money.of("1054.99", "USD")


def test_jpy_invoice_penalties() -> None:
    jpy = Money.of("100000", "JPY")
    result = compute_penalties(POLICY, jpy, DUE, date(2026, 2, 9), is_b2b=True)
    assert result.interest == Money.of("999", "JPY")  # 998.63 half-up
    assert result.indemnity == eur("40.00")
    assert result.total_with_penalties == Money.of("100999", "JPY")


def test_policy_defaults() -> None:
    assert POLICY.b2b_margin_points == Decimal("10")
    assert POLICY.consumer_rate is None
    assert POLICY.indemnity == eur("40.00")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ecb_rate": 2.15}, TypeError),
        ({"ecb_rate": Decimal("2.15"), "consumer_rate": 3.0}, TypeError),
        ({"ecb_rate": Decimal("2.15"), "b2b_margin_points": Decimal("-1")}, ValueError),
        ({"ecb_rate": Decimal("2.15"), "consumer_rate": Decimal("-1")}, ValueError),
        ({"ecb_rate": Decimal("2.15"), "indemnity": Money.of("-40", "EUR")}, ValueError),
    ],
)
def test_policy_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        PenaltyPolicy(**kwargs)  # type: ignore[arg-type]
