"""The embedded store under a held write lock: a delivery that cannot be stored in a bounded time
is answered 503 with Retry-After (the platform delivers it again) — never a 500, never half
stored — and the redelivery is stored once. Writers of one process take turns in order."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from connector.config import Settings
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import WriterGate, write_session
from connector.store.models import Payment, WebhookEvent
from connector.web import create_app
from tests.conftest import make_env
from tests.support.webhooks import stripe_connection, stripe_headers, stripe_invoice_event

NOW = int(time.time())


@pytest.fixture
def sqlite_services(sqlite_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = Services.build(Settings.from_env(make_env(sqlite_url, tmp_path / "var")))
    yield svc
    svc.close()


@contextmanager
def held_by_another_process(svc: Services) -> Iterator[None]:
    """Another connection (as another process would) holds SQLite's write lock."""
    path = make_url(svc.settings.database_url).database
    assert path is not None
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@contextmanager
def held_by_a_thread_of_ours(svc: Services) -> Iterator[None]:
    """A long write transaction of this very process (a thread holding the lock)."""
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with write_session(svc.sessions):
            taken.set()
            done.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(30)
    try:
        yield
    finally:
        done.set()
        holder.join(30)


HOLDERS: dict[str, Callable[[Services], AbstractContextManager[None]]] = {
    "another-process": held_by_another_process,
    "a-thread-of-ours": held_by_a_thread_of_ours,
}


@pytest.mark.parametrize("holder", list(HOLDERS))
def test_a_delivery_that_cannot_be_stored_in_time_gets_503_then_is_stored_once(
    sqlite_services: Services, holder: str
) -> None:
    svc = sqlite_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    app = create_app(services=svc)
    app.config["TESTING"] = True
    client: FlaskClient = app.test_client()
    body = stripe_invoice_event("evt_busy", "in_BUSY", created=NOW)

    with HOLDERS[holder](svc):
        resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        assert "busy" in resp.get_json()["status"]

    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 0  # nothing half done
    # The platform delivers it again: stored (and applied) once.
    for _ in range(2):
        resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
        assert resp.status_code == 200
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        assert s.scalar(select(func.count()).select_from(Payment)) == 0  # no such invoice here


def test_the_intake_writes_before_the_engine_writers_already_waiting() -> None:
    gate = WriterGate()
    assert gate.acquire(1)
    order: list[str] = []

    def writer(name: str, urgent: bool) -> None:
        assert gate.acquire(30, urgent=urgent)
        order.append(name)
        gate.release()

    engine = threading.Thread(target=writer, args=("engine", False))
    engine.start()
    while gate.waiting(urgent=False) < 1:  # the engine writer waits first
        time.sleep(0.001)
    intake = threading.Thread(target=writer, args=("intake", True))
    intake.start()
    while gate.waiting(urgent=True) < 1:
        time.sleep(0.001)
    gate.release()
    engine.join(30)
    intake.join(30)
    assert order == ["intake", "engine"]


def test_a_writer_that_waited_too_long_leaves_the_queue() -> None:
    gate = WriterGate()
    assert gate.acquire(1)
    assert gate.acquire(0.05, urgent=True) is False  # bounded: gives up, no longer waiting
    assert gate.waiting(urgent=True) == 0
    gate.release()
    assert gate.acquire(0)  # free again
