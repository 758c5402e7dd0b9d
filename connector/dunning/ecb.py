"""Flag a missing ECB rate: a half-year without its rate uses the last known one, and the owner
is asked, once per half-year, to add it (L441-10 II: each half-year has its own rate)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy.orm import Session

from connector.domain.rates import half_year_label, half_year_start
from connector.store.models import Shop, TaskKind
from connector.store.rates import ecb_table, shops_without_rate
from connector.tasks import open_task


def flag_missing_ecb_rate(session: Session, shop: Shop, today: date) -> bool:
    """Open the task when the shop computes ECB-based interest and today's half-year has no
    rate in its table; True if it is missing."""
    if shop.contractual_rate_bp is not None:
        return False
    table = ecb_table(session, shop.id)
    start = half_year_start(today)
    if table.known(start):
        return False
    label = half_year_label(start)
    latest = table.latest()
    used = f"{latest[1]} % ({half_year_label(latest[0])})" if latest else "none"
    open_task(
        session,
        shop_id=shop.id,
        kind=TaskKind.ECB_RATE_MISSING,
        title=f"Add the ECB rate for {label} (Settings › Legal): late interest uses the last "
        f"known rate, {used}, until you do",
        dedupe_key=f"ecb_rate_missing:{label}",
    )
    return True


def flag_missing_ecb_rates(session: Session, shops: Iterable[tuple[Shop, date]]) -> None:
    """:func:`flag_missing_ecb_rate` for many shops (each with its local ``today``): the rate
    tables are probed in one or two queries for them all, and only a shop whose half-year has
    no rate goes the one-shop way (it opens the task)."""
    by_half: dict[date, list[Shop]] = {}
    for shop, today in shops:
        if shop.contractual_rate_bp is None:
            by_half.setdefault(half_year_start(today), []).append(shop)
    for start, group in by_half.items():
        missing = shops_without_rate(session, {shop.id for shop in group}, start)
        for shop in group:
            if shop.id in missing:
                flag_missing_ecb_rate(session, shop, start)
