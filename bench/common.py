"""Shared bench plumbing: a scratch store, bulk seeding through Core, timing, printing."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import make_url

from connector.config import Settings
from connector.ledger import ensure_csv_connection
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import normalize_url, write_session
from connector.store.migrate import upgrade
from connector.store.models import Customer, Invoice

T = TypeVar("T")


@dataclass
class Usage:
    """What a run cost, in units that hold on a noisy machine: CPU seconds of the measured
    process(es), SQL statements sent, transactions committed."""

    cpu: float = 0.0
    statements: int = 0
    commits: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.cpu + other.cpu,
            self.statements + other.statements,
            self.commits + other.commits,
        )

    def per_item(self, items: int) -> str:
        n = max(1, items)
        return (
            f"{self.cpu * 1e6 / n:,.0f} µs CPU, {self.statements / n:,.2f} statements, "
            f"{self.commits / n:,.3f} commits per item"
        )


class Meter:
    """Counts the statements (SQLAlchemy's ``before_cursor_execute``; an executemany is one)
    and commits an engine sends, and this process's CPU time, between ``start`` and ``stop``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.usage = Usage()
        self._cpu0 = 0.0
        self._on = False
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, *_: object) -> None:
        if self._on:
            self.usage.statements += 1

    def _commit(self, *_: object) -> None:
        if self._on:
            self.usage.commits += 1

    def start(self) -> Meter:
        self.usage = Usage()
        self._cpu0 = time.process_time()
        self._on = True
        return self

    def stop(self) -> Usage:
        self._on = False
        self.usage.cpu = time.process_time() - self._cpu0
        return self.usage

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    usage: Usage | None = None  # what the measured run cost, and over how many items
    items: int = 0

    def line(self) -> str:
        ratio = ""
        if self.baseline:
            faster = (
                self.baseline / self.value
                if self.unit in ("ms", "s")
                else self.value / self.baseline
            )
            ratio = f"  ({faster:,.1f}× the naive baseline: {self.baseline:,.1f} {self.unit})"
        target = f"  [target {self.target}]" if self.target else ""
        cost = f"\n{'':<60}{self.usage.per_item(self.items)}" if self.usage else ""
        return f"{self.name:<58} {self.value:>12,.2f} {self.unit}{ratio}{target}{cost}"


def report(figures: list[Figure]) -> None:
    for fig in figures:
        print(fig.line(), flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the address space, so it starts afresh in a
    spawned process; ru_maxrss would carry over the forking parent's peak across exec."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def scratch_services(url: str | None = None, **env: str) -> Iterator[Services]:
    with tempfile.TemporaryDirectory(prefix="relance-bench-") as tmp:
        database_url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(database_url)
        settings = Settings.from_env(
            {
                "DATABASE_URL": database_url,
                "RELANCE_VAR_DIR": tmp,
                "RELANCE_SECRET_KEYS": Fernet.generate_key().decode(),
                **env,
            }
        )
        svc = Services.build(settings)
        try:
            yield svc
        finally:
            svc.close()


def seed(
    svc: Services,
    *,
    total: int,
    due: int,
    now: datetime,
    chunk: int = 50_000,
) -> int:
    """``total`` open invoices (one customer each); ``due`` of them due at ``now``, the rest
    planned weeks ahead, as the planner leaves them. Returns the shop id."""
    with write_session(svc.sessions) as s:
        shop = create_shop(s, name="Bench shop", email="owner@bench.example")
        conn = ensure_csv_connection(s, shop)
        shop_id, conn_id = shop.id, conn.id
    due_at = now - timedelta(days=1)
    later = now + timedelta(days=20)
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)
        with write_session(svc.sessions) as s:
            s.execute(
                insert(Customer),
                [
                    {
                        "shop_id": shop_id,
                        "connection_id": conn_id,
                        "external_id": f"c{i}",
                        "email": f"c{i}@bench.example",
                        "name": f"Customer {i}",
                        "is_b2b": i % 3 == 0,
                        "excluded": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, stop)
                ],
            )
            ids: dict[str, int] = dict(
                s.execute(
                    select(Customer.external_id, Customer.id).where(
                        Customer.connection_id == conn_id,
                        Customer.id > 0,
                        Customer.external_id.in_([f"c{i}" for i in range(start, stop)]),
                    )
                )
                .tuples()
                .all()
            )
            s.execute(
                insert(Invoice),
                [
                    {
                        "shop_id": shop_id,
                        "connection_id": conn_id,
                        "customer_id": ids[f"c{i}"],
                        "external_id": f"inv{i}",
                        "number": f"F-{i:07d}",
                        "currency": "EUR",
                        "total_minor": 10_000 + i % 5000,
                        "amount_due_minor": 10_000 + i % 5000,
                        "status": InvoiceStatus.OPEN,
                        "issued_at": due_at - timedelta(days=30),
                        "due_at": due_at if i < due else later,
                        "next_action_at": now if i < due else later - timedelta(days=2),
                        "payment_url": f"https://pay.example/{i}",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, stop)
                ],
            )
    return shop_id


