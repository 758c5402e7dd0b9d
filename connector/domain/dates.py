"""Dates as the shop's people read them, one module for messages, the CLI and the web page.

The store keeps instants in UTC; a due date is the shop's local midnight of that day, so shown in
UTC a 1 June due date in Paris reads 31 May. Everything shown goes through here: the local date
of an instant in the shop's time zone, long dates ("1er juin 2026", "1 June 2026") and instants
labelled with their zone ("1 June 2026, 10:00 CEST" for people, ISO 8601 with the shop's offset
for machines). A date is written in the language of the page or message that shows it, never in
another one's.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date

#: The Babel locale each message language is written in (English dates are British: 1 June 2026).
BABEL_LOCALES = {"fr": "fr_FR", "en": "en_GB"}
DEFAULT_LANGUAGE = "en"


def language_of(locale: str | None) -> str:
    """The two-letter language of a locale string ("fr", "fr_FR", "fr-BE" → "fr")."""
    return (locale or DEFAULT_LANGUAGE).replace("-", "_").split("_")[0].lower()


def in_zone(instant: datetime, timezone: str) -> datetime:
    """The instant on the shop's wall clock (aware, with the zone's offset at that instant)."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime has no place in a time zone: {instant!r}")
    return instant.astimezone(ZoneInfo(timezone))


def local_date(instant: datetime, timezone: str) -> date:
    """The calendar day the instant falls on in the shop's time zone."""
    return in_zone(instant, timezone).date()


@lru_cache(maxsize=8_192)
def long_date(day: date, locale: str | None) -> str:
    """A date written out: "1er juin 2026" / "2 juin 2026" in French, "1 June 2026" in English.

    French writes the first day of a month as an ordinal ("1er"), which CLDR's long format
    does not do. Remembered: Babel is slow and a reminder writes the same few dates often.
    """
    lang = language_of(locale)
    text = str(format_date(day, format="long", locale=BABEL_LOCALES.get(lang, lang)))
    if lang == "fr" and day.day == 1 and text.startswith("1 "):
        text = "1er" + text[1:]
    return text


def month_words(day: date, locale: str | None) -> str:
    """The month a day falls in, written out: "June 2026", "juin 2026"."""
    lang = language_of(locale)
    return str(format_date(day, format="LLLL y", locale=BABEL_LOCALES.get(lang, lang)))


def date_span(first: date, last: date, locale: str | None) -> tuple[str, str]:
    """The two ends of a period as a sentence writes them, the shared month and year said once:
    ("2", "8 juin 2026") for « du 2 au 8 juin 2026 », ("2 May", "8 June 2026") in English."""
    end = long_date(last, locale)
    if first.year != last.year:
        return long_date(first, locale), end
    lang = language_of(locale)
    if first.month == last.month:
        start = "1er" if lang == "fr" and first.day == 1 else str(first.day)
        return start, end
    text = str(format_date(first, format="d MMMM", locale=BABEL_LOCALES.get(lang, lang)))
    if lang == "fr" and first.day == 1:
        text = "1er" + text[1:]
    return text, end


#: How a day and a time of day join, per language ("1 June 2026, 10:00 CEST",
#: "1er juin 2026 à 10:00 CEST").
_AT = {"en": "{day}, {time}", "fr": "{day} à {time}"}


def instant_words(instant: datetime, timezone: str, locale: str | None) -> str:
    """An instant for people, as the page's language writes a date: the shop-local day written
    out, then the time on the shop's wall clock with its zone ("1 June 2026, 10:00 CEST")."""
    local = in_zone(instant, timezone)
    lang = language_of(locale)
    return _AT.get(lang, _AT[DEFAULT_LANGUAGE]).format(
        day=long_date(local.date(), lang), time=local.strftime("%H:%M %Z")
    )


def instant_label(instant: datetime, timezone: str) -> str:
    """An instant for people: the shop's wall clock with its zone ("2026-06-01 10:00 CEST")."""
    return in_zone(instant, timezone).strftime("%Y-%m-%d %H:%M %Z")


def instant_iso(instant: datetime, timezone: str) -> str:
    """An instant for machines: ISO 8601 with the shop's offset ("2026-06-01T10:00:00+02:00")."""
    return in_zone(instant, timezone).isoformat()


_MONTHS: dict[str, int] = {
    name: n
    for names in (
        "January February March April May June July August September October November December",
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    )
    for n, name in enumerate(names.split(), start=1)
}
_WRITTEN = re.compile(
    r"\b(?:(?P<iso>\d{4}-\d{2}-\d{2})"
    r"|(?P<d>1er|\d{1,2}) (?P<m>" + "|".join(_MONTHS) + r") (?P<y>\d{4}))\b"
)


def _written_day(m: re.Match[str]) -> date | None:
    try:
        if m["iso"]:
            return date.fromisoformat(m["iso"])
        return date(int(m["y"]), _MONTHS[m["m"]], 1 if m["d"] == "1er" else int(m["d"]))
    except ValueError:
        return None


def redate(text: str, locale: str | None) -> str:
    """The dates a stored sentence writes (ISO, or long in English or French: rows written
    before the sentences' dates were English) rewritten as the locale writes a date."""

    def said(m: re.Match[str]) -> str:
        day = _written_day(m)
        return m[0] if day is None else long_date(day, locale)

    return _WRITTEN.sub(said, text)
