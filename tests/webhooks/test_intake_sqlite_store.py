"""The intake's store on SQLite (the embedded default): a delivery is BEGIN IMMEDIATE, one
INSERT, COMMIT on the driver's cursor, with none of SQLAlchemy's execution around them (under a
storm that machinery cost more CPU than the statements, CPU that `relance serve`'s tick and pump
share under one interpreter lock); the row stored is the one the ORM reads back, typed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from connector.config import Settings
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import WebhookEvent, WebhookOutcome
from connector.webhooks.intake import WebhookIntake
from tests.conftest import make_env
from tests.support.webhooks import stripe_connection, stripe_headers, stripe_invoice_event

NOW = int(time.time())
RECEIVED = datetime(2026, 3, 2, 9, 30, 15, 250_000, tzinfo=UTC)


@pytest.fixture
def sqlite_services(sqlite_url: str, tmp_path: Path) -> Iterator[Services]:
    env = make_env(sqlite_url, tmp_path / "var", RELANCE_WEBHOOK_APPLY="worker")  # store only
    svc = Services.build(Settings.from_env(env))
    yield svc
    svc.close()


def test_a_delivery_is_three_driver_statements_and_none_through_sqlalchemy(
    sqlite_services: Services,
) -> None:
    svc = sqlite_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    intake = WebhookIntake(svc, clock=lambda: RECEIVED)
    first = stripe_invoice_event("evt_warm", "in_A", created=NOW)
    assert intake.receive("stripe", conn_id, stripe_headers(first), first).status == 200

    through_sqlalchemy: list[str] = []
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    engine = svc.intake_engine
    event.listen(engine, "before_cursor_execute", seen)
    with engine.connect() as c:  # the pool's one idle connection, traced by the driver
        c.connection.driver_connection.set_trace_callback(sent.append)  # type: ignore[union-attr]
    body = stripe_invoice_event("evt_paid", "in_A", created=NOW + 1)
    headers = {**stripe_headers(body), "Authorization": "Bearer x", "X-Note": "café"}
    try:
        result = intake.receive("stripe", conn_id, headers, body)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        with engine.connect() as c:
            c.connection.driver_connection.set_trace_callback(None)  # type: ignore[union-attr]
    assert result.status == 200 and len(result.stored) == 1
    # The write itself; reads of the intake (none: the connection is cached) would show here.
    assert through_sqlalchemy == []
    assert [sql.split()[0] for sql in sent] == ["BEGIN", "INSERT", "COMMIT"]

    with svc.sessions() as s:
        row = s.scalars(select(WebhookEvent).where(WebhookEvent.id == result.stored[0])).one()
    assert row.raw_body == body
    assert row.headers["X-Note"] == "café" and "Authorization" not in row.headers
    assert row.received_at == RECEIVED and row.received_at.tzinfo is not None
    assert row.outcome is WebhookOutcome.PENDING and row.attempts == 0
    assert (row.scope, row.dedupe_key, row.invoice_ref) == (f"stripe:{conn_id}", "evt_paid", "in_A")

    again = intake.receive("stripe", conn_id, headers, body)
    assert again.status == 200 and again.duplicates == 1 and again.stored == []
