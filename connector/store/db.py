"""Engine and sessions. SQLite runs in WAL mode; claims take the write lock up front (BEGIN
IMMEDIATE), because a deferred transaction that reads then writes fails at once with SQLITE_BUSY
under contention. PostgreSQL goes through psycopg 3.

Waiting for SQLite's one writer is bounded. SQLite's own busy handler sleeps and polls
(sleeps growing to 100 ms) with no queue: a waiter loses every race to the writers that arrive
while it sleeps, so under a steady stream of short writers (a tick's senders, sixteen webhook
clients) its wait has no practical bound — p99 15 s, max 17 s for 48 threads holding the lock
~1 ms each — and past the 30 s busy timeout BEGIN IMMEDIATE fails with "database is locked"
(Python's ``timeout=30`` and ``PRAGMA busy_timeout=30000`` are one and the same setting). So the
writers of one process take turns on a :class:`WriterGate` per database file (woken when it is
free, the intake's before the engine's), and SQLite's busy handler is left with only the other
processes to wait for. Each writer
says how long it may wait (:func:`bounded_writes`): the webhook intake ~1.5 s, then 503 (the
platform retries); the engine longer, and a BEGIN that still finds the store busy is retried
under one bounded policy (``_begin_retry``), never failing a tick outright.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random

IMMEDIATE = {"sqlite_immediate": True}
#: How long an engine writer (claims, records, applies) waits for its turn before it retries.
ENGINE_WRITE_WAIT = 30.0
#: How long the webhook intake waits to store a delivery before answering 503.
INTAKE_WRITE_WAIT = 1.5


class StoreBusy(Exception):
    """The store's write lock could not be had in the time this writer may wait."""


class WriterGate:
    """The writers of one process to one SQLite file take turns here, woken the moment the gate
    is free (no polling). Urgent writers — the webhook intake, a platform waiting for its
    answer — go before the engine's (a tick's senders can wait a little); among each kind the
    longest waiting is woken first, and a free gate is taken at once (no hand-off gap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urgent = threading.Condition(self._lock)
        self._normal = threading.Condition(self._lock)
        self._held = False
        self._waiting = {True: 0, False: 0}  # urgent?: how many wait

    def acquire(self, timeout: float, *, urgent: bool = False) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            self._waiting[urgent] += 1
            try:
                while self._held or (not urgent and self._waiting[True]):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    (self._urgent if urgent else self._normal).wait(remaining)
                self._held = True
                return True
            finally:
                self._waiting[urgent] -= 1

    def release(self) -> None:
        with self._lock:
            self._held = False
            if self._waiting[True]:
                self._urgent.notify()
            else:
                self._normal.notify()

    def waiting(self, *, urgent: bool) -> int:
        """How many writers of that kind wait for their turn right now."""
        with self._lock:
            return self._waiting[urgent]


_gates: dict[str, WriterGate] = {}
_gates_lock = threading.Lock()
_write_wait: ContextVar[float] = ContextVar("relance_write_wait", default=ENGINE_WRITE_WAIT)


def writer_gate(bind: Engine | Connection) -> WriterGate | None:
    """The gate of this engine's SQLite file (shared by every engine of the process on that
    file); None on PostgreSQL, which has row locks and no single writer."""
    if bind.dialect.name != "sqlite":
        return None
    key = str(bind.engine.url.database or ":memory:")
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = WriterGate()
        return gate


@contextmanager
def bounded_writes(seconds: float) -> Iterator[None]:
    """Write transactions opened in this block (this thread) wait at most ``seconds`` for the
    lock, then raise :class:`StoreBusy` (the intake's inline apply, for instance)."""
    token = _write_wait.set(seconds)
    try:
        yield
    finally:
        _write_wait.reset(token)


@contextmanager
def writer_turn(bind: Engine | Connection, wait: float) -> Iterator[None]:
    """Hold this process's turn to write to the bind's SQLite file (no-op on PostgreSQL)."""
    gate = writer_gate(bind)
    if gate is None:
        yield
        return
    if not gate.acquire(wait, urgent=wait < ENGINE_WRITE_WAIT):
        raise StoreBusy(f"the store stayed busy for {wait:g} s")
    try:
        yield
    finally:
        gate.release()


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"): another process holds the write lock."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def sqlite_write_options(wait: float) -> dict[str, Any]:
    """Execution options for a write transaction: BEGIN IMMEDIATE, and SQLite's own busy wait
    (for other processes) bounded like the gate's."""
    return {**IMMEDIATE, "sqlite_busy_ms": int(wait * 1000)}


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
        options = conn.get_execution_options()
        busy_ms = options.get("sqlite_busy_ms")
        if busy_ms is not None and conn.info.get("busy_ms") != busy_ms:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_ms)}")
            conn.info["busy_ms"] = busy_ms
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate") else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that will write, committed on success: on SQLite it takes the write lock
    at BEGIN (IMMEDIATE), after its turn at the process's gate; on PostgreSQL rows are locked
    explicitly where it matters. Waits as long as :func:`bounded_writes` allows (the engine's
    default: retried under ``_begin_retry``), then raises :class:`StoreBusy`."""
    wait = _write_wait.get()
    with ExitStack() as stack:
        if wait >= ENGINE_WRITE_WAIT:
            session = _enter_write_retried(stack, factory, wait)
        else:
            session = stack.enter_context(_open_write(factory, wait))
        yield session


#: The engine's one policy for a store that stays busy (another process writing a long time):
#: try BEGIN again, a little later, for up to two minutes; nothing was done before BEGIN.
_begin_retry = retry(
    retry=retry_if_exception_type(StoreBusy),
    stop=stop_after_delay(120),
    wait=wait_random(0.01, 0.25),
    reraise=True,
)


@_begin_retry
def _enter_write_retried(stack: ExitStack, factory: sessionmaker[Session], wait: float) -> Session:
    return stack.enter_context(_open_write(factory, wait))


@contextmanager
def _open_write(factory: sessionmaker[Session], wait: float) -> Iterator[Session]:
    with factory() as session, writer_turn(session.get_bind(), wait):
        try:
            session.connection(execution_options=sqlite_write_options(wait))
        except OperationalError as exc:
            if is_locked_error(exc):
                raise StoreBusy(f"another process held the store for {wait:g} s") from exc
            raise
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
