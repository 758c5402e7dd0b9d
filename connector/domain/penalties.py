"""Late-payment penalties (French rules by default, every figure a shop setting).

B2B (article L441-10 II, Code de commerce): interest at the ECB main refinancing rate + 10
points, plus a fixed 40 EUR recovery indemnity per invoice (D441-5). The ECB rate to use is the
one in force on 1 January for the first half-year and on 1 July for the second: the caller
supplies it in ``PenaltyPolicy.ecb_rate``.

Consumers: never the 40 EUR indemnity; interest only at the rate the shop's terms set
(``consumer_rate``, default none).

Interest is simple interest on an Actual/365 basis: amount x rate/100 x days late / 365, the
divisor staying 365 in leap years, rounded half-up to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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

    def __post_init__(self) -> None:
        for name in ("ecb_rate", "b2b_margin_points", "consumer_rate"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Decimal):
                raise TypeError(
                    f"PenaltyPolicy.{name} must be a Decimal, not {type(value).__name__}"
                )
        if self.b2b_margin_points < 0:
            raise ValueError("b2b_margin_points cannot be negative")
        if self.consumer_rate is not None and self.consumer_rate < 0:
            raise ValueError("consumer_rate cannot be negative")
        if not isinstance(self.indemnity, Money):
            raise TypeError("PenaltyPolicy.indemnity must be Money")
        if self.indemnity.amount < 0:
            raise ValueError("indemnity cannot be negative")


def annual_rate(policy: PenaltyPolicy, *, is_b2b: bool) -> Decimal | None:
    """Percent per year: ECB + margin for B2B, the shop's consumer rate (maybe None) otherwise."""
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


def compute_penalties(
    policy: PenaltyPolicy, amount_due: Money, due_on: date, on: date, *, is_b2b: bool
) -> Penalties:
    """Everything owed on ``on`` for one invoice.

    The indemnity is owed only once the invoice is late (L441-10: "en situation de retard de
    paiement"), and once per invoice whatever the number of reminders. It is added to the
    total only when it is in the invoice's currency; for, say, a USD invoice it stays a separate
    EUR amount (``indemnity``) and the total covers amount + interest only, since converting
    it would need an exchange rate this pure function does not have.
    """
    rate = annual_rate(policy, is_b2b=is_b2b)
    interest = None if rate is None else late_interest(amount_due, rate, due_on, on)
    indemnity = recovery_indemnity(policy, is_b2b=is_b2b) if days_late(due_on, on) > 0 else None
    total = amount_due
    if interest is not None:
        total = total + interest
    if indemnity is not None and indemnity.currency == amount_due.currency:
        total = total + indemnity
    return Penalties(interest=interest, rate=rate, indemnity=indemnity, total_with_penalties=total)
