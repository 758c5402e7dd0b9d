"""Plain rows handed to the driver's ``executemany`` as tuples: the sync's write path (new
rows by ``insert_rows``; the ledger batch's changed invoices by ``update_rows``, keyed by id).

A Core ``insert(table)`` or ``update(table)`` with a list of dicts rebuilds every row through
the compiled statement (``construct_params``) and runs each column's bind processor on every
value. Here the statement is built once per (table, columns, dialect), the values shared by
the whole batch (shop, connection, timestamps) are converted once, and only the columns whose
type converts something (instants, enums) are processed per row — by the same processors, so
what is stored, and what is refused (a naive datetime, an unknown enum value), does not
change. Python-side defaults are not applied: a column that has one must be given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Table,
    Text,
    TypeDecorator,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import TypeEngine

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    plain: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # the row's values stored as given
    processed: tuple[tuple[str, Callable[[Any], Any]], ...]  # (key, bind processor)
    shared: tuple[tuple[str, Callable[[Any], Any] | None], ...]


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any],
    *,
    conflict_key: tuple[str, ...] = (),
) -> None:
    """INSERT every row (all with the same keys) plus the ``shared`` columns, in one
    executemany; ``conflict_key``: rows clashing on that unique key are skipped (ON CONFLICT
    DO NOTHING, the same words on SQLite and PostgreSQL)."""
    if not rows:
        return
    connection = session.connection()
    plan = _plan(table, tuple(shared), tuple(rows[0]), conflict_key, connection.dialect)
    head = tuple(
        value if proc is None else proc(value)
        for (_, proc), value in zip(plan.shared, shared.values(), strict=True)
    )
    plain, processed = plan.plain, plan.processed
    params = [
        head + plain(row) + tuple([proc(row[key]) for key, proc in processed]) for row in rows
    ]
    connection.exec_driver_sql(plan.sql, params)


@lru_cache(maxsize=64)
def _plan(
    table: Table,
    shared: tuple[str, ...],
    keys: tuple[str, ...],
    conflict_key: tuple[str, ...],
    dialect: Dialect,
) -> _Plan:
    placeholder = _PLACEHOLDER.get(dialect.paramstyle)
    if placeholder is None:
        raise NotImplementedError(f"paramstyle {dialect.paramstyle!r}")
    given = set(shared) | set(keys)
    if len(given) != len(shared) + len(keys):
        raise ValueError(f"{table.name}: a column is both shared and per row")
    missing = [c.key for c in table.columns if c.key not in given and c.default is not None]
    if missing:  # the ORM's Python-side defaults are not applied here: say so
        raise ValueError(f"{table.name}: give {', '.join(missing)} (it has a default)")

    def processor(key: str) -> Callable[[Any], Any] | None:
        column = table.c[key]
        return column.type.dialect_impl(dialect).bind_processor(dialect)

    plain = tuple(k for k in keys if processor(k) is None)
    processed = tuple((k, proc) for k in keys if (proc := processor(k)) is not None)
    columns = [*shared, *plain, *(k for k, _ in processed)]
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(table.c[k].name) for k in columns)})"
        f" VALUES ({', '.join([placeholder] * len(columns))})"
    )
    if conflict_key:
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in conflict_key)}) DO NOTHING"
    return _Plan(
        sql=sql,
        plain=_getter(plain),
        processed=processed,
        shared=tuple((k, processor(k)) for k in shared),
    )


def update_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, key: str = "id"
) -> None:
    """UPDATE each row (all with the same keys) where the column ``key`` holds its value, in one
    executemany: what a Core ``update(...)`` with a list of dicts writes, each value through its
    column's bind processor, without rebuilding every row through the compiled statement."""
    if not rows:
        return
    connection = session.connection()
    plan = _update_plan(table, tuple(rows[0]), key, connection.dialect)
    plain, processed = plan.plain, plan.processed
    params = [tuple([proc(row[k]) for k, proc in processed]) + plain(row) for row in rows]
    connection.exec_driver_sql(plan.sql, params)


@lru_cache(maxsize=64)
def _update_plan(table: Table, keys: tuple[str, ...], key: str, dialect: Dialect) -> _Plan:
    placeholder = _PLACEHOLDER.get(dialect.paramstyle)
    if placeholder is None:
        raise NotImplementedError(f"paramstyle {dialect.paramstyle!r}")
    if key not in keys:
        raise ValueError(f"{table.name}: every row needs its {key}")
    missing = [c.key for c in table.columns if c.onupdate is not None and c.key not in keys]
    if missing:  # the ORM's Python-side onupdate values are not applied here: say so
        raise ValueError(f"{table.name}: give {', '.join(missing)} (it is set on update)")
    processors = {k: table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys}
    if processors[key] is not None:
        raise NotImplementedError(f"{table.name}.{key}: a key converted on bind")
    # Bound in the statement's order: the converted values, the plain ones, the key (WHERE).
    processed = tuple((k, proc) for k in keys if (proc := processors[k]) is not None)
    plain = (*(k for k in keys if processors[k] is None and k != key), key)
    quote = dialect.identifier_preparer.quote
    assignments = [
        f"{quote(table.c[k].name)} = {placeholder}"
        for k in (*(k for k, _ in processed), *plain[:-1])
    ]
    sql = (
        f"UPDATE {quote(table.name)} SET {', '.join(assignments)}"
        f" WHERE {quote(table.c[key].name)} = {placeholder}"
    )
    return _Plan(sql=sql, plain=_getter(plain), processed=processed, shared=())


def _getter(keys: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values for ``keys`` as a tuple, in C (itemgetter), whatever their number."""
    if not keys:
        return lambda _row: ()
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


class _TextList(TypeDecorator[Sequence[str]]):
    """Strings bound as one parameter: a JSON array on SQLite (read back by ``json_each``), an
    array on PostgreSQL."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(Text()))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return list(value) if dialect.name == "postgresql" else json.dumps(list(value))


_TEXT_LIST = _TextList()
"""One instance: a type's cache key is remembered per instance (a new one per statement would
have SQLAlchemy inspect its constructor on every execution)."""


def one_of(
    session: Session,
    column: ColumnElement[str] | QueryableAttribute[str],
    name: str,
    values: Sequence[str] | None = None,
) -> ColumnElement[bool]:
    """``column IN (the strings bound as parameter name)``, the list bound as one value: an
    expanding IN renders and binds a parameter per element on every execution, which costs
    more than the statement's work for a page's few hundred ids."""
    bound = bindparam(name, values, type_=_TEXT_LIST)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bound)
    return column.in_(select(literal_column("value")).select_from(func.json_each(bound)))
