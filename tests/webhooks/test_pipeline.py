"""The intake pipeline through the Flask app, on SQLite and PostgreSQL: fixed answers in a fixed
order, nothing written on a refusal, duplicates and unknown topics acknowledged."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.platform import EventKind, InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Payment,
    PaymentSource,
    Reminder,
    Shop,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.webhooks import handlers
from connector.webhooks.apply import retry_pending
from tests.support.builders import invoice_by_number
from tests.support.webhooks import (
    STRIPE_EVENT,
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)
from tests.webhooks.conftest import row_counts

NOW = int(time.time())


def post(client: FlaskClient, url: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(url, data=body, headers=headers)


def test_a_payment_closes_the_invoice_at_once_exactly_once(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_A1")])
    inv = invoice_by_number(services, "in_A1")
    # A reminder claimed by a tick, not sent yet: the payment must cancel it.
    from connector.dunning.claims import Claimer, due_customer_ids
    from tests.support.builders import paris

    tick_now = paris(date(2026, 6, 11))
    with write_session(services.sessions) as s:
        ids = due_customer_ids(s, tick_now, 10, skip_locked=False)
        Claimer(s, worker="w", lease_until=tick_now + timedelta(minutes=5)).claim_customers(
            ids, tick_now, skip_locked=False
        )
    body = stripe_invoice_event("evt_pay_1", "in_A1", created=NOW)
    url = f"/webhooks/stripe/{conn_id}"
    first = post(client, url, body, stripe_headers(body))
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {"status": "accepted", "stored": 1, "duplicates": 0}
    again = post(client, url, body, stripe_headers(body))
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"

    with services.sessions() as s:
        paid = s.get(type(inv), inv.id)
        assert paid is not None
        assert paid.status is InvoiceStatus.PAID and paid.amount_due_minor == 0
        assert paid.next_action_at is None
        [payment] = s.scalars(select(Payment).where(Payment.invoice_id == inv.id)).all()
        assert payment.amount_minor == 10800 and payment.source is PaymentSource.WEBHOOK
        states = {r.step_key: r.state.value for r in s.scalars(select(Reminder))}
        assert states.get("reminder_1") == "cancelled"
        kinds = [t.kind for t in s.scalars(select(TimelineEntry).order_by(TimelineEntry.id))]
        assert TimelineKind.PAID in kinds and TimelineKind.REMINDER_CANCELLED in kinds
        [event] = s.scalars(select(WebhookEvent)).all()
        assert event.outcome is WebhookOutcome.APPLIED
        assert event.raw_body == body  # the raw bytes, as signed
        assert "Stripe-Signature" in event.headers
        assert event.scope == f"stripe:{conn_id}" and event.shop_id == shop.id


def test_unknown_topic_is_stored_and_ignored(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    event = dict(STRIPE_EVENT, id="evt_plan", type="plan.created")
    body = json.dumps(event).encode()
    resp = post(client, f"/webhooks/stripe/{conn_id}", body, stripe_headers(body))
    assert resp.status_code == 200
    with services.sessions() as s:
        [row] = s.scalars(select(WebhookEvent)).all()
    assert row.outcome is WebhookOutcome.IGNORED and row.topic == "plan.created"


def test_unknown_connection_or_platform_is_404_and_writes_nothing(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    body = stripe_invoice_event("evt_x", "in_X", created=NOW)
    before = row_counts(services)
    assert (
        post(client, f"/webhooks/stripe/{conn_id + 99}", body, stripe_headers(body)).status_code
        == 404
    )
    assert post(client, f"/webhooks/nope/{conn_id}", body, stripe_headers(body)).status_code == 404
    # A Stripe connection addressed as another platform is not found either.
    assert (
        post(client, f"/webhooks/shopify/{conn_id}", body, stripe_headers(body)).status_code == 404
    )
    assert row_counts(services) == before


def test_one_byte_over_a_mebibyte_is_413_and_writes_nothing(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    limit = services.settings.max_webhook_bytes
    assert limit == 1024 * 1024
    body = b"{" + b" " * (limit - 1)  # exactly the limit: read, verified, then unparseable
    assert (
        post(client, f"/webhooks/stripe/{conn_id}", body, stripe_headers(body)).status_code == 400
    )
    body = b"{" + b" " * limit  # 1 MiB + 1 byte, validly signed
    before = row_counts(services)
    for url in (f"/webhooks/stripe/{conn_id}", "/webhooks/shopify", "/webhooks/sendgrid"):
        resp = post(client, url, body, stripe_headers(body))
        assert resp.status_code == 413, url
    assert row_counts(services) == before


def test_verified_but_unparseable_is_400_and_writes_nothing(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    before = row_counts(services)
    for body in (b"not json", b"[]", json.dumps({"object": "event", "id": "evt"}).encode()):
        resp = post(client, f"/webhooks/stripe/{conn_id}", body, stripe_headers(body))
        assert resp.status_code == 400, body
    assert row_counts(services) == before


def test_connection_a_secret_on_connection_b_url_is_401_and_b_is_untouched(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    from connector.shops import create_shop

    with write_session(services.sessions) as s:
        other = create_shop(s, name="Other shop", email="owner@other.example")
    conn_a = stripe_connection(services, shop.id, secret="whsec_shop_a")
    conn_b = stripe_connection(services, other.id, secret="whsec_shop_b")
    seed_invoices(services, shop.id, conn_a, [open_invoice("in_SAME")])
    seed_invoices(services, other.id, conn_b, [open_invoice("in_SAME", email="b@client.example")])
    before = row_counts(services)
    body = stripe_invoice_event("evt_cross", "in_SAME", created=NOW)
    resp = post(client, f"/webhooks/stripe/{conn_b}", body, stripe_headers(body, "whsec_shop_a"))
    assert resp.status_code == 401
    assert row_counts(services) == before
    # B's own secret on B's URL touches B's invoice only, never A's of the same external id.
    resp = post(client, f"/webhooks/stripe/{conn_b}", body, stripe_headers(body, "whsec_shop_b"))
    assert resp.status_code == 200
    with services.sessions() as s:
        from connector.store.models import Invoice

        by_shop = {i.shop_id: i.status for i in s.scalars(select(Invoice))}
    assert by_shop == {shop.id: InvoiceStatus.OPEN, other.id: InvoiceStatus.PAID}


def test_a_failed_apply_is_answered_200_and_retried_from_the_store(
    services: Services, shop: Shop, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_R1")])

    def broken(ctx: handlers.ApplyContext, event: Any) -> WebhookOutcome:
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(handlers.HANDLERS, EventKind.PAID, broken)
    body = stripe_invoice_event("evt_retry", "in_R1", created=NOW)
    resp = post(client, f"/webhooks/stripe/{conn_id}", body, stripe_headers(body))
    assert resp.status_code == 200  # stored durably: the platform must not resend
    with services.sessions() as s:
        [row] = s.scalars(select(WebhookEvent)).all()
    assert row.outcome is WebhookOutcome.FAILED and "database hiccup" in (row.last_error or "")
    assert invoice_by_number(services, "in_R1").status is InvoiceStatus.OPEN

    monkeypatch.undo()
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert retry_pending(services, later) == {"applied": 1}
    assert retry_pending(services, later) == {}  # applied once, never again
    assert invoice_by_number(services, "in_R1").status is InvoiceStatus.PAID
    with services.sessions() as s:
        [row] = s.scalars(select(WebhookEvent)).all()
        payments = s.scalars(select(Payment)).all()
    assert row.outcome is WebhookOutcome.APPLIED and row.attempts == 2
    assert len(payments) == 1


def test_a_dispute_on_a_payment_we_recorded_pauses_at_once(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    """A dispute names a payment, not an invoice: when that payment is in our books (pre-2025
    payloads name the PaymentIntent), the invoice is found without asking Stripe."""
    from tests.support.webhooks import stripe_dispute_event

    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_D1")])
    paid = stripe_invoice_event("evt_paid_d1", "in_D1", created=NOW - 60)
    assert (
        post(client, f"/webhooks/stripe/{conn_id}", paid, stripe_headers(paid)).status_code == 200
    )
    intent = STRIPE_EVENT["data"]["object"]["payment_intent"]
    with services.sessions() as s:
        assert [p.external_id for p in s.scalars(select(Payment))] == [intent]
    dispute = json.loads(stripe_dispute_event("evt_dispute", "in_D1", created=NOW))
    dispute["data"]["object"]["payment_intent"] = intent
    body = json.dumps(dispute).encode()
    assert (
        post(client, f"/webhooks/stripe/{conn_id}", body, stripe_headers(body)).status_code == 200
    )
    assert invoice_by_number(services, "in_D1").pause_reason == "dispute"
    with services.sessions() as s:
        row = s.scalar(select(WebhookEvent).where(WebhookEvent.dedupe_key == "evt_dispute"))
    assert row is not None and row.outcome is WebhookOutcome.APPLIED


def test_background_apply_answers_once_stored_then_applies(services: Services, shop: Shop) -> None:
    from connector.webhooks.intake import WebhookIntake

    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_BG")])
    intake = WebhookIntake(services, background=True)
    body = stripe_invoice_event("evt_bg", "in_BG", created=NOW)
    try:
        result = intake.receive("stripe", conn_id, stripe_headers(body), body)
        assert result.status == 200 and len(result.stored) == 1
        intake.applier.drain()
    finally:
        intake.applier.close()
    assert invoice_by_number(services, "in_BG").status is InvoiceStatus.PAID
    with services.sessions() as s:
        [row] = s.scalars(select(WebhookEvent)).all()
    assert row.outcome is WebhookOutcome.APPLIED


def test_the_worker_schedules_the_webhook_retry_job(services: Services) -> None:
    from connector.scheduler import build_scheduler

    scheduler = build_scheduler(services, blocking=False)
    assert "webhook_retry" in {job.id for job in scheduler.get_jobs()}


def test_an_applied_webhook_is_noted_on_its_connection(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    """Noted after the apply's commit, in its own transaction (never inside it: a sync page
    locks the connection before invoices, the apply would lock them the other way round)."""
    from connector.store.models import Connection
    from connector.webhooks import apply

    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_L1")])
    apply._last_webhook_noted.clear()
    before = datetime.now(UTC)
    body = stripe_invoice_event("evt_l1", "in_L1", created=NOW)
    assert (
        post(client, f"/webhooks/stripe/{conn_id}", body, stripe_headers(body)).status_code == 200
    )
    with services.sessions() as s:
        conn = s.get(Connection, conn_id)
        assert conn is not None and conn.last_webhook_at is not None
        assert conn.last_webhook_at >= before
