"""RELANCE_WEBHOOK_APPLY=worker: web processes only store (fast answers under load); the worker
applies what is pending every couple of seconds, and before every tick."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.config import Settings
from connector.dunning.claims import Claimer, due_customer_ids
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.scheduler import build_scheduler, dunning_tick
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Reminder, ReminderState, WebhookEvent, WebhookOutcome
from connector.webhooks.apply import apply_pending
from connector.webhooks.intake import WebhookIntake
from tests.support.builders import invoice_by_number, paris
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

NOW = int(time.time())


@pytest.fixture
def worker_services(env: dict[str, str]) -> Iterator[Services]:
    svc = Services.build(Settings.from_env({**env, "RELANCE_WEBHOOK_APPLY": "worker"}))
    yield svc
    svc.close()


def _store_payment(svc: Services, external_id: str) -> int:
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    seed_invoices(svc, shop_id, conn_id, [open_invoice(external_id)])
    body = stripe_invoice_event(f"evt_{external_id}", external_id, created=NOW)
    result = WebhookIntake(svc).receive("stripe", conn_id, stripe_headers(body), body)
    assert result.status == 200 and len(result.stored) == 1
    return result.stored[0]


def outcome_of(svc: Services, event_id: int) -> WebhookOutcome:
    with svc.sessions() as s:
        row = s.get(WebhookEvent, event_id)
        assert row is not None
        return row.outcome


def test_stored_only_then_the_worker_applies_once(worker_services: Services) -> None:
    svc = worker_services
    # A reminder claimed by a tick before the payment arrives: the apply must cancel it.
    tick_now = paris(date(2026, 6, 11))
    event_id = _store_payment(svc, "in_W1")
    with write_session(svc.sessions) as s:
        ids = due_customer_ids(s, tick_now, 10, skip_locked=False)
        claimed = Claimer(s, worker="w", lease_until=tick_now + timedelta(minutes=5))
        assert claimed.claim_customers(ids, tick_now, skip_locked=False).message_ids
    assert outcome_of(svc, event_id) is WebhookOutcome.PENDING
    assert invoice_by_number(svc, "in_W1").status is InvoiceStatus.OPEN  # not applied by web

    assert apply_pending(svc, datetime.now(UTC)) == 1
    assert outcome_of(svc, event_id) is WebhookOutcome.APPLIED
    assert invoice_by_number(svc, "in_W1").status is InvoiceStatus.PAID
    with svc.sessions() as s:
        claimed = select(Reminder).where(Reminder.step_key == "reminder_1")
        assert [r.state for r in s.scalars(claimed)] == [ReminderState.CANCELLED]
    assert apply_pending(svc, datetime.now(UTC)) == 0  # nothing twice


def test_a_tick_applies_stored_payments_before_it_plans(worker_services: Services) -> None:
    event_id = _store_payment(worker_services, "in_W2")
    dunning_tick(worker_services)
    assert outcome_of(worker_services, event_id) is WebhookOutcome.APPLIED
    assert invoice_by_number(worker_services, "in_W2").status is InvoiceStatus.PAID


def test_the_apply_job_is_scheduled_only_in_worker_mode(
    worker_services: Services, services: Services
) -> None:
    assert "webhook_apply" in {
        j.id for j in build_scheduler(worker_services, blocking=False).get_jobs()
    }
    assert "webhook_apply" not in {
        j.id for j in build_scheduler(services, blocking=False).get_jobs()
    }


def test_a_send_applies_the_stored_payment_of_its_invoice_first(
    worker_services: Services, tmp_path: Path
) -> None:
    """The web answered 200 for a payment and left it to the worker; a tick that reaches that
    invoice before the 2-second apply job must not send it a reminder (no apply_pending here:
    the tick's own runner, as a tick already under way when the payment arrives)."""
    svc = worker_services
    event_id = _store_payment(svc, "in_W3")
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Other", email="owner@other.example").id
    seed_invoices(svc, shop_id, stripe_connection(svc, shop_id), [open_invoice("in_W4")])
    outbox = OutboxTransport(tmp_path / "outbox")

    report = dunning_runner(svc, transport=outbox).tick(paris(date(2026, 6, 11)))

    sent = [json.loads(p.read_text()) for p in sorted(outbox.directory.iterdir())]
    assert [m["invoice"] for m in sent] == [invoice_by_number(svc, "in_W4").number]
    assert outcome_of(svc, event_id) is WebhookOutcome.APPLIED
    assert invoice_by_number(svc, "in_W3").status is InvoiceStatus.PAID
    assert [o.invoice for o in report.outcomes if o.outcome == "sent"] == [sent[0]["invoice"]]
    paid = invoice_by_number(svc, "in_W3")
    with svc.sessions() as s:
        states = dict(
            s.execute(
                select(Reminder.step_key, Reminder.state).where(Reminder.invoice_id == paid.id)
            ).all()
        )
    assert states["reminder_1"] is ReminderState.CANCELLED  # claimed, cancelled by the payment
    assert ReminderState.SENT not in states.values()
