"""The worker's chunks apply payments set-based (``connector.webhooks.batch``): a chunk mixing
full, partial and repeated payments, a refund, a void, a late older state, a new invoice, a
dispute, claimed and sent reminders must end exactly where applying each delivery on its own
ends — in a fraction of the statements. Two shops receive the same deliveries: one shop's are
applied one by one (``apply_stored``), the other's in one chunk (``apply_pending``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from connector.config import Settings
from connector.dunning.claims import Claimer, due_customer_ids
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import (
    Invoice,
    Message,
    Payment,
    Reminder,
    ReminderState,
    Shop,
    TimelineEntry,
    WebhookEvent,
    WebhookOutcome,
)
from connector.webhooks.apply import apply_pending, apply_stored
from connector.webhooks.intake import WebhookIntake
from connector.webhooks.registry import AdapterRegistry
from connector.webhooks.store import NewEvent, store_events
from tests.support.builders import paris
from tests.support.statements import counting
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_dispute_event,
    stripe_headers,
    stripe_invoice_event,
    stripe_refund_event,
)

T0 = int(time.time()) - 3600
TICK = paris(date(2026, 6, 11))  # the day after the invoices fell due: reminders are claimed


@pytest.fixture
def svc(env: dict[str, str]) -> Iterator[Services]:
    services = Services.build(Settings.from_env({**env, "RELANCE_WEBHOOK_APPLY": "worker"}))
    yield services
    services.close()


def _invoice_body(
    event_id: str,
    invoice_id: str,
    at: int,
    *,
    kind: str = "invoice.paid",
    status: str = "paid",
    paid: int = 10800,
    before: int | None = None,
) -> bytes:
    """A Stripe invoice event: ``paid`` cents paid so far (of 108.00), ``before`` what was paid
    before this payment (``previous_attributes``), the PaymentIntent named after the invoice."""
    event = json.loads(stripe_invoice_event(event_id, invoice_id, created=at, kind=kind))
    obj = event["data"]["object"]
    obj.update(
        status=status,
        amount_paid=paid,
        amount_remaining=10800 - paid if status in ("open", "void") else 0,
        payment_intent=f"pi_{invoice_id}",
    )
    if status == "void":
        obj["status_transitions"]["voided_at"] = at
        obj["status_transitions"]["paid_at"] = None
    if before is not None:
        event["data"]["previous_attributes"] = {"amount_paid": before}
    return json.dumps(event).encode()


def _deliveries() -> list[bytes]:
    """In arrival order; every kind of move the apply knows, several on one invoice."""
    return [
        _invoice_body("evt_1", "in_1", T0 + 1),  # paid in full: its claimed reminder cancelled
        _invoice_body(
            "evt_2a", "in_2", T0 + 2, kind="invoice.payment_succeeded", status="open", paid=5000
        ),  # partially paid: re-planned
        _invoice_body("evt_2b", "in_2", T0 + 3, before=5000),  # the rest, same PaymentIntent
        _invoice_body("evt_3", "in_3", T0 + 4),
        stripe_refund_event("evt_3r", "in_3", created=T0 + 5),  # refunded: not a payment
        _invoice_body("evt_4v", "in_4", T0 + 7, kind="invoice.voided", status="void", paid=0),
        _invoice_body("evt_4p", "in_4", T0 + 6),  # an older state arriving late: ignored
        _invoice_body(  # an invoice the store has never seen: created (row by row)
            "evt_9a", "in_9", T0 + 8, kind="invoice.finalized", status="open", paid=0
        ),
        _invoice_body("evt_9b", "in_9", T0 + 9),  # …and paid in the same chunk
        _invoice_body("evt_5", "in_5", T0 + 10),
        stripe_dispute_event("evt_5d", "in_5", created=T0 + 11),  # names the payment only
        _invoice_body("evt_7", "in_7", T0 + 12),  # chased: thank-you recorded
        _invoice_body("evt_8", "in_8", T0 + 13, kind="invoice.voided", status="void", paid=0),
    ]


def _world(svc: Services, name: str) -> tuple[int, int]:
    """A shop wanting thank-yous, its Stripe connection and its open invoices."""
    with write_session(svc.sessions) as s:
        shop = create_shop(s, name=name, email=f"owner@{name}.example")
        shop.thank_you_enabled = True
        shop_id = shop.id
    conn_id = stripe_connection(svc, shop_id)
    invoices = [
        open_invoice(f"in_{n}", email=f"client{n}@{name}.example") for n in (1, 2, 3, 4, 5, 7, 8)
    ]
    seed_invoices(svc, shop_id, conn_id, invoices)
    return shop_id, conn_id


def _claim_and_send_one(svc: Services) -> None:
    """A tick claims the due reminders of both shops; in_7's went out (it is chased)."""
    with write_session(svc.sessions) as s:
        ids = due_customer_ids(s, TICK, 100, skip_locked=False)
        claimer = Claimer(s, worker="w", lease_until=TICK + timedelta(minutes=5))
        assert claimer.claim_customers(ids, TICK, skip_locked=False).message_ids
        chased = select(Invoice.id).where(Invoice.external_id == "in_7")
        s.execute(
            update(Reminder)
            .where(Reminder.invoice_id.in_(chased.scalar_subquery()))
            .values(state=ReminderState.SENT)
        )


