"""The ECB rate table as a shop sees it: the shipped rows, overridden by the shop's own."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from connector.domain.rates import RateTable, half_year_start
from connector.store.models import EcbRate


def ecb_table(session: Session, shop_id: int) -> RateTable:
    """Every half-year's rate for ``shop_id`` (one query): its own rows win over the shipped."""
    rows = session.execute(
        select(EcbRate.starts_on, EcbRate.rate_bp, EcbRate.shop_id)
        .where(or_(EcbRate.shop_id.is_(None), EcbRate.shop_id == shop_id))
        .order_by(EcbRate.shop_id.is_not(None), EcbRate.starts_on)
    ).all()
    rates: dict[date, Decimal] = {}
    for starts_on, rate_bp, _ in rows:  # shipped first, then the shop's own over them
        rates[starts_on] = Decimal(rate_bp) / 100
    return RateTable(rates)


def put_ecb_rate(session: Session, shop_id: int, starts_on: date, rate_bp: int) -> None:
    """Set the shop's own rate for the half-year starting ``starts_on`` (added or replaced)."""
    starts_on = half_year_start(starts_on)
    row = session.scalar(
        select(EcbRate).where(EcbRate.shop_id == shop_id, EcbRate.starts_on == starts_on)
    )
    if row is None:
        session.add(EcbRate(shop_id=shop_id, starts_on=starts_on, rate_bp=rate_bp))
    else:
        row.rate_bp = rate_bp
