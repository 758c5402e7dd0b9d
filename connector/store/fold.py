"""How the owner's search compares text: case and accents folded ("élodie", "ELODIE" and
"Elodie" all find "Élodie Martin"), by Python at write time, the same on SQLite and PostgreSQL.

The searched columns (an invoice's number, a customer's name, company and email) each have a
folded copy (``*_key``) written with them and indexed on (shop, key): a prefix search is a
range on it, and testing one row is a plain comparison. Neither database's ``lower()`` is used:
SQLite's folds ASCII only, PostgreSQL's follows the database's locale."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """``text`` as the search keys hold it: accents stripped, then case-folded ("ß" → "ss")."""
    if text.isascii():
        # No ASCII character decomposes or combines, and ASCII case-folds to lower case: the
        # common case (numbers, emails, most names) in one C call, same result.
        return text.lower()
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare.casefold())


def key(text: str | None) -> str | None:
    """The search key of a column's value (None stays None)."""
    return None if text is None else fold(text)
