"""Stripe events that cannot be applied from their body alone, end to end: signed deliveries from
the local Stripe server into the Flask intake, the worker asking that server through the real
stripe-python client. Since API 2025-03-31 a dispute or refund names a PaymentIntent, never the
invoice (only InvoicePayment links them); a credit note names the invoice without carrying it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Connection,
    Invoice,
    Shop,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.sync import sync_connection
from connector.webhooks.apply import apply_pending, retry_pending
from tests.support.fake_stripe import DEFAULT_API_KEY, FakeStripe
from tests.support.scripted_fake import Reply
from tests.support.webhooks import make_connection, stripe_headers

SECRET = "whsec_relance_lookups"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def conn_id(services: Services, shop: Shop, fake: FakeStripe) -> int:
    cid = make_connection(
        services, shop.id, "stripe", secret=SECRET, credentials={"api_key": DEFAULT_API_KEY}
    )
    with write_session(services.sessions) as s:
        row = s.get(Connection, cid)
        assert row is not None
        row.api_base = fake.url
    return cid


def _synced(services: Services, fake: FakeStripe, conn_id: int) -> dict[str, Any]:
    """An open send_invoice invoice on Stripe, in our store through the real sync."""
    invoice = fake.add_invoice(currency="eur", total=1050, created=int(time.time()) - 7200)
    sync_connection(services, conn_id, datetime.now(UTC))
    assert _invoice(services, invoice["id"]).status is InvoiceStatus.OPEN
    return invoice


def _invoice(services: Services, external_id: str) -> Invoice:
    with services.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.external_id == external_id))
        assert inv is not None
        return inv


def _deliver(client: FlaskClient, conn_id: int, event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    resp = client.post(
        f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body, SECRET)
    )
    assert resp.status_code == 200, resp.get_json()


def _outcome(services: Services, event_id: str) -> WebhookEvent:
    with services.sessions() as s:
        row = s.scalar(select(WebhookEvent).where(WebhookEvent.dedupe_key == event_id))
        assert row is not None
        return row


def _lookups(fake: FakeStripe) -> list[dict[str, Any]]:
    return [r.params for r in fake.calls("GET", "/v1/invoice_payments")]


def test_a_dispute_naming_only_the_payment_pauses_its_invoice(
    services: Services, conn_id: int, fake: FakeStripe, client: FlaskClient
) -> None:
    invoice = _synced(services, fake, conn_id)
    at = int(time.time()) + 2  # after the sync observed it
    _deliver(client, conn_id, fake.pay(invoice["id"], at=at, amount=500))  # partial payment
    assert _invoice(services, invoice["id"]).amount_due_minor == 550
    dispute = fake.dispute(invoice["id"], at=at + 60)
    assert "invoice" not in dispute["data"]["object"]

    _deliver(client, conn_id, dispute)
    # The web process never calls Stripe: stored, left for the worker, nothing changed yet.
    assert _outcome(services, dispute["id"]).outcome is WebhookOutcome.PENDING
    assert _invoice(services, invoice["id"]).pause_reason is None
    assert _lookups(fake) == []

    assert apply_pending(services, datetime.now(UTC)) == 1
    [intent] = fake.payment_intents(invoice["id"])
    assert _lookups(fake) == [
        {"payment": {"type": "payment_intent", "payment_intent": intent}, "limit": "10"}
    ]
    inv = _invoice(services, invoice["id"])
    assert inv.pause_reason == "dispute" and inv.amount_due_minor == 550
    assert _outcome(services, dispute["id"]).outcome is WebhookOutcome.APPLIED
    with services.sessions() as s:
        kinds = s.scalars(select(TimelineEntry.kind).where(TimelineEntry.invoice_id == inv.id))
        assert TimelineKind.PAUSED in set(kinds)
    # The next tick finds nothing to send for it.
    report = dunning_runner(services).tick(datetime.now(UTC) + timedelta(days=60))
    assert [o for o in report.outcomes if o.invoice == inv.number] == []


def test_a_refund_naming_only_the_payment_reaches_its_invoice(
    services: Services, conn_id: int, fake: FakeStripe, client: FlaskClient
) -> None:
    invoice = _synced(services, fake, conn_id)
    at = int(time.time()) + 2  # after the sync observed it
    _deliver(client, conn_id, fake.pay(invoice["id"], at=at))
    assert _invoice(services, invoice["id"]).status is InvoiceStatus.PAID
    refund = fake.refund(invoice["id"], at=at + 60)
    assert "invoice" not in refund["data"]["object"]
    _deliver(client, conn_id, refund)
    assert _invoice(services, invoice["id"]).status is InvoiceStatus.PAID  # not yet: the worker
    assert apply_pending(services, datetime.now(UTC)) == 1
    assert _invoice(services, invoice["id"]).status is InvoiceStatus.REFUNDED
    assert len(_lookups(fake)) == 1


def test_a_credit_note_re_reads_its_invoice(
    services: Services, conn_id: int, fake: FakeStripe, client: FlaskClient
) -> None:
    invoice = _synced(services, fake, conn_id)
    note = fake.credit(invoice["id"], at=int(time.time()) + 2, amount=300)
    _deliver(client, conn_id, note)
    assert _invoice(services, invoice["id"]).amount_due_minor == 1050
    reads_before = len(fake.calls("GET", f"/v1/invoices/{invoice['id']}"))
    assert apply_pending(services, datetime.now(UTC)) == 1
    assert len(fake.calls("GET", f"/v1/invoices/{invoice['id']}")) == reads_before + 1
    inv = _invoice(services, invoice["id"])
    assert inv.amount_due_minor == 750 and inv.status is InvoiceStatus.OPEN
    assert _outcome(services, note["id"]).outcome is WebhookOutcome.APPLIED


def test_a_dispute_on_a_payment_of_no_invoice_is_ignored(
    services: Services, conn_id: int, fake: FakeStripe, client: FlaskClient
) -> None:
    invoice = _synced(services, fake, conn_id)
    at = int(time.time()) + 2  # after the sync observed it
    _deliver(client, conn_id, fake.pay(invoice["id"], at=at, amount=500))
    dispute = fake.dispute(invoice["id"], at=at + 60)
    fake.invoice_payments.clear()  # Stripe knows no invoice for that PaymentIntent
    _deliver(client, conn_id, dispute)
    assert apply_pending(services, datetime.now(UTC)) == 1
    assert _outcome(services, dispute["id"]).outcome is WebhookOutcome.IGNORED
    assert _invoice(services, invoice["id"]).pause_reason is None
    assert apply_pending(services, datetime.now(UTC)) == 0  # settled: never asked again
    assert len(_lookups(fake)) == 1


def test_stripe_refusing_the_lookup_leaves_it_to_the_retry_job(
    services: Services, conn_id: int, fake: FakeStripe, client: FlaskClient
) -> None:
    invoice = _synced(services, fake, conn_id)
    at = int(time.time()) + 2  # after the sync observed it
    _deliver(client, conn_id, fake.pay(invoice["id"], at=at, amount=500))
    dispute = fake.dispute(invoice["id"], at=at + 60)
    _deliver(client, conn_id, dispute)
    fake.script("GET", "/v1/invoice_payments", [Reply(401)])
    assert apply_pending(services, datetime.now(UTC)) == 1
    row = _outcome(services, dispute["id"])
    assert row.outcome is WebhookOutcome.FAILED and row.attempts == 1
    assert row.last_error and "AdapterAuthError" in row.last_error
    assert _invoice(services, invoice["id"]).pause_reason is None

    later = datetime.now(UTC) + timedelta(minutes=5)
    assert retry_pending(services, later) == {"applied": 1}
    assert _invoice(services, invoice["id"]).pause_reason == "dispute"
    assert retry_pending(services, later) == {}
