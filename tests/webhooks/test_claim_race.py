"""A paid webhook arriving between a tick's claim and its send: that invoice gets nothing
(design §6 invariant 1) — the webhook's own transaction cancels the claimed reminder."""

from __future__ import annotations

import time
from datetime import date, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from connector.dunning.claims import Claimer, due_customer_ids
from connector.dunning.deliver import Deliverer
from connector.dunning.rendering import ReminderRenderer
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Message, MessageState, Reminder, Shop
from tests.support.builders import paris
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)


def test_paid_webhook_between_claim_and_send_sends_nothing(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_RACE", due_on=date(2026, 6, 10))])
    now = paris(date(2026, 6, 11))
    with write_session(services.sessions) as s:
        ids = due_customer_ids(s, now, 10, skip_locked=False)
        claimed = Claimer(s, worker="w1", lease_until=now + timedelta(minutes=5)).claim_customers(
            ids, now, skip_locked=False
        )
    [message_id] = claimed.message_ids

    body = stripe_invoice_event("evt_race", "in_RACE", created=int(time.time()))
    resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
    assert resp.status_code == 200

    outbox = OutboxTransport(services.settings.outbox_dir)
    runner = dunning_runner(services, transport=outbox)
    deliverer = Deliverer(
        services.sessions,
        outbox,
        ReminderRenderer(),
        letters_dir=services.settings.letters_dir,
        worker="w1",
        send_lease=timedelta(minutes=2),
        clock=runner.clock,
    )
    assert deliverer.deliver_message(message_id, now) == []
    assert not services.settings.outbox_dir.exists() or not list(
        services.settings.outbox_dir.glob("*.json")
    )
    with services.sessions() as s:
        states = {r.step_key: (r.state.value, r.reason) for r in s.scalars(select(Reminder))}
        message = s.get(Message, message_id)
    assert states["reminder_1"] == ("cancelled", "invoice paid")
    assert message is not None and message.state is MessageState.CANCELLED
    # And no later tick ever reminds a paid invoice.
    assert dunning_runner(services, transport=outbox).tick(now + timedelta(days=20)).counts() == {}