def _store(svc: Services, conn_id: int) -> list[int]:
    intake = WebhookIntake(svc)
    ids = []
    for body in _deliveries():
        result = intake.receive("stripe", conn_id, stripe_headers(body), body)
        assert result.status == 200 and len(result.stored) == 1, result
        ids.append(result.stored[0])
    return ids


def _state(svc: Services, shop_id: int) -> dict[str, Any]:
    """Everything the apply writes, per invoice external id, ids and clocks left out."""
    with svc.sessions() as s:
        invoices = s.scalars(select(Invoice).where(Invoice.shop_id == shop_id)).all()
        by_id = {inv.id: inv.external_id for inv in invoices}
        state: dict[str, Any] = {
            inv.external_id: {
                "invoice": (
                    inv.status,
                    inv.amount_due_minor,
                    inv.total_minor,
                    inv.due_at,
                    inv.next_action_at,
                    inv.platform_updated_at,
                    inv.pause_reason,
                    inv.payment_url,
                ),
                "payments": [],
                "reminders": [],
                "timeline": [],
                "messages": [],
            }
            for inv in invoices
        }
        for p in s.scalars(select(Payment).where(Payment.shop_id == shop_id).order_by(Payment.id)):
            state[by_id[p.invoice_id]]["payments"].append(
                (p.amount_minor, p.currency, p.external_id, p.source, p.received_at)
            )
        for r in s.scalars(
            select(Reminder).where(Reminder.shop_id == shop_id).order_by(Reminder.id)
        ):
            state[by_id[r.invoice_id]]["reminders"].append((r.step_key, r.state, r.reason))
        for t in s.scalars(
            select(TimelineEntry).where(TimelineEntry.shop_id == shop_id).order_by(TimelineEntry.id)
        ):
            state[by_id[t.invoice_id]]["timeline"].append((t.kind, t.summary, t.data))
        for m in s.scalars(
            select(Message)
            .where(Message.shop_id == shop_id, Message.invoice_id.is_not(None))
            .order_by(Message.id)
        ):
            assert m.invoice_id is not None
            state[by_id[m.invoice_id]]["messages"].append((m.kind, m.state, m.local_day))
        events = s.execute(
            select(WebhookEvent.dedupe_key, WebhookEvent.outcome, WebhookEvent.attempts)
            .join(Shop, Shop.id == WebhookEvent.shop_id)
            .where(Shop.id == shop_id)
        ).all()
        state["events"] = sorted(tuple(e) for e in events)
    return state


