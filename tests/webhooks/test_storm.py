"""Duplicate storm against a real HTTP server on PostgreSQL: 10,000 signed deliveries, 30 % of
the events delivered again up to 5 times, shuffled, from 8 concurrent clients → every event
stored once, every payment recorded once, nothing lost."""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.serving import BaseWSGIServer, make_server

from connector.config import Settings
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, Payment, WebhookEvent, WebhookOutcome
from connector.web import create_app
from tests.conftest import make_env
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

DELIVERIES = 10_000
CLIENTS = 8


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Services, BaseWSGIServer]]:
    svc = Services.build(Settings.from_env(make_env(postgres_url, tmp_path / "var")))
    srv = make_server("127.0.0.1", 0, create_app(services=svc), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield svc, srv
    srv.shutdown()
    thread.join(timeout=10)
    svc.close()


def plan(rng: random.Random) -> tuple[list[int], int]:
    """Event numbers in delivery order: each event once, 30 % of them 1–5 more times."""
    deliveries: list[int] = []
    event = 0
    while len(deliveries) < DELIVERIES:
        copies = 1 + (rng.randint(1, 5) if rng.random() < 0.30 else 0)
        deliveries += [event] * copies
        event += 1
    deliveries = deliveries[:DELIVERIES]
    rng.shuffle(deliveries)
    return deliveries, len(set(deliveries))


@pytest.mark.slow
@pytest.mark.postgres
def test_duplicate_storm_loses_nothing_and_applies_nothing_twice(
    server: tuple[Services, BaseWSGIServer],
) -> None:
    svc, srv = server
    rng = random.Random(20261129)
    deliveries, unique = plan(rng)
    events = sorted(set(deliveries))
    assert unique == len(events) and DELIVERIES - unique > 2000  # a real storm of duplicates
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Storm shop", email="owner@storm.example").id
    conn_id = stripe_connection(svc, shop_id)
    seed_invoices(
        svc,
        shop_id,
        conn_id,
        [open_invoice(f"in_{n:05d}", email=f"c{n}@x.example") for n in events],
    )
    created = int(time.time()) - 60
    bodies = {
        n: stripe_invoice_event(f"evt_{n:05d}", f"in_{n:05d}", created=created) for n in events
    }

    work: queue.Queue[int] = queue.Queue()
    for n in deliveries:
        work.put(n)
    answers: Counter[tuple[int, str]] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    host, port = srv.server_address[:2]

    def client() -> None:
        conn = http.client.HTTPConnection(str(host), int(port), timeout=30)
        try:
            while True:
                try:
                    n = work.get_nowait()
                except queue.Empty:
                    return
                body = bodies[n]
                conn.request("POST", f"/webhooks/stripe/{conn_id}", body, stripe_headers(body))
                resp = conn.getresponse()
                status = json.loads(resp.read()).get("status", "")
                with lock:
                    answers[(resp.status, status)] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors[:3]
    assert answers == {(200, "accepted"): unique, (200, "duplicate"): DELIVERIES - unique}

    with svc.sessions() as s:
        stored = s.execute(
            select(WebhookEvent.outcome, func.count()).group_by(WebhookEvent.outcome)
        ).all()
        payments = s.execute(
            select(Payment.invoice_id, func.count()).group_by(Payment.invoice_id)
        ).all()
        statuses = s.execute(select(Invoice.status, func.count()).group_by(Invoice.status)).all()
    assert dict(stored) == {WebhookOutcome.APPLIED: unique}  # 0 lost, none left pending
    assert len(payments) == unique and {n for _, n in payments} == {1}  # 0 applied twice
    assert dict(statuses) == {InvoiceStatus.PAID: unique}
