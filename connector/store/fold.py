"""How the owner's search compares text: case and accents folded, the same on SQLite and
PostgreSQL ("élodie", "ELODIE" and "Elodie" all find "Élodie Martin").

One character table, built here from Unicode's own decompositions, applied by both databases
as a ``relance_fold(text)`` SQL function: on SQLite a deterministic Python function registered
on every connection (connector.store.db), on PostgreSQL an IMMUTABLE ``translate()`` with the
same two strings (created by migration 0024). Being one-for-one, the table folds what maps to
one character (É→e, Ł→ł, Ω→ω); "ß", "æ" and "œ" stay as typed, on both databases alike.
Expression indexes on ``relance_fold(column)`` make prefix searches a range scan."""

from __future__ import annotations

import unicodedata

FUNCTION = "relance_fold"

# Basic Latin, Latin-1, Latin Extended-A/B, Greek, Cyrillic: the scripts customers' names use.
_RANGES = ((0x41, 0x5B), (0xC0, 0x250), (0x370, 0x530))


def _folded(ch: str) -> str:
    base = "".join(
        c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
    )
    return base.lower()


def _pairs() -> list[tuple[str, str]]:
    pairs = []
    for start, end in _RANGES:
        for cp in range(start, end):
            ch = chr(cp)
            to = _folded(ch)
            if len(to) == 1 and to != ch and unicodedata.category(ch).startswith("L"):
                pairs.append((ch, to))
    return pairs


_PAIRS = _pairs()
FROM = "".join(a for a, _ in _PAIRS)
TO = "".join(b for _, b in _PAIRS)
_TABLE = str.maketrans(FROM, TO)


def fold(text: str) -> str:
    """``text`` as the search indexes hold it (accents and case folded, one-for-one)."""
    return text.translate(_TABLE)


def sql_fold(text: str | None) -> str | None:
    """The SQL function's body on SQLite (NULL stays NULL)."""
    return None if text is None else fold(text)


def postgresql_function() -> str:
    """CREATE OR REPLACE of the PostgreSQL function: the same table, as translate()."""
    assert "'" not in FROM + TO and "$" not in FROM + TO
    return (
        f"CREATE OR REPLACE FUNCTION {FUNCTION}(text) RETURNS text"
        " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
        f" AS $$ SELECT translate($1, '{FROM}', '{TO}') $$"
    )
