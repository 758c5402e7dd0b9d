"""An invoice's timeline: what happened, in order, read from where each fact lives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from connector.actions.timeline import InvoiceNotFound, TimelineKind, invoice_timeline
from connector.dunning.runner import DunningRunner
from connector.ledger import lock_invoice, set_state
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import PaymentSource, Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)
NOW = paris(date(2026, 6, 11), 10)


def test_sent_reminder_payment_and_skips_in_order(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    make_runner().tick(NOW)
    inv = invoice_by_number(services, "F-1")
    paid_at = NOW + timedelta(hours=2)
    with write_session(services.sessions) as s:
        locked = lock_invoice(s, inv.id)
        assert locked is not None
        set_state(
            s,
            locked,
            status=InvoiceStatus.PAID,
            amount_due_minor=0,
            now=paid_at,
            source=PaymentSource.WEBHOOK,
            payment_external_id="pi_1",
        )

    with services.sessions() as s:
        entries = invoice_timeline(s, shop.id, inv.id)

    kinds = [e.kind for e in entries]
    assert kinds[0] is TimelineKind.SYNC
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    skipped = [e for e in entries if e.kind is TimelineKind.SKIPPED]
    assert [e.detail["step"] for e in skipped] == ["courtesy"]
    assert skipped[0].detail["reason"]
    (sent,) = [e for e in entries if e.kind is TimelineKind.MESSAGE]
    assert sent.detail["step"] == "reminder_1"
    assert sent.detail["state"] == "sent"
    assert sent.detail["recipient"] == "marie@client.example"
    assert "F-1" in sent.detail["subject"]
    assert sent.detail["text"] and "F-1" in sent.detail["text"]
    assert sent.detail["html"]
    (payment,) = [e for e in entries if e.kind is TimelineKind.PAYMENT]
    assert payment.detail == {
        "amount_minor": 12000,
        "currency": "EUR",
        "source": "webhook",
        "external_id": "pi_1",
    }
    assert payment.at == paid_at
    assert kinds.index(TimelineKind.MESSAGE) < kinds.index(TimelineKind.PAYMENT)
    assert all(e.at.tzinfo is not None for e in entries)


def test_another_shops_invoice_is_not_found(services: Services, shop: Shop) -> None:
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "F-1")
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Autre", email="autre@shop.example")
        other_id = other.id
    with services.sessions() as s, pytest.raises(InvoiceNotFound):
        invoice_timeline(s, other_id, inv.id)
