"""``column IN (ids)`` for the hot paths, as each database likes it best.

A batch reads its rows by up to 64 ids. Written as ``IN (...)`` that is one parameter per id:
on PostgreSQL, psycopg only caches the conversion of statements with at most 50 parameters,
and SQLAlchemy expands the list into the statement text at every execution, so each such query
was rewritten and re-parsed every time. ``= ANY(:ids)`` binds one array instead: the statement
text stays the same whatever the ids. SQLite has no arrays: it keeps ``IN``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session


def among(
    s: Session, column: InstrumentedAttribute[Any] | ColumnElement[Any], ids: Iterable[Any]
) -> ColumnElement[bool]:
    """``column`` is one of ``ids``, written for the database ``s`` talks to."""
    if s.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(column.type)))
    return column.in_(list(ids))
