"""The first run's three ways to get invoices in: a CSV upload and the demo data (connecting
a platform is `relance connect …` for now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connector.actions.accounts import ShopSummary, add_membership
from connector.demo import load_demo
from connector.importer import import_invoices
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Membership, Owner, Shop


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


def load_demo_data(svc: Services, owner_id: int, now: datetime) -> ShopSummary:
    """The owner's demo shop (made once, beside their own, never mixed into it), its invoices
    synced from the demo platforms through the real adapters — ``relance demo``'s own loading.
    No tick: the scheduler sends its reminders (the web never sends)."""
    with svc.sessions() as s:
        owner = s.get(Owner, owner_id)
        if owner is None:
            raise LookupError(f"owner {owner_id} does not exist")
        email = owner.email
    shop = load_demo(svc, email, now)
    with write_session(svc.sessions) as s:
        found = s.get(Shop, shop.id)
        assert found is not None
        member = select(Membership.id).where(
            Membership.owner_id == owner_id, Membership.shop_id == shop.id
        )
        if s.scalar(member) is None:
            add_membership(s, owner_id, found)
    return ShopSummary(shop.id, shop.name, shop.timezone, shop.currency)
