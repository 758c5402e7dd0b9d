"""An invoice's timeline gathers what arrived from outside, in order: the reminder as sent,
SendGrid's delivery and open reports for it, the platform's payment webhook and the payment it
recorded — and nothing of another invoice's messages."""

from __future__ import annotations

import json
import time
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import select

from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Message, Reminder, Shop
from tests.support.builders import invoice_by_number, paris
from tests.support.webhooks import (
    SENDGRID_BATCH,
    SendGridSigner,
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)


def _event(kind: str, sg_id: str, message_id: int, email: str, at: int) -> dict[str, object]:
    template = next(e for e in SENDGRID_BATCH if e["event"] == kind)
    return {
        **template,
        "sg_event_id": sg_id,
        "email": email,
        "timestamp": at,
        "relance_message_id": str(message_id),
    }


def test_message_deliveries_webhook_and_payment_in_order(
    services: Services, shop: Shop, client: FlaskClient, signer: SendGridSigner
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(
        services,
        shop.id,
        conn_id,
        [open_invoice("in_A1"), open_invoice("in_B2", email="paul@client.example")],
    )
    runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
    assert runner.tick(paris(date(2026, 6, 11))).counts().get("sent") == 2
    mine = invoice_by_number(services, "in_A1")
    with services.sessions() as s:
        messages = {
            inv_id: msg
            for inv_id, msg in s.execute(
                select(Reminder.invoice_id, Message).join(
                    Message, Message.id == Reminder.message_id
                )
            )
        }
    msg, other = messages[mine.id], next(m for i, m in messages.items() if i != mine.id)
    assert msg.sent_at is not None
    at = int(msg.sent_at.timestamp())
    batch = [
        _event("delivered", "sg-1", msg.id, "marie@client.example", at + 5),
        _event("open", "sg-2", msg.id, "marie@client.example", at + 600),
        _event("delivered", "sg-3", other.id, "paul@client.example", at + 6),
    ]
    body = json.dumps(batch).encode()
    assert client.post("/webhooks/sendgrid", data=body, headers=signer.headers(body)).status_code
    paid = stripe_invoice_event("evt_pay_1", "in_A1", created=int(time.time()))
    resp = client.post(f"/webhooks/stripe/{conn_id}", data=paid, headers=stripe_headers(paid))
    assert resp.status_code == 200, resp.get_json()

    with services.sessions() as s:
        entries = invoice_timeline(s, shop.id, mine.id)
    kinds = [e.kind for e in entries]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    sent = kinds.index(TimelineKind.MESSAGE)
    deliveries = [e for e in entries if e.kind is TimelineKind.DELIVERY]
    assert [d.title.split()[0] for d in deliveries] == ["delivered", "reminder"]  # then opened
    assert all(d.detail.get("sg_event_id") in ("sg-1", "sg-2") for d in deliveries)
    (hook,) = [e for e in entries if e.kind is TimelineKind.WEBHOOK]
    assert hook.detail["event_id"] == "evt_pay_1" and hook.detail["outcome"] == "applied"
    (payment,) = [e for e in entries if e.kind is TimelineKind.PAYMENT]
    assert payment.detail["source"] == "webhook" and payment.detail["amount_minor"] == 10800
    assert sent < kinds.index(TimelineKind.DELIVERY) < kinds.index(TimelineKind.WEBHOOK)
    assert entries[sent].detail["provider_message_id"]
