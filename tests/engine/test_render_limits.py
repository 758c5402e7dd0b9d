"""Rendering happens outside every transaction, and an owner template that would run forever or
eat the machine fails its own message (with a task for the owner), never the tick: on SQLite and
PostgreSQL, with the real renderer processes."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from connector.dunning.context import ReminderContext
from connector.dunning.rendering import ReminderRenderer, RenderedMessage
from connector.dunning.runner import DunningRunner, RunnerOptions
from connector.ledger import lock_invoice, set_state
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import (
    Message,
    MessageState,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    Task,
    TaskKind,
)
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)  # Wednesday
NOW = paris(date(2026, 6, 11))  # reminder_1 goes out (the courtesy step is skipped)

#: What the failed message must say, per bomb: the limit it broke.
LIMIT_BROKEN = {
    "nested-loops": ("s of CPU", "rendering took longer than"),
    "replace-chain": ("MB of memory", "too much memory"),
}
BOMBS = {
    # Ten billion loop turns that print nothing: no output cap ever trips.
    "nested-loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    ),
    # A thousand characters, each replaced by the thousand, twice: a billion characters.
    "replace-chain": '{% set s = "x" * 1000 %}{{ s.replace("x", s).replace("x", s) }}',
}


def bomb_template(body: str) -> str:
    return (
        "{% block subject %}Facture {{ ctx.invoice_numbers }} – {{ shop.name }}{% endblock %}"
        "{% block body %}Bonjour {{ customer.name }},\n" + body + "{% endblock %}"
    )


def runner_with(services: Services, renderer: ReminderRenderer) -> DunningRunner:
    return DunningRunner(
        services.sessions,
        OutboxTransport(services.settings.outbox_dir),
        RunnerOptions(letters_dir=services.settings.letters_dir),
        renderer=renderer,
    )


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_template_bomb_fails_its_message_and_the_tick_sends_the_rest(
    services: Services, shop: Shop, bomb: str
) -> None:
    # The owner's French first reminder is a bomb; English customers, here and in another
    # shop, get the shipped template.
    add_invoices(
        services,
        shop,
        [
            normalized("F-FR", email="fr@client.example", due_on=DUE, locale="fr"),
            normalized("F-EN", email="en@client.example", due_on=DUE, locale="en"),
        ],
    )
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Maison Martin", email="compta@martin.example")
    add_invoices(
        services, other, [normalized("M-EN", email="en@martin.example", due_on=DUE, locale="en")]
    )
    renderer = ReminderRenderer({"fr/reminder_1": bomb_template(BOMBS[bomb])})

    report = runner_with(services, renderer).tick(NOW)

    assert report.counts().get("sent") == 2 and report.counts().get("failed") == 1
    sent = outbox_messages(services)
    assert sorted(str(m["invoices"]) for m in sent) == ["['F-EN']", "['M-EN']"]
    failed = invoice_by_number(services, "F-FR")
    with services.sessions() as s:
        rem = s.scalar(
            select(Reminder).where(
                Reminder.invoice_id == failed.id, Reminder.step_key == "reminder_1"
            )
        )
        assert rem is not None and rem.state is ReminderState.FAILED
        msg = s.get(Message, rem.message_id)
        assert msg is not None and msg.state is MessageState.FAILED
        assert msg.body_text is None  # never SENDING, nothing went out
        reason = msg.last_error or ""
        assert any(limit in reason for limit in LIMIT_BROKEN[bomb]), reason
        assert "fr/reminder_1" in reason
        task = s.scalar(select(Task).where(Task.kind == TaskKind.SEND_FAILED))
        assert task is not None and task.shop_id == shop.id and task.detail == reason


class ProbingRenderer(ReminderRenderer):
    """While it renders, another connection tries to take the write lock / the invoice's row
    lock without waiting."""

    def __init__(self, services: Services, invoice_id: int) -> None:
        super().__init__()
        self.services = services
        self.invoice_id = invoice_id
        self.probes: list[str] = []

    def render(self, ctx: ReminderContext) -> RenderedMessage:
        url = make_url(self.services.settings.database_url)
        try:
            if url.get_backend_name() == "sqlite":
                assert url.database is not None
                conn = sqlite3.connect(url.database, timeout=0, isolation_level=None)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                conn.close()
            else:
                with self.services.engine.connect() as c:
                    c.execute(
                        text("SELECT id FROM invoice WHERE id = :id FOR UPDATE NOWAIT"),
                        {"id": self.invoice_id},
                    )
                    c.rollback()
            self.probes.append("free")
        except Exception as exc:
            self.probes.append(f"locked: {exc}")
        return super().render(ctx)


def test_nothing_is_locked_while_a_message_renders(services: Services, shop: Shop) -> None:
    add_invoices(services, shop, [normalized("F-1", email="a@client.example", due_on=DUE)])
    renderer = ProbingRenderer(services, invoice_by_number(services, "F-1").id)

    assert runner_with(services, renderer).tick(NOW).counts().get("sent") == 1
    assert renderer.probes == ["free"]


class PayingRenderer(ReminderRenderer):
    """The customer pays (all, or part) while the first render runs, from another thread."""

    def __init__(self, services: Services, number: str, amount_due_minor: int) -> None:
        super().__init__()
        self.services = services
        self.number = number
        self.amount_due_minor = amount_due_minor
        self.renders = 0
        self.paid = threading.Event()

    def render(self, ctx: ReminderContext) -> RenderedMessage:
        self.renders += 1
        if self.renders == 1:
            payer = threading.Thread(target=self.pay)
            payer.start()
            payer.join(timeout=20)  # a payment blocked by our own render would never finish
        return super().render(ctx)

    def pay(self) -> None:
        inv = invoice_by_number(self.services, self.number)
        with write_session(self.services.sessions) as s:
            locked = lock_invoice(s, inv.id)
            assert locked is not None
            set_state(
                s,
                locked,
                status=InvoiceStatus.PAID
                if self.amount_due_minor == 0
                else InvoiceStatus.PARTIALLY_PAID,
                amount_due_minor=self.amount_due_minor,
                now=NOW,
                source=PaymentSource.WEBHOOK,
                payment_external_id="evt_during_render",
            )
        self.paid.set()


def test_a_payment_while_the_message_renders_cancels_it(services: Services, shop: Shop) -> None:
    add_invoices(services, shop, [normalized("F-2", email="b@client.example", due_on=DUE)])
    renderer = PayingRenderer(services, "F-2", 0)

    report = runner_with(services, renderer).tick(NOW)

    assert renderer.paid.is_set()
    assert outbox_messages(services) == []
    assert report.counts().get("sent") is None
    inv = invoice_by_number(services, "F-2")
    with services.sessions() as s:
        rem = s.scalar(
            select(Reminder).where(Reminder.invoice_id == inv.id, Reminder.step_key == "reminder_1")
        )
        assert rem is not None and rem.state is ReminderState.CANCELLED
        msg = s.get(Message, rem.message_id)
        assert msg is not None and msg.state is MessageState.CANCELLED


def test_an_amount_that_changes_while_rendering_is_rendered_again(
    services: Services, shop: Shop
) -> None:
    add_invoices(
        services, shop, [normalized("F-3", email="c@client.example", due_on=DUE, amount="120.00")]
    )
    renderer = PayingRenderer(services, "F-3", 5_000)  # 70.00 paid: 50.00 still due

    assert runner_with(services, renderer).tick(NOW).counts().get("sent") == 1

    assert renderer.paid.is_set() and renderer.renders == 2
    [mail] = outbox_messages(services)
    assert "50,00" in str(mail["text"]) and "120,00" not in str(mail["text"])
