"""A shop's settings turned into the domain's rule objects (window, penalties, escalation)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import lru_cache

from connector.domain.calendar import BusinessCalendar, SendingWindow
from connector.domain.money import Money
from connector.domain.penalties import PenaltyPolicy
from connector.dunning.planner import EscalationPolicy
from connector.store.models import Shop


def _bp(value: int) -> Decimal:
    return Decimal(value) / Decimal(100)


@lru_cache(maxsize=64)
def _calendar(country: str, subdiv: str | None) -> BusinessCalendar:
    return BusinessCalendar(country, subdiv)


def sending_window(shop: Shop) -> SendingWindow:
    return SendingWindow(
        timezone=shop.timezone,
        start=shop.window_start,
        end=shop.window_end,
        business_days_only=shop.business_days_only,
        calendar=_calendar(shop.holiday_country, shop.holiday_subdiv),
    )


def penalty_policy(shop: Shop, ecb_rate: Decimal | None = None) -> PenaltyPolicy:
    """The shop's penalty settings; ``ecb_rate``: the current half-year's rate from the shop's
    ECB table (the shop's single ``ecb_rate_bp`` column otherwise)."""
    policy = _penalty_policy(
        shop.ecb_rate_bp,
        shop.contractual_rate_bp,
        shop.b2b_margin_bp,
        shop.consumer_rate_bp,
        shop.indemnity_minor,
    )
    return policy if ecb_rate is None else replace(policy, ecb_rate=ecb_rate)


@lru_cache(maxsize=1_024)
def _penalty_policy(
    ecb_rate_bp: int,
    contractual_rate_bp: int | None,
    b2b_margin_bp: int,
    consumer_rate_bp: int | None,
    indemnity_minor: int,
) -> PenaltyPolicy:
    """One policy per set of settings (a frozen value, built for every message otherwise)."""
    return PenaltyPolicy(
        ecb_rate=_bp(ecb_rate_bp),
        contractual_rate=None if contractual_rate_bp is None else _bp(contractual_rate_bp),
        b2b_margin_points=_bp(b2b_margin_bp),
        consumer_rate=None if consumer_rate_bp is None else _bp(consumer_rate_bp),
        indemnity=Money.from_minor(indemnity_minor, "EUR"),
    )


def escalation_policy(shop: Shop) -> EscalationPolicy:
    return EscalationPolicy(
        after_reminders=shop.escalate_after_reminders,
        above_minor=shop.escalate_above_minor,
    )
