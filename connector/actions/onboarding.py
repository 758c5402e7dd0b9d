"""The first run's three ways to get invoices in: a CSV upload and the demo data (connecting
a platform is `relance connect …` for now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from connector.actions.accounts import ShopSummary, add_membership
from connector.demo import seed_demo_shop
from connector.importer import import_invoices
from connector.store.db import write_session
from connector.store.models import Owner, Shop


@dataclass(frozen=True, slots=True)
class UploadResult:
    rows: int
    inserted: int
    updated: int
    settled_untouched: int


def import_csv(
    sessions: sessionmaker[Session], shop_id: int, data: bytes, now: datetime
) -> UploadResult:
    """Every row checked first; on any error ImportError_ lists them and nothing is written."""
    with write_session(sessions) as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise LookupError(f"shop {shop_id} does not exist")
        result = import_invoices(s, shop, data, now)
    return UploadResult(
        rows=result.rows,
        inserted=result.stats.inserted,
        updated=result.stats.updated,
        settled_untouched=result.settled_untouched,
    )


def load_demo_data(sessions: sessionmaker[Session], owner_id: int, now: datetime) -> ShopSummary:
    """A demo shop the owner is made a member of, beside their own (never mixed into it)."""
    with write_session(sessions) as s:
        owner = s.get(Owner, owner_id)
        if owner is None:
            raise LookupError(f"owner {owner_id} does not exist")
        shop = seed_demo_shop(s, now, owner_email=owner.email)
        add_membership(s, owner_id, shop)
        return ShopSummary(shop.id, shop.name, shop.timezone, shop.currency)