def bench_now() -> datetime:
    # A Wednesday at 10:00 in Paris: inside the default sending window.
    return datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def quiet_env() -> None:
    os.environ.setdefault("RELANCE_LOG_LEVEL", "WARNING")


#: PostgreSQL's stock autovacuum: a table is analyzed once it has changed by 50 rows plus 10 %
#: of it since it last was (autovacuum_analyze_threshold, _scale_factor), looked at once a
#: minute (autovacuum_naptime).
AUTOANALYZE_ROWS, AUTOANALYZE_SHARE, AUTOANALYZE_NAPTIME = 50, 0.1, 60.0


@contextmanager
def stock_autoanalyze(url: str) -> Iterator[None]:
    """While the block runs, what a stock PostgreSQL server does on its own, done here when the
    server's autovacuum is off (this box's is): analyze the tables changed by more than
    50 rows + 10 %, now (the seeded store stands for one that has lived, whose statistics its
    server has long gathered) and then once a minute. Without it the bench's store is never
    analyzed: the planner, with no statistics on a table seeded in bulk or grown from empty,
    reads whole tables per claim batch (customer, reminder, invoice), a cost that grows with
    the store and that customers' servers, CI's, and the product on them do not have."""
    engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        stock = conn.scalar(text("SHOW autovacuum")) == "on"
    if stock:
        engine.dispose()
        yield
        return
    stop = threading.Event()

    def analyze() -> None:
        with engine.connect() as conn:
            while True:
                changed = conn.scalars(
                    text(
                        "SELECT quote_ident(s.relname) FROM pg_stat_user_tables s"
                        " JOIN pg_class c ON c.oid = s.relid"
                        " WHERE s.n_mod_since_analyze > :rows + :share * greatest(c.reltuples, 0)"
                    ),
                    {"rows": AUTOANALYZE_ROWS, "share": AUTOANALYZE_SHARE},
                ).all()
                for table in changed:
                    conn.execute(text(f"ANALYZE {table}"))
                if stop.wait(AUTOANALYZE_NAPTIME):
                    return

    thread = threading.Thread(target=analyze, name="autoanalyze", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        engine.dispose()


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A scratch PostgreSQL database (several web processes need one: SQLite has one writer);
    None when no server answers, and the bench falls back to SQLite."""
    admin = os.environ.get("RELANCE_BENCH_POSTGRES_URL") or os.environ.get(
        "RELANCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    name = f"relance_bench_{os.getpid()}_{int(time.time())}"
    try:
        engine = create_engine(normalize_url(admin), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL unavailable ({exc}); benchmarking on SQLite", file=sys.stderr)
        yield None
        return
    try:
        yield (
            make_url(normalize_url(admin)).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
