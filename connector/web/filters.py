"""Jinja filters for the owner's pages: dates in the shop's time zone (never in UTC) and
amounts in the shop's language.

Each takes the shop (anything with ``timezone`` and ``locale``) the value belongs to:
``{{ invoice.due_at | local_day(shop) }}`` → "1er juin 2026",
``{{ task.created_at | local_time(shop) }}`` → "2026-06-01 10:00 CEST".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from connector.actions.connection_status import PLATFORM_NAMES
from connector.actions.connections import CSV_PLATFORM
from connector.domain.dates import BABEL_LOCALES, instant_label, language_of, local_date, long_date
from connector.domain.money import Money
from connector.dunning.sequence import DEFAULT_SEQUENCE_NAME


class ShopZone(Protocol):
    timezone: str
    locale: str


def local_day(instant: datetime | None, shop: ShopZone) -> str:
    """The shop-local day of an instant, written out in the shop's language."""
    if instant is None:
        return "—"
    return long_date(local_date(instant, shop.timezone), shop.locale)


def local_time(instant: datetime | None, shop: ShopZone) -> str:
    """An instant on the shop's wall clock, labelled with its zone."""
    if instant is None:
        return "—"
    return instant_label(instant, shop.timezone)


def day(value: date | None, shop: ShopZone) -> str:
    """A shop-local day (already a date), written out in the shop's language."""
    return "—" if value is None else long_date(value, shop.locale)


def money(amount: Money, shop: ShopZone) -> str:
    """An amount in its currency, written the way the shop's language writes it
    ("2 400,00 €" in French, "€2,400.00" in English)."""
    lang = language_of(shop.locale)
    return amount.format(BABEL_LOCALES.get(lang, lang))


DATE_FILTERS: dict[str, Callable[..., Any]] = {
    "local_day": local_day,
    "local_time": local_time,
    "day": day,
    "money": money,
}


def sentence(text: object) -> str:
    """A message as a sentence: its first letter capitalised, the rest as written (action
    errors name fields in lower case — "step 'releve' sends…" — and read as a sentence here)."""
    said = str(text)
    return said[:1].upper() + said[1:]


def platform_name(platform: str) -> str:
    """A platform as its maker spells it: "WooCommerce", not "Woocommerce" or "woocommerce"."""
    return {**PLATFORM_NAMES, CSV_PLATFORM: "CSV"}.get(platform, platform)


def sequence_title(name: str, is_default: bool) -> str:
    """A sequence's name said once: "Default sequence" for the shop's default (named
    "default"), "Relances B2B (default sequence)" if the owner renamed it, else its name."""
    if not is_default:
        return name
    return "Default sequence" if name == DEFAULT_SEQUENCE_NAME else f"{name} (default sequence)"


TEXT_FILTERS: dict[str, Callable[..., Any]] = {
    "sentence": sentence,
    "platform_name": platform_name,
    "sequence_title": sequence_title,
}
