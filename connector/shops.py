"""Creating a shop (the tenant) with its default sequence."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.domain.email import InvalidEmail, valid_email
from connector.domain.money import normalize_currency
from connector.dunning.compose import SUPPORTED_LOCALES
from connector.dunning.sequence import ensure_default_sequence
from connector.store.models import Shop


class ShopError(ValueError):
    """Invalid shop settings; the message names the field."""


def validate_email(value: str, field: str) -> str:
    """The shop's addresses go out as sender and reply-to: the provider must accept them."""
    try:
        return valid_email(value)
    except InvalidEmail as exc:
        raise ShopError(f"{field}: {exc}") from exc


def create_shop(
    session: Session,
    *,
    name: str,
    email: str,
    timezone: str = "Europe/Paris",
    locale: str = "fr",
    currency: str = "EUR",
    b2b: bool = False,
) -> Shop:
    if not name.strip():
        raise ShopError("name: must not be empty")
    email = validate_email(email, "email")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ShopError(f"timezone: unknown time zone {timezone!r}") from exc
    if locale not in SUPPORTED_LOCALES:
        raise ShopError(f"locale: must be one of {', '.join(SUPPORTED_LOCALES)}, got {locale!r}")
    try:
        currency = normalize_currency(currency)
    except ValueError as exc:
        raise ShopError(f"currency: {exc}") from exc
    shop = Shop(
        name=name.strip(),
        owner_email=email,
        contact_email=email,
        timezone=timezone,
        locale=locale,
        currency=currency,
        default_b2b=b2b,
    )
    session.add(shop)
    session.flush()
    ensure_default_sequence(session, shop)
    return shop


def resolve_shop(session: Session, shop_id: int | None) -> Shop:
    """The shop a command acts on: the one given, or the only one there is."""
    if shop_id is not None:
        shop = session.get(Shop, shop_id)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        return shop
    shops = session.scalars(select(Shop).order_by(Shop.id).limit(2)).all()
    if not shops:
        raise ShopError("no shop yet: run `relance shop create --name … --email …` first")
    if len(shops) > 1:
        raise ShopError("several shops: pass --shop ID")
    return shops[0]
