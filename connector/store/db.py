"""Engine and sessions. SQLite runs in WAL mode with a busy timeout; claims take the write lock
up front (BEGIN IMMEDIATE), because a deferred transaction that reads then writes fails at once
with SQLITE_BUSY under contention. PostgreSQL goes through psycopg 3."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

IMMEDIATE = {"sqlite_immediate": True}


def normalize_url(url: str) -> str:
    """Route plain postgresql:// URLs (as Heroku-style add-ons give them) to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pre_ping: bool = True, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
        # Connections to a file are cheap; the senders of a tick each hold one while they wait
        # for the single writer, so the pool must not be the thing they queue on.
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 64)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _setup_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=pre_ping, pool_size=10, max_overflow=20, **kwargs)


def create_private_sqlite_file(url: str) -> None:
    """The store holds customers' names, emails and amounts: create its file owner-only (0600),
    like the secret key, before SQLite creates it with the umask's looser mode. SQLite gives its
    -wal and -shm files the database file's permissions."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process created it first
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (pysqlite's is broken)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that will write, committed on success: on SQLite it takes the write lock
    at BEGIN (IMMEDIATE); on PostgreSQL rows are locked explicitly where it matters."""
    with factory() as session:
        session.connection(execution_options=IMMEDIATE)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
