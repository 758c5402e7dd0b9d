"""The intake's store on PostgreSQL: one autocommit INSERT per delivery on a pool without the
pre-ping round trip, so a connection the server dropped must be retried, not answered 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from connector.config import Settings
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import normalize_url, write_session
from connector.store.models import WebhookEvent
from connector.webhooks.intake import WebhookIntake
from tests.conftest import make_env
from tests.support.webhooks import stripe_connection, stripe_headers, stripe_invoice_event

NOW = int(time.time())


@pytest.fixture
def pg_services(postgres_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = Services.build(Settings.from_env(make_env(postgres_url, tmp_path / "var")))
    yield svc
    svc.close()


@pytest.mark.postgres
def test_a_dropped_pooled_connection_is_retried_not_answered_500(pg_services: Services) -> None:
    svc = pg_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    intake = WebhookIntake(svc, background=False)
    first = stripe_invoice_event("evt_before", "in_X", created=NOW)
    assert intake.receive("stripe", conn_id, stripe_headers(first), first).status == 200
    # The pool holds one connection now; the server drops it (restart, idle timeout, failover).
    raw = svc.intake_engine.raw_connection()
    pid = raw.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
    raw.close()  # back to the pool, still believed alive
    admin = create_engine(normalize_url(svc.settings.database_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        assert c.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
    admin.dispose()

    second = stripe_invoice_event("evt_after", "in_X", created=NOW + 1)
    result = intake.receive("stripe", conn_id, stripe_headers(second), second)
    assert result.status == 200 and len(result.stored) == 1
    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 2
