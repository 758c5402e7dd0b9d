"""SendGrid Event Webhook: events attached to the message and its reminders through our
custom_args, deduplicated by sg_event_id; a bounce stops email to that address and tells the
owner, and the next tick sends nothing to it."""

from __future__ import annotations

import json
from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import select

from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import (
    Customer,
    Message,
    Shop,
    Task,
    TaskKind,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from tests.support.builders import add_invoices, normalized, paris
from tests.support.webhooks import SENDGRID_BATCH, SendGridSigner

DUE = date(2026, 6, 10)


def _event(
    kind: str, sg_id: str, message_id: int, email: str, **extra: object
) -> dict[str, object]:
    template = next(e for e in SENDGRID_BATCH if e["event"] == kind)
    return {
        **template,
        **extra,
        "sg_event_id": sg_id,
        "email": email,
        "relance_message_id": str(message_id),
        "reminder_id": "0",
        "step": "reminder_1",
    }


def test_events_reach_the_timeline_once_and_a_bounce_stops_email(
    services: Services, shop: Shop, client: FlaskClient, signer: SendGridSigner
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    outbox = OutboxTransport(services.settings.outbox_dir)
    runner = dunning_runner(services, transport=outbox)
    assert runner.tick(paris(date(2026, 6, 11))).counts().get("sent") == 1
    with services.sessions() as s:
        [message] = s.scalars(select(Message)).all()
    to = "marie@client.example"
    batch = [
        _event("processed", "sg-0", message.id, to),
        _event("delivered", "sg-1", message.id, to),
        _event("open", "sg-2", message.id, to),
        _event("open", "sg-2", message.id, to),  # SendGrid duplicates events, often
        _event("click", "sg-3", message.id, to, url="https://pay.example/F-1"),
        _event("bounce", "sg-4", message.id, to),
    ]
    body = json.dumps(batch).encode()
    resp = client.post("/webhooks/sendgrid", data=body, headers=signer.headers(body))
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "accepted", "stored": 5, "duplicates": 1}
    # The same batch again (SendGrid retries): nothing new anywhere.
    again = client.post("/webhooks/sendgrid", data=body, headers=signer.headers(body))
    assert again.get_json() == {"status": "accepted", "stored": 0, "duplicates": 6}

    with services.sessions() as s:
        events = {e.dedupe_key: e for e in s.scalars(select(WebhookEvent))}
        kinds = [
            t.kind
            for t in s.scalars(select(TimelineEntry).order_by(TimelineEntry.id))
            if t.kind in (TimelineKind.OPENED, TimelineKind.CLICKED, TimelineKind.BOUNCED)
        ]
        customer = s.scalars(select(Customer)).one()
        tasks = s.scalars(select(Task).where(Task.kind == TaskKind.BOUNCE)).all()
    assert set(events) == {"sg-0", "sg-1", "sg-2", "sg-3", "sg-4"}
    assert all(e.scope == "sendgrid" and e.shop_id == shop.id for e in events.values())
    assert events["sg-0"].outcome is WebhookOutcome.IGNORED  # "processed": nothing to do
    assert events["sg-4"].outcome is WebhookOutcome.APPLIED
    assert kinds == [TimelineKind.OPENED, TimelineKind.CLICKED, TimelineKind.BOUNCED]
    assert customer.email_blocked_reason is not None
    assert customer.email_blocked_reason.startswith("bounce")
    assert len(tasks) == 1 and tasks[0].customer_id == customer.id

    # The next step falls due: nothing is emailed to the bounced address.
    before = len(list(services.settings.outbox_dir.glob("*.json")))
    dunning_runner(services, transport=outbox).tick(paris(date(2026, 6, 17)))
    assert len(list(services.settings.outbox_dir.glob("*.json"))) == before


def test_events_of_messages_we_did_not_send_are_stored_and_ignored(
    services: Services, client: FlaskClient, signer: SendGridSigner
) -> None:
    body = json.dumps(SENDGRID_BATCH).encode()  # official example: no custom_args of ours
    resp = client.post("/webhooks/sendgrid", data=body, headers=signer.headers(body))
    assert resp.status_code == 200
    with services.sessions() as s:
        rows = s.scalars(select(WebhookEvent)).all()
    # The official example reuses one placeholder sg_event_id for every event: stored once.
    assert len(rows) == 1 and rows[0].outcome is WebhookOutcome.IGNORED


def test_a_batch_that_is_not_events_is_400(
    services: Services, client: FlaskClient, signer: SendGridSigner
) -> None:
    for body in (b"{}", b"[1]", b'[{"event": "open"}]', b"nope"):
        resp = client.post("/webhooks/sendgrid", data=body, headers=signer.headers(body))
        assert resp.status_code == 400, body
    with services.sessions() as s:
        assert s.scalars(select(WebhookEvent)).all() == []


def test_events_of_a_thank_you_reach_its_invoice_not_a_reminder(
    services: Services, shop: Shop, client: FlaskClient, signer: SendGridSigner
) -> None:
    """A thank-you shares the message id space with the reminders (no collision in
    custom_args): its events land on its own invoice, never on the reminder that chased it."""
    from connector.dunning.thank_you import ThankYouSender
    from connector.ledger import lock_invoice, set_state
    from connector.platform import InvoiceStatus
    from connector.store.db import write_session
    from connector.store.models import Invoice, MessageKind, PaymentSource

    with write_session(services.sessions) as s:
        row = s.get(Shop, shop.id)
        assert row is not None
        row.thank_you_enabled = True
    add_invoices(services, row, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    outbox = OutboxTransport(services.settings.outbox_dir)
    dunning_runner(services, transport=outbox).tick(paris(date(2026, 6, 11)))
    paid_at = paris(date(2026, 6, 12))
    with write_session(services.sessions) as s:
        inv_id = s.scalars(select(Invoice.id)).one()
        inv = lock_invoice(s, inv_id)
        assert inv is not None
        set_state(
            s,
            inv,
            status=InvoiceStatus.PAID,
            amount_due_minor=0,
            now=paid_at,
            source=PaymentSource.WEBHOOK,
            payment_external_id="evt_paid",
        )
    ThankYouSender(services.sessions, outbox).run(paid_at)
    with services.sessions() as s:
        thanks = s.scalars(select(Message).where(Message.kind == MessageKind.THANK_YOU)).one()
    to = "marie@client.example"
    batch = [
        {**_event("open", "sg-t1", thanks.id, to), "step": "thank_you"},
        {**_event("bounce", "sg-t2", thanks.id, to), "step": "thank_you"},
    ]
    body = json.dumps(batch).encode()
    resp = client.post("/webhooks/sendgrid", data=body, headers=signer.headers(body))
    assert resp.status_code == 200
    with services.sessions() as s:
        entries = [
            (t.kind, t.summary, t.reminder_id, t.invoice_id)
            for t in s.scalars(select(TimelineEntry).order_by(TimelineEntry.id))
            if t.kind in (TimelineKind.OPENED, TimelineKind.BOUNCED)
        ]
        customer = s.scalars(select(Customer)).one()
        outcomes = {e.dedupe_key: e.outcome for e in s.scalars(select(WebhookEvent))}
    assert outcomes == {"sg-t1": WebhookOutcome.APPLIED, "sg-t2": WebhookOutcome.APPLIED}
    assert [(k, s_, r) for k, s_, r, _ in entries] == [
        (TimelineKind.OPENED, "thank-you opened", None),
        (TimelineKind.BOUNCED, entries[1][1], None),
    ]
    assert {i for *_, i in entries} == {inv_id}
    assert customer.email_blocked_reason is not None  # the address bounced, whatever the mail
