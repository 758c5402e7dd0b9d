"""Dated rate tables by half-year: the ECB rate of reference and the French legal interest rate.

L441-10 II Code de commerce: during each half-year, late interest uses the ECB main refinancing
rate in force on its 1 January (first half) or 1 July (second half). The shipped ECB table lives
in the store (migration 0013 seeds it; owners add the next half-year's rate); this module only
reads a table given to it.

The legal interest rate (taux de l'intérêt légal, L313-2 Code monétaire et financier) is set
twice a year by arrêté; a contractual late rate between businesses may not be lower than three
times it (L441-10 II). The rate "pour tous les autres cas" applies to a professional creditor.
Source: the arrêtés published in the Journal officiel each June and December (Legifrance), e.g.
the arrêté du 15 décembre 2025, JORF n°0302 du 26 décembre 2025, for the first half of 2026
(2,62 %): https://juriblio.fr/arretes/arrete-du-15-decembre-2025/187383136 . Add each new
half-year here when its arrêté is published.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

_HALF = re.compile(r"^\s*(\d{4})\s*-?\s*[Hh]\s*([12])\s*$")

LEGAL_RATE_PROFESSIONAL: Mapping[date, Decimal] = {
    date(2015, 1, 1): Decimal("0.93"),
    date(2015, 7, 1): Decimal("0.99"),
    date(2016, 1, 1): Decimal("1.01"),
    date(2016, 7, 1): Decimal("0.93"),
    date(2017, 1, 1): Decimal("0.90"),
    date(2017, 7, 1): Decimal("0.90"),
    date(2018, 1, 1): Decimal("0.89"),
    date(2018, 7, 1): Decimal("0.88"),
    date(2019, 1, 1): Decimal("0.86"),
    date(2019, 7, 1): Decimal("0.87"),
    date(2020, 1, 1): Decimal("0.87"),
    date(2020, 7, 1): Decimal("0.84"),
    date(2021, 1, 1): Decimal("0.79"),
    date(2021, 7, 1): Decimal("0.76"),
    date(2022, 1, 1): Decimal("0.76"),
    date(2022, 7, 1): Decimal("0.77"),
    date(2023, 1, 1): Decimal("2.06"),
    date(2023, 7, 1): Decimal("4.22"),
    date(2024, 1, 1): Decimal("5.07"),
    date(2024, 7, 1): Decimal("4.92"),
    date(2025, 1, 1): Decimal("3.71"),
    date(2025, 7, 1): Decimal("2.76"),
    date(2026, 1, 1): Decimal("2.62"),
}
"""Taux de l'intérêt légal « pour tous les autres cas » (professional creditors), percent."""

CONTRACTUAL_FLOOR_FACTOR = 3
"""L441-10 II: a contractual late rate is at least three times the legal interest rate."""


class RateError(ValueError):
    """A half-year or a rate that cannot be right; the message says which and why."""


def half_year_start(day: date) -> date:
    """1 January or 1 July of ``day``'s half-year."""
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def half_year_label(start: date) -> str:
    """« 2026-H1 » for 1 January 2026, « 2026-H2 » for 1 July 2026."""
    return f"{start.year}-H{1 if start.month <= 6 else 2}"


def parse_half_year(text: str) -> date:
    """« 2026-H1 » (or 2026H2, 2026-h1) → the half-year's first day; RateError otherwise."""
    match = _HALF.match(text or "")
    if not match:
        raise RateError(f"half-year {text!r}: write it as YYYY-H1 or YYYY-H2, e.g. 2026-H1")
    year = int(match.group(1))
    if not 1999 <= year <= 2100:
        raise RateError(f"half-year {text!r}: the year must be between 1999 and 2100")
    return date(year, 1 if match.group(2) == "1" else 7, 1)


def parse_percent(text: str, field: str, *, maximum: Decimal = Decimal(100)) -> Decimal:
    """« 2.15 », « 2,15 » or « 2,15 % » → Decimal("2.15"), at most two decimals, 0 to maximum."""
    cleaned = (text or "").strip().rstrip("%").strip().replace(",", ".").replace("\u202f", "")
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        raise RateError(f"{field}: {text!r} is not a percentage (e.g. 2.15)") from None
    if not value.is_finite():
        raise RateError(f"{field}: {text!r} is not a percentage (e.g. 2.15)")
    if value < 0:
        raise RateError(f"{field}: cannot be negative (got {text.strip()})")
    if value > maximum:
        raise RateError(f"{field}: at most {maximum} % (got {text.strip()})")
    if value != value.quantize(Decimal("0.01")):
        raise RateError(f"{field}: at most two decimals (got {text.strip()})")
    return value.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class RateTable:
    """Rates by half-year start. A half-year missing from the table takes the last known rate
    before it (``missing`` says which ones did)."""

    rates: Mapping[date, Decimal]

    def known(self, start: date) -> bool:
        return half_year_start(start) in self.rates

    def rate_for(self, start: date) -> Decimal:
        """The rate of the half-year starting at ``start`` (or the last known before it)."""
        start = half_year_start(start)
        found = self.rates.get(start)
        if found is not None:
            return found
        earlier = [d for d in self.rates if d <= start]
        if earlier:
            return self.rates[max(earlier)]
        if not self.rates:
            raise RateError("the rate table is empty")
        return self.rates[min(self.rates)]

    def latest(self) -> tuple[date, Decimal] | None:
        if not self.rates:
            return None
        last = max(self.rates)
        return last, self.rates[last]


LEGAL_RATES = RateTable(LEGAL_RATE_PROFESSIONAL)


def legal_rate_in_force(on: date) -> tuple[date, Decimal]:
    """The legal interest rate for professionals on ``on`` and the half-year it is from: that
    of ``on``'s half-year, or the latest published before it when its arrêté is not in the
    table yet."""
    start = half_year_start(on)
    if start in LEGAL_RATES.rates:
        return start, LEGAL_RATES.rates[start]
    earlier = [d for d in LEGAL_RATES.rates if d <= start] or [min(LEGAL_RATES.rates)]
    return max(earlier), LEGAL_RATES.rates[max(earlier)]


def contractual_floor(on: date) -> Decimal:
    """The lowest contractual B2B late rate allowed on ``on``: 3 x the legal interest rate."""
    return legal_rate_in_force(on)[1] * CONTRACTUAL_FLOOR_FACTOR


def floor_reason(on: date) -> str:
    """« 7.86 %: 3 × the legal interest rate of 2.62 % (2026-H1) », for pages and errors."""
    start, legal = legal_rate_in_force(on)
    return (
        f"{contractual_floor(on)} %: {CONTRACTUAL_FLOOR_FACTOR} × the legal interest rate of "
        f"{legal} % ({half_year_label(start)})"
    )