def test_a_mixed_chunk_ends_where_one_by_one_application_ends(svc: Services) -> None:
    alone_shop, alone_conn = _world(svc, "alone")
    chunk_shop, chunk_conn = _world(svc, "chunk")
    _claim_and_send_one(svc)
    alone_ids = _store(svc, alone_conn)
    chunk_ids = _store(svc, chunk_conn)
    now = datetime.now(UTC)

    registry = AdapterRegistry()
    with counting(svc.engine) as one_by_one:
        for event_id in alone_ids:
            apply_stored(svc, registry, event_id, now)
    with counting(svc.engine) as chunk:
        assert apply_pending(svc, now) == len(chunk_ids)

    alone, chunked = _state(svc, alone_shop), _state(svc, chunk_shop)
    assert chunked == alone
    # What the chunk did, spelled out (the comparison alone would pass if both were wrong).
    assert (ReminderState.CANCELLED, "invoice paid") in [r[1:] for r in alone["in_1"]["reminders"]]
    assert any(t[1] == "1 pending: invoice paid" for t in alone["in_1"]["timeline"])
    assert [p[2] for p in alone["in_2"]["payments"]] == ["pi_in_2", "pi_in_2#2"]
    assert [p[0] for p in alone["in_2"]["payments"]] == [5000, 5800]
    assert alone["in_3"]["invoice"][0].value == "refunded" and len(alone["in_3"]["payments"]) == 1
    assert alone["in_4"]["invoice"][0].value == "void" and alone["in_4"]["payments"] == []
    assert alone["in_9"]["invoice"][0].value == "paid"
    assert alone["in_5"]["invoice"][6] == "dispute"
    assert [m[0].value for m in alone["in_7"]["messages"]] == ["thank_you"]
    outcomes = {key: outcome for key, outcome, _ in alone["events"]}
    assert outcomes["evt_4p"] is WebhookOutcome.IGNORED
    assert set(outcomes.values()) == {WebhookOutcome.APPLIED, WebhookOutcome.IGNORED}
    # The chunk: its row-by-row moves (new invoice, dispute) aside, a few statements in all.
    assert chunk.commits <= 3, chunk.texts
    assert chunk.statements * 2 <= one_by_one.statements, (chunk.statements, chunk.texts)


def test_a_bad_delivery_in_a_chunk_fails_alone_and_the_rest_apply(svc: Services) -> None:
    shop_id, conn_id = _world(svc, "shop")
    good = _store(svc, conn_id)[:3]
    bad = _deliveries()[0][:-40]  # cut short: not JSON any more
    now = datetime.now(UTC)
    stored = store_events(
        svc.engine,
        [
            NewEvent(
                scope=f"stripe:{conn_id}",
                platform="stripe",
                dedupe_key="evt_bad",
                topic="invoice.paid",
                raw_body=bad,
                headers={},
                received_at=now,
                shop_id=shop_id,
                connection_id=conn_id,
            )
        ],
    )
    apply_pending(svc, now)
    with svc.sessions() as s:
        row = s.get(WebhookEvent, stored["evt_bad"])
        assert row is not None
        assert row.outcome is WebhookOutcome.FAILED and row.attempts == 1
        assert "JSON" in (row.last_error or "")
        outcomes = {
            s.get(WebhookEvent, event_id).outcome  # type: ignore[union-attr]
            for event_id in good
        }
    assert outcomes == {WebhookOutcome.APPLIED}


def test_a_chunk_that_renumbers_an_invoice_keeps_its_search_key(svc: Services) -> None:
    """The owner's search reads the folded number (``number_key``): an invoice renumbered by a
    delivery applied in a chunk is found by its new number."""
    shop_id, conn_id = _world(svc, "renumbered")
    event = json.loads(
        _invoice_body(
            "evt_r", "in_2", T0 + 1, kind="invoice.payment_succeeded", status="open", paid=5000
        )
    )
    event["data"]["object"]["number"] = "FACTURE-ÉTÉ-2"
    body = json.dumps(event).encode()
    assert WebhookIntake(svc).receive("stripe", conn_id, stripe_headers(body), body).status == 200
    assert apply_pending(svc, datetime.now(UTC)) == 1
    with svc.sessions() as s:
        inv = s.scalar(
            select(Invoice).where(Invoice.shop_id == shop_id, Invoice.external_id == "in_2")
        )
        assert inv is not None
        assert (inv.number, inv.number_key, inv.amount_due_minor) == (
            "FACTURE-ÉTÉ-2",
            "facture-ete-2",
            5800,
        )
