"""The ECB rate table as a shop sees it: the shipped rows, overridden by the shop's own."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from decimal import Decimal

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session

from connector.domain.rates import RateTable, half_year_start
from connector.store.models import EcbRate, ShopEcbRate


def ecb_table(session: Session, shop_id: int) -> RateTable:
    """Every half-year's rate for ``shop_id`` (one query): its own rows win over the shipped."""
    shipped = select(EcbRate.starts_on, EcbRate.rate_bp, literal(0).label("own"))
    own = select(ShopEcbRate.starts_on, ShopEcbRate.rate_bp, literal(1).label("own")).where(
        ShopEcbRate.shop_id == shop_id
    )
    rows = session.execute(union_all(shipped, own)).all()
    rates: dict[date, Decimal] = {}
    for starts_on, rate_bp, _ in sorted(rows, key=lambda r: (r[2], r[0])):  # own ones last
        rates[starts_on] = (Decimal(rate_bp) / 100).quantize(Decimal("0.01"))  # « 2,40 % »
    return RateTable(rates)


def shops_without_rate(session: Session, shop_ids: Collection[int], starts_on: date) -> set[int]:
    """Which of ``shop_ids`` have no rate for the half-year starting ``starts_on`` (neither
    shipped nor their own): one query when it is shipped, two at most, for all the shops."""
    if not shop_ids:
        return set()
    if session.scalar(select(EcbRate.rate_bp).where(EcbRate.starts_on == starts_on)) is not None:
        return set()
    own = session.scalars(
        select(ShopEcbRate.shop_id).where(
            ShopEcbRate.shop_id.in_(list(shop_ids)), ShopEcbRate.starts_on == starts_on
        )
    )
    return set(shop_ids) - set(own)


def own_half_years(session: Session, shop_id: int) -> set[date]:
    """The half-years whose rate the shop's owner set."""
    return set(session.scalars(select(ShopEcbRate.starts_on).where(ShopEcbRate.shop_id == shop_id)))


def put_ecb_rate(session: Session, shop_id: int, starts_on: date, rate_bp: int) -> None:
    """Set the shop's own rate for the half-year starting ``starts_on`` (added or replaced)."""
    starts_on = half_year_start(starts_on)
    row = session.scalar(
        select(ShopEcbRate).where(
            ShopEcbRate.shop_id == shop_id, ShopEcbRate.starts_on == starts_on
        )
    )
    if row is None:
        session.add(ShopEcbRate(shop_id=shop_id, starts_on=starts_on, rate_bp=rate_bp))
    else:
        row.rate_bp = rate_bp
