"""Rows updated by id, many at once: the send path's marks and outcomes.

An executemany is one statement for SQLAlchemy, but psycopg runs it as one execution per
parameter set in the server (a bind, a plan, an executor start and end per row). On PostgreSQL
the rows go as one ``UPDATE t SET … FROM unnest(:ids, :col1, …) AS v(id, col1, …) WHERE
t.id = v.id`` per shape (the same keys) instead: one array parameter per column, typed as the
column (so a column of NULLs is not text), and a statement text that does not change with the
number of rows (compiled once, prepared by the driver). Other databases keep the executemany.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def update_by_id(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """For each row, UPDATE ``table`` SET its other keys WHERE id = row[``key``]."""
    if not rows:
        return
    shapes: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    postgres = session.get_bind().dialect.name == "postgresql"
    for keys, group in shapes.items():
        group.sort(key=lambda row: row[key])  # in id order, as a plain loop would lock them
        if postgres:
            arrays = {k: [row[k] for row in group] for k in keys}
            session.execute(_from_arrays(table, key, keys), arrays)
        else:
            session.execute(_by_id(table, key), list(group))


@lru_cache(maxsize=32)
def _by_id(table: Table, key: str) -> Update:
    return update(table).where(table.c.id == bindparam(key))


@lru_cache(maxsize=32)
def _from_arrays(table: Table, key: str, keys: tuple[str, ...]) -> Update:
    """The statement for one shape: each key bound as one array of its column's type."""
    types = {k: table.c.id.type if k == key else table.c[k].type for k in keys}
    rows = (
        func.unnest(*(bindparam(k, type_=ARRAY(types[k])) for k in keys))
        .table_valued(*keys)
        .render_derived(name="v")
    )
    return (
        update(table)
        .where(table.c.id == rows.c[key])
        .values({k: rows.c[k] for k in keys if k != key})
    )
