"""The durable record of a delivery: one WebhookEvent per (scope, dedupe key), written with
``INSERT … ON CONFLICT DO NOTHING`` so a duplicate — sequential or concurrent — is detected by
the unique constraint itself, never by a read-then-write race."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, TextClause, bindparam, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from connector.store.db import (
    INTAKE_WRITE_WAIT,
    StoreBusy,
    writer_turn,
)
from connector.store.models import WebhookEvent, WebhookOutcome

SENDGRID_SCOPE = "sendgrid"
_DROPPED_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One row to store. ``kind`` None: decided at apply time."""

    scope: str
    platform: str
    dedupe_key: str
    topic: str
    raw_body: bytes
    headers: dict[str, str]
    received_at: datetime
    occurred_at: datetime | None = None
    kind: str | None = None
    invoice_ref: str | None = None
    shop_id: int | None = None
    connection_id: int | None = None
    outcome: WebhookOutcome = WebhookOutcome.PENDING


def platform_scope(platform: str, connection_id: int, *, per_platform: bool = False) -> str:
    """The namespace of a platform delivery's dedupe key: its connection, or the whole platform
    when event ids are unique across accounts (``connector.platform.event_ids_span_accounts``)."""
    return platform if per_platform else f"{platform}:{connection_id}"


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What is kept of the request headers: everything but credentials of the caller."""
    return {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}


def store_events(engine: Engine, events: Sequence[NewEvent]) -> dict[str, int]:
    """Insert the events that are new, in one committed transaction; returns ``{dedupe_key: id}``
    of those actually inserted (a duplicate, already stored or earlier in ``events``, is absent).
    Raises StoreBusy when SQLite's write lock could not be had in INTAKE_WRITE_WAIT.

    Core on a bare connection, not the ORM: this is the intake's hot path."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        rows.setdefault(
            (e.scope, e.dedupe_key),
            {name: getattr(e, name) for name in _COLUMNS if name != "attempts"} | {"attempts": 0},
        )
    if not rows:
        return {}
    batch = list(rows.values())
    try:
        return _insert(engine, batch)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return _insert(engine, batch)  # the pool had a connection the server dropped: once more


def _insert(engine: Engine, batch: list[dict[str, Any]]) -> dict[str, int]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return _insert_sqlite(engine, conn, batch)
        statement = _insert_statement()
        if len(batch) == 1:
            # One statement is its own transaction: one round trip instead of BEGIN/…/COMMIT,
            # committed (and durable) before the answer all the same.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            row = conn.execute(statement, batch[0]).first()
            return {row[0]: row[1]} if row is not None else {}
        inserted: dict[str, int] = {}
        with conn.begin():
            for params in batch:  # a row per statement: RETURNING with executemany is not
                row = conn.execute(statement, params).first()  # portable for text statements
                if row is not None:
                    inserted[row[0]] = row[1]
        return inserted


def _insert_sqlite(engine: Engine, conn: Connection, batch: list[dict[str, Any]]) -> dict[str, int]:
    """The same statement and the same bind processing, run on the pooled connection's sqlite3
    cursor: BEGIN IMMEDIATE, the INSERTs, COMMIT. Under a storm SQLAlchemy's execution around
    them (events, contexts, result objects for BEGIN, INSERT and COMMIT) cost more CPU than the
    statements themselves, and on `relance serve` that CPU holds the one interpreter lock the
    tick's senders and the pump also need — while this thread holds SQLite's writer.

    Same guarantees as the Core path: this process's writer gate first, SQLite's busy wait
    bounded like it (other processes), StoreBusy past it, nothing half-written (rolled back)."""
    sql, processors = _sqlite_statement(engine.dialect)
    wait_ms = int(INTAKE_WRITE_WAIT * 1000)
    inserted: dict[str, int] = {}
    with writer_turn(engine, INTAKE_WRITE_WAIT):
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        cursor = driver.cursor()
        try:
            if conn.info.get("busy_ms") != wait_ms:  # as connector.store.db's BEGIN hook does
                cursor.execute(f"PRAGMA busy_timeout={wait_ms}")
                conn.info["busy_ms"] = wait_ms
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for params in batch:
                    cursor.execute(sql, [process(params[name]) for name, process in processors])
                    row = cursor.fetchone()
                    if row is not None:
                        inserted[row[0]] = row[1]
                cursor.execute("COMMIT")
            except BaseException:
                if driver.in_transaction:  # not when SQLite rolled back itself (a full disk)
                    cursor.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if "database is locked" in str(exc):
                raise StoreBusy("another process held the store too long") from exc
            raise OperationalError("INSERT INTO webhook_event", None, exc) from exc
        except sqlite3.IntegrityError as exc:  # the connection was deleted since it was cached
            raise IntegrityError("INSERT INTO webhook_event", None, exc) from exc
        finally:
            cursor.close()
    return inserted


_COLUMNS = (
    "scope",
    "platform",
    "dedupe_key",
    "topic",
    "kind",
    "invoice_ref",
    "raw_body",
    "headers",
    "received_at",
    "occurred_at",
    "shop_id",
    "connection_id",
    "outcome",
    "attempts",
)


_Processor = Callable[[Any], Any]


@lru_cache(maxsize=4)
def _sqlite_statement(dialect: Dialect) -> tuple[str, list[tuple[str, _Processor]]]:
    """:func:`_insert_statement` compiled for SQLite (positional ``?`` binds), with each bind's
    processor in order (the column types' own: JSON, enum, tz-aware timestamps)."""
    compiled = _insert_statement().compile(dialect=dialect)
    table = WebhookEvent.__table__
    assert isinstance(table, Table)
    names = compiled.positiontup or []
    processors: list[tuple[str, _Processor]] = []
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        processors.append((name, process if process is not None else _same))
    return compiled.string, processors


def _same(value: Any) -> Any:
    return value


@lru_cache(maxsize=1)
def _insert_statement() -> TextClause:
    """``INSERT … ON CONFLICT (scope, dedupe_key) DO NOTHING RETURNING`` as a typed text
    statement, the same on PostgreSQL and SQLite (3.35+). Not ``postgresql.insert()``: the
    dialects' ON CONFLICT constructs are never in SQLAlchemy's compiled cache, so each delivery
    paid a full compile (~1 ms); a text statement with typed binds is compiled once and still
    gets every column type's bind processing (JSON, enum, tz-aware timestamps)."""
    table = WebhookEvent.__table__
    assert isinstance(table, Table)
    names = ", ".join(_COLUMNS)
    values = ", ".join(f":{name}" for name in _COLUMNS)
    return text(
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) "
        "ON CONFLICT (scope, dedupe_key) DO NOTHING RETURNING dedupe_key, id"
    ).bindparams(*(bindparam(name, type_=table.c[name].type) for name in _COLUMNS))
