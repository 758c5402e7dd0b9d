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


POSTING_DELAY_MAX = 15
"""Days a posted letter may be set to take: beyond, a deadline counted from it means little."""
#: Longest value a one-line setting takes (the column is VARCHAR(255)).
_MAX_LINE = 255
_TEXT_SETTINGS = ("payment_instructions", "consumer_mediator")  # may span several lines


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
    posting_delay_days: int | None = None,
    messages: MessageSettings | None = None,
    identity: LegalIdentity | None = None,
) -> ShopSummary:
    """Change only what is given (every field checked first: ShopError names a bad one and
    nothing is written then)."""
    if posting_delay_days is not None and not 0 <= posting_delay_days <= POSTING_DELAY_MAX:
        raise ShopError(
            f"--posting-delay {posting_delay_days}: between 0 and {POSTING_DELAY_MAX} days"
        )
    changes = _checked(messages or MessageSettings())
    changes.update(identity.validated() if identity is not None else {})
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id, with_for_update=True)
        if shop is None:
            raise ShopError(f"shop {shop_id} does not exist")
        if thank_you is not None:
            shop.thank_you_enabled = thank_you
        if posting_delay_days is not None:
            shop.letter_posting_delay_days = posting_delay_days
        for name, value in changes.items():
            setattr(shop, name, value)
        return summary(shop)


def _checked(settings: MessageSettings) -> dict[str, str | bool | None]:
    """The fields to write: text trimmed, "" clears, one-line fields stay one short line."""
    out: dict[str, str | bool | None] = {}
    if settings.has_terms_and_conditions is not None:
        out["has_terms_and_conditions"] = settings.has_terms_and_conditions
    for name in (
        "payment_instructions",
        "contact_name",
        "contact_phone",
        "signatory_name",
        "signatory_role",
        "consumer_mediator",
    ):
        value: str | None = getattr(settings, name)
        if value is None:
            continue
        value = value.strip()
        if name not in _TEXT_SETTINGS and ("\n" in value or len(value) > _MAX_LINE):
            field = name.replace("_", "-")
            raise ShopError(f"--{field}: one line of at most {_MAX_LINE} characters")
        out[name] = value or None
    return out


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
