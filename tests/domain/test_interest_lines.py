"""Late interest shown as a lawyer would: one line per half-year, each rounded once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connector.domain.dates import date_span
from connector.domain.money import Money
from connector.domain.penalties import (
    PenaltyPolicy,
    compute_penalties,
    interest_lines,
    late_periods,
)

POLICY = PenaltyPolicy(ecb_rate=Decimal("2.15"))


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def test_a_week_late_in_one_half_year_is_one_line_with_its_basis_and_period() -> None:
    # 1,234.50 EUR at 12.15 % for 7 days: 1234.50 x 0.1215 x 7 / 365 = 2.8766 → 2.88 €.
    [line] = interest_lines(POLICY, eur("1234.50"), date(2026, 6, 1), date(2026, 6, 8), is_b2b=True)
    assert (line.first_day, line.last_day, line.days) == (date(2026, 6, 2), date(2026, 6, 8), 7)
    assert (line.ecb_rate, line.rate, line.amount) == (
        Decimal("2.15"),
        Decimal("12.15"),
        eur("2.88"),
    )
    # 1,000.00 EUR, same 7 days: 2.3301 → 2.33 €.
    [line] = interest_lines(POLICY, eur("1000.00"), date(2026, 6, 1), date(2026, 6, 8), is_b2b=True)
    assert line.amount == eur("2.33")


def test_the_period_is_cut_on_1_july_and_1_january_each_with_its_own_rate() -> None:
    rates = {date(2026, 1, 1): Decimal("2.15"), date(2026, 7, 1): Decimal("2.40")}
    lines = interest_lines(
        POLICY,
        eur("1000.00"),
        date(2026, 6, 20),
        date(2026, 7, 10),
        is_b2b=True,
        ecb_rate_for=rates.__getitem__,
    )
    assert [(ln.first_day, ln.last_day, ln.days, ln.rate, ln.amount) for ln in lines] == [
        # 1000 x 12.15 % x 10 / 365 = 3.3288 → 3.33
        (date(2026, 6, 21), date(2026, 6, 30), 10, Decimal("12.15"), eur("3.33")),
        # 1000 x 12.40 % x 10 / 365 = 3.3973 → 3.40
        (date(2026, 7, 1), date(2026, 7, 10), 10, Decimal("12.40"), eur("3.40")),
    ]
    assert late_periods(date(2025, 12, 30), date(2026, 1, 2)) == [
        (date(2025, 12, 31), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 2)),
    ]


def test_the_interest_owed_is_the_sum_of_the_rounded_lines() -> None:
    # 100 EUR at 12.15 %: 2 days in June (0.0666 → 0.07) + 2 in July (0.07) = 0.14,
    # where one computation over 4 days would give 0.1332 → 0.13.
    pen = compute_penalties(POLICY, eur("100.00"), date(2026, 6, 28), date(2026, 7, 2), is_b2b=True)
    assert [ln.amount for ln in pen.interest_lines] == [eur("0.07"), eur("0.07")]
    assert pen.interest == eur("0.14")
    assert pen.total_with_penalties == eur("140.14")  # + the 40 EUR indemnity


def test_a_consumer_line_has_the_contractual_rate_and_no_ecb_basis() -> None:
    policy = PenaltyPolicy(ecb_rate=Decimal("2.15"), consumer_rate=Decimal("5"))
    [line] = interest_lines(
        policy, eur("365.00"), date(2026, 6, 1), date(2026, 6, 11), is_b2b=False
    )
    assert (line.ecb_rate, line.rate, line.amount) == (None, Decimal("5"), eur("0.50"))
    assert (
        interest_lines(POLICY, eur("365.00"), date(2026, 6, 1), date(2026, 6, 11), is_b2b=False)
        == []
    )


def test_date_span_says_the_shared_month_and_year_once() -> None:
    assert date_span(date(2026, 6, 2), date(2026, 6, 8), "fr") == ("2", "8 juin 2026")
    assert date_span(date(2026, 7, 1), date(2026, 7, 8), "fr") == ("1er", "8 juillet 2026")
    assert date_span(date(2026, 5, 1), date(2026, 6, 8), "fr") == ("1er mai", "8 juin 2026")
    assert date_span(date(2026, 6, 2), date(2026, 6, 8), "en") == ("2", "8 June 2026")
    assert date_span(date(2025, 12, 31), date(2026, 1, 2), "en") == (
        "31 December 2025",
        "2 January 2026",
    )
