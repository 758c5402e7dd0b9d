"""How numbers and punctuation are written in each language of the messages.

French follows the Imprimerie nationale rules, one documented choice applied everywhere:
a narrow no-break space (U+202F) before « ; ! ? % », a no-break space (U+00A0) before « : »
and inside guillemets. English: "12.15%", no space before any punctuation.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_decimal

from connector.domain.dates import BABEL_LOCALES, language_of

NBSP = "\u00a0"
NARROW_NBSP = "\u202f"

# Any run of ordinary spaces (or the wrong no-break space) before the mark, after a character
# or at the start of a piece of text (a template's literal text that follows a value).
_BEFORE_NARROW = re.compile(r"(?:(?<=\S)|\A)[ \u00a0\u202f]+(?=[;!?%])")
_BEFORE_COLON = re.compile(r"(?:(?<=\S)|\A)[ \u00a0\u202f]+(?=:)")
_AFTER_OPENING = re.compile(r"«[ \u00a0\u202f]*")
_BEFORE_CLOSING = re.compile(r"[ \u00a0\u202f]*»")


def percent(value: Decimal, locale: str) -> str:
    """A percentage as the language writes it: « 12,15 % » (narrow no-break space), "12.15%"."""
    lang = language_of(locale)
    number = str(format_decimal(value, format="#,##0.##", locale=BABEL_LOCALES.get(lang, lang)))
    return f"{number}{NARROW_NBSP}%" if lang == "fr" else f"{number}%"


def french_typography(text: str) -> str:
    """No-break spaces where French wants them; a line never starts with the mark alone.

    Idempotent. Only a space already written before the mark is replaced (a colon glued to a
    word, as in a URL "https://", is left alone).
    """
    text = _BEFORE_NARROW.sub(NARROW_NBSP, text)
    text = _BEFORE_COLON.sub(NBSP, text)
    text = _AFTER_OPENING.sub("«" + NBSP, text)
    return _BEFORE_CLOSING.sub(NBSP + "»", text)


_VOWELS = frozenset("aeiouàâäéèêëîïôöùûüœæ")
# Words whose h is aspirated: no elision ("de Hollande", "le héros"); any other h is mute.
_ASPIRATED_H = (
    "hach",
    "haie",
    "hall",
    "hamb",
    "hanch",
    "hang",
    "hard",
    "hasard",
    "haut",
    "hér",
    "hêtre",
    "hibou",
    "hiér",
    "hol",
    "hong",
    "hont",
    "hors",
    "houx",
    "huit",
)


def elides(word: str) -> bool:
    """The word starts with a vowel sound (a vowel, a mute h, an "y" before a consonant: "Yves"),
    so a French "de" or "le" before it is elided."""
    low = word.strip().lower()
    if not low:
        return False
    first = low[0]
    if first in _VOWELS:
        return True
    if first == "h":
        return not low.startswith(_ASPIRATED_H)
    return first == "y" and len(low) > 1 and low[1] not in _VOWELS and low[1] != "y"


def de(name: str) -> str:
    """« de » followed by ``name``, elided before a vowel sound: "d'Atelier Lenoir", "de Dupont"."""
    return f"d'{name.strip()}" if elides(name) else f"de {name.strip()}"


def le(word: str) -> str:
    """« le » followed by ``word``, elided before a vowel sound: "l'atelier", "le dossier"."""
    return f"l'{word.strip()}" if elides(word) else f"le {word.strip()}"
