"""Shops (the tenants): create, list, show. Their settings change through
connector.actions.settings (the pages and `relance shop set` alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector.services import Services
from connector.shops import ShopError, create_shop
from connector.store.db import write_session
from connector.store.models import Shop


@dataclass(frozen=True, slots=True)
class MessageSettings:
    """What the messages say about the shop; None: leave as it is, "": clear it."""

    payment_instructions: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    signatory_name: str | None = None
    signatory_role: str | None = None
    consumer_mediator: str | None = None
    has_terms_and_conditions: bool | None = None


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
    messages: MessageSettings = MessageSettings()
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
            "posting_delay_days": self.posting_delay_days,
            "payment_instructions": self.messages.payment_instructions,
            "contact_name": self.messages.contact_name,
            "contact_phone": self.messages.contact_phone,
            "signatory_name": self.messages.signatory_name,
            "signatory_role": self.messages.signatory_role,
            "terms_and_conditions": bool(self.messages.has_terms_and_conditions),
            "consumer_mediator": self.messages.consumer_mediator,
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


def get(svc: Services, shop_id: int) -> ShopSummary:
    """One shop's summary (ShopError when there is no such shop)."""
    with svc.sessions() as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        return summary(shop)


def list_shops(svc: Services) -> list[ShopSummary]:
    with svc.sessions() as s:
        return [summary(shop) for shop in s.scalars(select(Shop).order_by(Shop.id))]


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
        messages=MessageSettings(
            payment_instructions=shop.payment_instructions,
            contact_name=shop.contact_name,
            contact_phone=shop.contact_phone,
            signatory_name=shop.signatory_name,
            signatory_role=shop.signatory_role,
            consumer_mediator=shop.consumer_mediator,
            has_terms_and_conditions=shop.has_terms_and_conditions,
        ),
        legal_name=shop.legal_name,
        legal_form=shop.legal_form,
        siren=shop.siren,
        rcs_city=shop.rcs_city,
        registered_office=shop.registered_office,
        postal_address=shop.postal_address,
    )
