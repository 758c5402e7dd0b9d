"""Late-payment penalties (French rules by default, every figure a shop setting).

B2B (article L441-10 II, Code de commerce): interest at the ECB main refinancing rate + 10
points, plus a fixed 40 EUR recovery indemnity per invoice (D441-5). The ECB rate to use is the
one in force on 1 January for the first half-year and on 1 July for the second: the caller
supplies it in ``PenaltyPolicy.ecb_rate``.

Consumers: never the 40 EUR indemnity; interest only at the rate the shop's terms set
(``consumer_rate``, default none).

Interest is simple interest on an Actual/365 basis: amount x rate/100 x days late / 365, the
divisor staying 365 in leap years, rounded half-up to the currency's minor unit.

A period of lateness is shown as a lawyer would: one line per half-year it touches (the ECB rate
of reference changes on 1 January and 1 July), each with its rate, its first and last day, its
number of days and its amount. Each line is rounded to the cent once; the interest owed is the
sum of the rounded lines, so the figures printed always add up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from connector.domain.money import Money

DAYS_PER_YEAR = Decimal(365)
DEFAULT_INDEMNITY = Money.of("40", "EUR")
"""D441-5 Code de commerce: 40 EUR per invoice paid late (B2B)."""


@dataclass(frozen=True)
class PenaltyPolicy:
    ecb_rate: Decimal
    """ECB main refinancing rate, percent per year (Decimal("2.15"))."""
    b2b_margin_points: Decimal = Decimal("10")
    """Points added to the ECB rate for B2B late interest."""
    consumer_rate: Decimal | None = None
    """Percent per year charged to consumers; None: no interest for consumers."""
    indemnity: Money = DEFAULT_INDEMNITY
    """Fixed B2B recovery indemnity, once per invoice."""
    contractual_rate: Decimal | None = None
    """Percent per year agreed in the shop's terms for B2B instead of ECB + margin (the caller
    checks it is at least three times the legal interest rate); None: ECB + margin."""

    def __post_init__(self) -> None:
        for name in ("ecb_rate", "b2b_margin_points", "consumer_rate", "contractual_rate"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                raise TypeError(
                    f"PenaltyPolicy.{name} must be a Decimal, not {type(value).__name__}"
                )
        if self.b2b_margin_points < 0:
            raise ValueError("b2b_margin_points cannot be negative")
        if self.consumer_rate is not None and self.consumer_rate < 0:
            raise ValueError("consumer_rate cannot be negative")
        if self.contractual_rate is not None and self.contractual_rate < 0:
            raise ValueError("contractual_rate cannot be negative")
        if not isinstance(self.indemnity, Money):
            raise TypeError("PenaltyPolicy.indemnity must be Money")
        if self.indemnity.amount < 0:
            raise ValueError("indemnity cannot be negative")


def annual_rate(policy: PenaltyPolicy, *, is_b2b: bool) -> Decimal | None:
    """Percent per year: the contractual rate or ECB + margin for B2B, the shop's consumer rate
    (maybe None) otherwise."""
    if is_b2b and policy.contractual_rate is not None:
        return policy.contractual_rate
    if is_b2b:
        return policy.ecb_rate + policy.b2b_margin_points
    return policy.consumer_rate


def days_late(due_on: date, on: date) -> int:
    """Whole days past the due date: paying on the due date is on time (0), the day after is 1."""
    return max(0, (on - due_on).days)


def late_interest(amount_due: Money, annual_rate_percent: Decimal, due_on: date, on: date) -> Money:
    """Simple interest for the days late, rounded half-up to the minor unit.

    A non-positive amount (nothing owed, or a credit) bears no interest; a negative rate is
    refused rather than turned into a discount.
    """
    if not isinstance(annual_rate_percent, Decimal):
        raise TypeError("annual_rate_percent must be a Decimal")
    if annual_rate_percent < 0:
        raise ValueError(f"interest rate cannot be negative (got {annual_rate_percent}%)")
    days = days_late(due_on, on)
    if days == 0 or not amount_due.is_positive():
        return Money.zero(amount_due.currency)
    interest = amount_due.amount * annual_rate_percent / 100 * days / DAYS_PER_YEAR
    return Money(interest, amount_due.currency).rounded()


EcbRateFor = Callable[[date], Decimal]
"""The ECB rate of reference for the half-year starting on the given day (1 January, 1 July)."""


@dataclass(frozen=True)
class InterestLine:
    """Interest for the days late that fall in one half-year."""

    first_day: date
    """The first day counted (the day after the due date, or 1 January / 1 July)."""
    last_day: date
    """The last day counted, included."""
    days: int
    ecb_rate: Decimal | None
    """The half-year's ECB rate of reference (B2B); None for a consumer's contractual rate."""
    rate: Decimal
    """The annual rate applied, percent (ECB + margin for B2B)."""
    amount: Money
    """Rounded once, to the minor unit."""


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def _next_half_year(day: date) -> date:
    return date(day.year, 7, 1) if day.month <= 6 else date(day.year + 1, 1, 1)


def late_periods(due_on: date, on: date) -> list[tuple[date, date]]:
    """The days late (the day after ``due_on`` to ``on``, both included), cut at 1 January
    and 1 July: ``[(first_day, last_day), ...]``, empty when not late."""
    periods: list[tuple[date, date]] = []
    first = due_on + timedelta(days=1)
    while first <= on:
        last = min(on, _next_half_year(first) - timedelta(days=1))
        periods.append((first, last))
        first = last + timedelta(days=1)
    return periods


def interest_lines(
    policy: PenaltyPolicy,
    amount_due: Money,
    due_on: date,
    on: date,
    *,
    is_b2b: bool,
    ecb_rate_for: EcbRateFor | None = None,
) -> list[InterestLine]:
    """One line per half-year of lateness; empty when nothing is owed or no rate applies.

    ``ecb_rate_for`` gives each half-year's ECB rate (an owner's rate table plugs in here);
    by default the policy's single ``ecb_rate`` for every half-year.
    """
    if not amount_due.is_positive():
        return []
    lines: list[InterestLine] = []
    for first, last in late_periods(due_on, on):
        ecb: Decimal | None = None
        if is_b2b and policy.contractual_rate is not None:
            rate: Decimal | None = policy.contractual_rate
        elif is_b2b:
            ecb = ecb_rate_for(half_year_start(first)) if ecb_rate_for else policy.ecb_rate
            rate = ecb + policy.b2b_margin_points
        else:
            rate = policy.consumer_rate
        if rate is None:
            return []
        amount = late_interest(amount_due, rate, first - timedelta(days=1), last)
        days = (last - first).days + 1
        lines.append(InterestLine(first, last, days, ecb, rate, amount))
    return lines


def recovery_indemnity(policy: PenaltyPolicy, *, is_b2b: bool) -> Money | None:
    """The fixed recovery indemnity: B2B only, never for consumers; one per invoice."""
    return policy.indemnity if is_b2b else None


@dataclass(frozen=True)
class Penalties:
    interest: Money | None
    """Interest in the invoice currency; None when no rate applies (consumer default)."""
    rate: Decimal | None
    """The annual rate used, percent."""
    indemnity: Money | None
    """The recovery indemnity owed, in its own currency (EUR by default); None if not owed."""
    total_with_penalties: Money
    """Amount due + interest + indemnity when the indemnity is in the invoice currency."""
    interest_lines: tuple[InterestLine, ...] = ()
    """How ``interest`` is made: one line per half-year, their amounts summing to it."""


def compute_penalties(
    policy: PenaltyPolicy,
    amount_due: Money,
    due_on: date,
    on: date,
    *,
    is_b2b: bool,
    ecb_rate_for: EcbRateFor | None = None,
) -> Penalties:
    """Everything owed on ``on`` for one invoice.

    The indemnity is owed only once the invoice is late (L441-10: "en situation de retard de
    paiement"), and once per invoice whatever the number of reminders. It is added to the
    total only when it is in the invoice's currency; for, say, a USD invoice it stays a separate
    EUR amount (``indemnity``) and the total covers amount + interest only, since converting
    it would need an exchange rate this pure function does not have.
    """
    rate = annual_rate(policy, is_b2b=is_b2b)
    lines = tuple(
        interest_lines(policy, amount_due, due_on, on, is_b2b=is_b2b, ecb_rate_for=ecb_rate_for)
    )
    interest: Money | None = None
    if rate is not None:
        interest = Money.zero(amount_due.currency)
        for line in lines:
            interest = interest + line.amount
    indemnity = recovery_indemnity(policy, is_b2b=is_b2b) if days_late(due_on, on) > 0 else None
    total = amount_due
    if interest is not None:
        total = total + interest
    if indemnity is not None and indemnity.currency == amount_due.currency:
        total = total + indemnity
    return Penalties(
        interest=interest,
        rate=rate,
        indemnity=indemnity,
        total_with_penalties=total,
        interest_lines=lines,
    )
