"""Shops (the tenants): create, list, change settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector.services import Services
from connector.shops import ShopError, create_shop
from connector.store.db import write_session
from connector.store.models import Shop


@dataclass(frozen=True, slots=True)
class ShopSummary:
    id: int
    name: str
    owner_email: str
    timezone: str
    locale: str
    currency: str
    b2b: bool
    thank_you: bool
    posting_delay_days: int = 2

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.owner_email,
            "timezone": self.timezone,
            "locale": self.locale,
            "currency": self.currency,
            "b2b": self.b2b,
            "thank_you": self.thank_you,
            "posting_delay_days": self.posting_delay_days,
        }


def create(
    svc: Services,
    *,
    name: str,
    email: str,
    timezone: str = "Europe/Paris",
    locale: str = "fr",
    currency: str = "EUR",
    b2b: bool = False,
    thank_you: bool = False,
) -> ShopSummary:
    """A new shop with the default reminder sequence (ShopError names a bad field)."""
    with write_session(svc.sessions) as s:
        shop = create_shop(
            s, name=name, email=email, timezone=timezone, locale=locale, currency=currency, b2b=b2b
        )
        shop.thank_you_enabled = thank_you
        return summary(shop)


def list_shops(svc: Services) -> list[ShopSummary]:
    with svc.sessions() as s:
        return [summary(shop) for shop in s.scalars(select(Shop).order_by(Shop.id))]


POSTING_DELAY_MAX = 15
"""Days a posted letter may be set to take: beyond, a deadline counted from it means little."""


def update(
    svc: Services,
    shop_id: int,
    *,
    thank_you: bool | None = None,
    posting_delay_days: int | None = None,
) -> ShopSummary:
    """Change only what is given (ShopError names a bad value; nothing is changed then)."""
    if posting_delay_days is not None and not 0 <= posting_delay_days <= POSTING_DELAY_MAX:
        raise ShopError(
            f"--posting-delay {posting_delay_days}: between 0 and {POSTING_DELAY_MAX} days"
        )
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id, with_for_update=True)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        if thank_you is not None:
            shop.thank_you_enabled = thank_you
        if posting_delay_days is not None:
            shop.letter_posting_delay_days = posting_delay_days
        return summary(shop)


def summary(shop: Shop) -> ShopSummary:
    return ShopSummary(
        id=shop.id,
        name=shop.name,
        owner_email=shop.owner_email,
        timezone=shop.timezone,
        locale=shop.locale,
        currency=shop.currency,
        b2b=shop.default_b2b,
        thank_you=shop.thank_you_enabled,
        posting_delay_days=shop.letter_posting_delay_days,
    )
