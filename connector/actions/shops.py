"""Shops (the tenants): create, list, change settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector.domain.identity import IdentityError, city_of, valid_siren
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
    legal_name: str | None = None
    legal_form: str | None = None
    siren: str | None = None
    rcs_city: str | None = None
    registered_office: str | None = None
    postal_address: str | None = None

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
            "legal_name": self.legal_name,
            "legal_form": self.legal_form,
            "siren": self.siren,
            "rcs_city": self.rcs_city,
            "registered_office": self.registered_office,
            "postal_address": self.postal_address,
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


@dataclass(frozen=True, slots=True)
class LegalIdentity:
    """The creditor's identification letters need; None: leave that setting as it is."""

    legal_name: str | None = None
    legal_form: str | None = None
    siren: str | None = None
    rcs_city: str | None = None
    registered_office: str | None = None
    postal_address: str | None = None

    def validated(self) -> dict[str, str]:
        """The settings to write, each checked (ShopError names the field); nothing is written
        unless every given field is right."""
        out: dict[str, str] = {}
        for field in ("legal_name", "legal_form", "rcs_city"):
            value = getattr(self, field)
            if value is not None:
                out[field] = _one_line(value, field)
        if self.siren is not None:
            try:
                out["siren"] = valid_siren(self.siren)
            except IdentityError as exc:
                raise ShopError(str(exc)) from exc
        for field, option in (
            ("registered_office", "address"),
            ("postal_address", "postal_address"),
        ):
            value = getattr(self, field)
            if value is not None:
                out[field] = _address(value, option)
        return out


def _one_line(value: str, field: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ShopError(f"{field}: must not be empty")
    return text


def _address(value: str, field: str) -> str:
    """A postal address: lines separated by newlines (or a literal \\n from a shell), one of
    them a postal code and town (« 75011 Paris »)."""
    lines = [" ".join(line.split()) for line in value.replace("\\n", "\n").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2:
        raise ShopError(f"{field}: give at least a street line and a « postal code town » line")
    text = "\n".join(lines)
    if city_of(text) is None:
        raise ShopError(f"{field}: no line starts with a postal code and town (« 75011 Paris »)")
    return text


def update(
    svc: Services,
    shop_id: int,
    *,
    thank_you: bool | None = None,
    identity: LegalIdentity | None = None,
) -> ShopSummary:
    """Change only what is given (every field checked before anything is written)."""
    changes = identity.validated() if identity is not None else {}
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id, with_for_update=True)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        if thank_you is not None:
            shop.thank_you_enabled = thank_you
        for field, value in changes.items():
            setattr(shop, field, value)
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
        legal_name=shop.legal_name,
        legal_form=shop.legal_form,
        siren=shop.siren,
        rcs_city=shop.rcs_city,
        registered_office=shop.registered_office,
        postal_address=shop.postal_address,
    )
