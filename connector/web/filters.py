"""Jinja filters for the owner's pages: dates in the shop's time zone (never in UTC), written
in the page's language, and amounts in the shop's language.

Each date filter takes the shop (anything with ``timezone``) the value belongs to and writes the
date the way the page's language does (``page_lang``, English on the owner's pages — a French
shop's page in English reads "1 June 2026", not "1er juin 2026"):
``{{ invoice.due_at | local_day(shop) }}`` → "1 June 2026",
``{{ task.created_at | local_time(shop) }}`` → "1 June 2026, 10:00 CEST".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from jinja2 import pass_context
from jinja2.runtime import Context

from connector.actions.connection_status import PLATFORM_NAMES
from connector.actions.connections import CSV_PLATFORM
from connector.domain.dates import (
    BABEL_LOCALES,
    instant_words,
    language_of,
    local_date,
    long_date,
    month_words,
)
from connector.domain.money import Money
from connector.domain.phrases import step_name, translate
from connector.dunning.sequence import DEFAULT_SEQUENCE_NAME

PAGE_LANGUAGE = "en"
"""The language the owner's pages are written in (``page_lang`` in every template): their dates
and step names are said in it, whatever the shop writes to its customers in."""


class ShopZone(Protocol):
    timezone: str
    locale: str


def page_language(ctx: Context) -> str:
    """The language of the page being rendered."""
    return str(ctx.get("page_lang") or PAGE_LANGUAGE)


@pass_context
def local_day(ctx: Context, instant: datetime | None, shop: ShopZone) -> str:
    """The shop-local day of an instant, written out in the page's language."""
    if instant is None:
        return "—"
    return long_date(local_date(instant, shop.timezone), page_language(ctx))


@pass_context
def local_time(ctx: Context, instant: datetime | None, shop: ShopZone) -> str:
    """An instant on the shop's wall clock with its zone, its day as the page writes one."""
    if instant is None:
        return "—"
    return instant_words(instant, shop.timezone, page_language(ctx))


@pass_context
def day(ctx: Context, value: date | None, shop: ShopZone | None = None) -> str:
    """A shop-local day (already a date), written out in the page's language."""
    return "—" if value is None else long_date(value, page_language(ctx))


@pass_context
def month(ctx: Context, value: date) -> str:
    """The month of a day, written out in the page's language ("June 2026")."""
    return month_words(value, page_language(ctx))


@pass_context
def step(ctx: Context, key: str | None) -> str:
    """A step as the page's language names it ("first reminder"); an owner's step by its key."""
    return "—" if not key else step_name(key, page_language(ctx))


@pass_context
def said(ctx: Context, text: str | None) -> str:
    """A sentence the engine stored in English (a task's title), said in the page's language:
    the steps it names by their names, a sentence no phrase matches as written."""
    return translate(text, page_language(ctx))


def money(amount: Money, shop: ShopZone) -> str:
    """An amount in its currency, written the way the shop's language writes it
    ("2 400,00 €" in French, "€2,400.00" in English)."""
    lang = language_of(shop.locale)
    return amount.format(BABEL_LOCALES.get(lang, lang))


DATE_FILTERS: dict[str, Callable[..., Any]] = {
    "local_day": local_day,
    "local_time": local_time,
    "day": day,
    "month": month,
    "money": money,
}

PAGE_GLOBALS: dict[str, object] = {"page_lang": PAGE_LANGUAGE}


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
    "step_name": step,
    "said": said,
}
