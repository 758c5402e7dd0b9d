"""A statement step (issue 12) on SQLite and PostgreSQL: when it falls due, the customer gets one
statement of account listing every open invoice with the total — once a day, never after
payment — and each invoice it covers says so on its timeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.actions.send_now import send_now
from connector.actions.sequences import StepInput, update_step
from connector.actions.statement import StatementError, send_statement
from connector.actions.timeline import TimelineKind as ShownKind
from connector.actions.timeline import invoice_timeline
from connector.dunning.claims import Claimer, due_customer_ids
from connector.dunning.dry_run import dry_run
from connector.dunning.runner import DunningRunner
from connector.dunning.sequence import ensure_default_sequence
from connector.dunning.statement_step import _prepare, deliver_statement
from connector.ledger import lock_invoice, set_state
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageKind,
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
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

DUE = date(2026, 6, 10)  # Wednesday
STEP_DAY = paris(date(2026, 6, 11))  # D+1, 10:00: the statement step falls due
LEA = "lea@client.example"


@pytest.fixture
def statement_step(services: Services, shop: Shop) -> int:
    """The default sequence's D+1 step turned into a statement step, through the action the
    sequences page and the CLI use."""
    with write_session(services.sessions) as s:
        row = s.merge(shop)
        seq = ensure_default_sequence(s, row)
        step_id = next(st.id for st in seq.steps if st.key == "reminder_1")
    view = update_step(
        services, shop.id, step_id, StepInput(offset_days=1, tone="polite", content="statement")
    )
    assert view.content == "statement"
    return step_id


def three_invoices(services: Services, shop: Shop) -> int:
    add_invoices(
        services,
        shop,
        [
            normalized(n, email=LEA, name="Léa Dubois", amount=a, due_on=DUE, customer_id="lea")
            for n, a in (("F-1", "120.00"), ("F-2", "80.50"), ("F-3", "42.25"))
        ],
    )
    with services.sessions() as s:
        cid = s.scalar(select(Customer.id).where(Customer.external_id == "lea"))
        assert cid is not None
        return cid


def statements(services: Services) -> list[Message]:
    with services.sessions() as s:
        return list(
            s.scalars(
                select(Message).where(Message.kind == MessageKind.STATEMENT).order_by(Message.id)
            )
        )


def step_reminders(services: Services, step_id: int) -> dict[str, Reminder]:
    """The reminders of the statement step, by invoice number."""
    with services.sessions() as s:
        rows = s.execute(
            select(Invoice.number, Reminder)
            .join(Invoice, Invoice.id == Reminder.invoice_id)
            .where(Reminder.step_id == step_id)
        ).tuples()
        return dict(rows.all())


def shown_statements(services: Services, shop: Shop, number: str) -> list[dict[str, object]]:
    """What the owner's timeline of ``number`` shows of statements of account."""
    inv = invoice_by_number(services, number)
    with services.sessions() as s:
        return [
            e.detail
            for e in invoice_timeline(s, shop.id, inv.id)
            if e.kind is ShownKind.MESSAGE and e.detail.get("event") == "statement_sent"
        ]


def test_three_open_invoices_hitting_the_step_get_one_statement_once(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    three_invoices(services, shop)
    runner = make_runner()
    report = runner.tick(STEP_DAY)
    assert report.counts() == {"sent": 3, "skipped": 3}  # the courtesy step had passed
    [mail] = outbox_messages(services)
    assert mail["to"] == LEA
    assert mail["subject"] == "Relevé de compte — Atelier Dupont SARL"
    text = str(mail["text"])
    for line in (
        "– facture F-1, échue le 10 juin 2026 : 120,00\xa0€",
        "– facture F-2, échue le 10 juin 2026 : 80,50\xa0€",
        "– facture F-3, échue le 10 juin 2026 : 42,25\xa0€",
        "Total restant dû : 242,75\xa0€",
    ):
        assert line in text, text
    [msg] = statements(services)
    assert msg.state is MessageState.SENT and msg.body_text == text and msg.recipient == LEA
    rems = step_reminders(services, statement_step)
    assert sorted(rems) == ["F-1", "F-2", "F-3"]
    for number, rem in rems.items():
        assert rem.state is ReminderState.SENT and rem.message_id == msg.id, number
        assert rem.body_text == text and rem.sent_at is not None
        [shown] = shown_statements(services, shop, number)
        assert shown["message_id"] == msg.id and shown["state"] == "sent"

    again = runner.tick(STEP_DAY + timedelta(hours=5))
    assert again.counts() == {}
    tomorrow = runner.tick(STEP_DAY + timedelta(days=1))
    assert tomorrow.counts() == {}
    assert len(outbox_messages(services)) == 1 and len(statements(services)) == 1


def test_a_payment_webhook_before_the_tick_keeps_that_invoice_off_the_statement(
    services: Services,
    shop: Shop,
    client: FlaskClient,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(
        services, shop.id, conn_id, [open_invoice(n, email=LEA) for n in ("in_1", "in_2", "in_3")]
    )
    body = stripe_invoice_event("evt_pay_in_2", "in_2", created=int(time.time()))
    resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
    assert resp.status_code == 200, resp.get_json()
    assert invoice_by_number(services, "in_2").status is InvoiceStatus.PAID

    make_runner().tick(STEP_DAY)
    [mail] = outbox_messages(services)
    text = str(mail["text"])
    assert "in_1" in text and "in_3" in text and "in_2" not in text
    assert "Total restant dû : 216,00\xa0$US" in text, text
    assert shown_statements(services, shop, "in_2") == []
    assert len(shown_statements(services, shop, "in_1")) == 1


def _claim(services: Services) -> None:
    with write_session(services.sessions) as s:
        ids = due_customer_ids(s, STEP_DAY, 10, skip_locked=False)
        Claimer(s, worker="w", lease_until=STEP_DAY + timedelta(minutes=5)).claim_customers(
            ids, STEP_DAY, skip_locked=False
        )


def _pay(services: Services, number: str) -> None:
    """What a payment webhook does to the ledger, under the invoice lock."""
    inv_id = invoice_by_number(services, number).id
    with write_session(services.sessions) as s:
        inv = lock_invoice(s, inv_id)
        assert inv is not None
        set_state(
            s,
            inv,
            status=InvoiceStatus.PAID,
            amount_due_minor=0,
            now=STEP_DAY,
            source=PaymentSource.WEBHOOK,
            payment_external_id=f"evt_{number}",
        )


@pytest.fixture
def claimed(services: Services, shop: Shop, statement_step: int) -> Message:
    """Léa's three invoices at the statement step, her statement claimed by worker "w" (leased
    until STEP_DAY + 5 min), not sent yet."""
    three_invoices(services, shop)
    _claim(services)
    [message] = statements(services)
    return message


def test_paid_between_the_claim_and_the_send_is_not_listed_and_all_paid_sends_nothing(
    services: Services,
    shop: Shop,
    statement_step: int,
    claimed: Message,
    make_runner: Callable[..., DunningRunner],
) -> None:
    assert claimed.state is MessageState.CLAIMED
    _pay(services, "F-2")
    deliverer = make_runner().deliverer("w")
    outcomes = deliver_statement(deliverer, claimed.id, STEP_DAY)
    assert sorted(o.outcome for o in outcomes) == ["sent", "sent"]
    [mail] = outbox_messages(services)
    assert "F-2" not in str(mail["text"]) and "Total restant dû : 162,25\xa0€" in str(mail["text"])
    rems = step_reminders(services, statement_step)
    assert rems["F-2"].state is ReminderState.CANCELLED  # the payment's own cancellation
    assert shown_statements(services, shop, "F-2") == []


def test_everything_paid_after_the_claim_sends_nothing(
    services: Services,
    shop: Shop,
    statement_step: int,
    claimed: Message,
    make_runner: Callable[..., DunningRunner],
) -> None:
    for number in ("F-1", "F-2", "F-3"):
        _pay(services, number)
    assert deliver_statement(make_runner().deliverer("w"), claimed.id, STEP_DAY) == []
    assert outbox_messages(services) == []
    [settled] = statements(services)
    assert settled.state is MessageState.CANCELLED
    states = {r.state for r in step_reminders(services, statement_step).values()}
    assert states == {ReminderState.CANCELLED}


def test_a_statement_sent_on_request_that_day_covers_the_step(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    """One statement a day, whoever asks: the owner's statement of the morning listed the
    three invoices, so their statement step is recorded as covered by it (that message, its
    evidence, when it went) and nothing is sent again."""
    customer_id = three_invoices(services, shop)
    morning = STEP_DAY - timedelta(minutes=30)
    sent = send_statement(services, shop.id, customer_id, actor="owner@dupont.example", now=morning)
    assert sent.state is MessageState.SENT and sent.invoices == 3

    report = make_runner().tick(STEP_DAY)
    assert report.counts() == {"sent": 3, "skipped": 3}
    assert len(outbox_messages(services)) == 1  # the owner's statement only
    [msg] = statements(services)
    for number, rem in step_reminders(services, statement_step).items():
        assert rem.state is ReminderState.SENT and rem.message_id == msg.id, number
        assert rem.sent_at == morning and rem.body_text == msg.body_text
        assert rem.reason == "covered by the statement of account sent earlier today"
        [shown] = shown_statements(services, shop, number)  # the owner's, not a second one
        assert shown["message_id"] == msg.id


def test_the_step_then_a_request_the_same_day_is_refused(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    customer_id = three_invoices(services, shop)
    make_runner().tick(STEP_DAY)
    with pytest.raises(StatementError, match="already sent to this customer today"):
        send_statement(services, shop.id, customer_id, actor="owner@dupont.example", now=STEP_DAY)
    assert len(outbox_messages(services)) == 1


def test_a_request_that_did_not_list_the_invoice_makes_the_step_wait_for_tomorrow(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    """The owner's statement of the morning predates the invoice: it covers nothing for it,
    and a second statement the same day is not allowed, so the step goes out the next day."""
    add_invoices(
        services,
        shop,
        [normalized("F-1", email=LEA, amount="120.00", due_on=DUE, customer_id="lea")],
    )
    with services.sessions() as s:
        customer_id = s.scalar(select(Customer.id).where(Customer.external_id == "lea"))
        assert customer_id is not None
    send_statement(
        services, shop.id, customer_id, actor="o@dupont.example", now=STEP_DAY - timedelta(hours=1)
    )
    add_invoices(
        services,
        shop,
        [normalized("F-9", email=LEA, amount="10.00", due_on=DUE, customer_id="lea")],
    )
    runner = make_runner()
    report = runner.tick(STEP_DAY)
    by_invoice = {o.invoice: o.outcome for o in report.outcomes if o.step == "reminder_1"}
    assert by_invoice == {"F-1": "sent", "F-9": "waiting"}
    assert len(outbox_messages(services)) == 1
    runner.tick(STEP_DAY + timedelta(days=1))
    assert len(statements(services)) == 2
    rems = step_reminders(services, statement_step)
    assert (
        rems["F-9"].state is ReminderState.SENT and rems["F-9"].message_id != rems["F-1"].message_id
    )


def test_the_owner_sends_the_statement_step_now_and_the_tick_counts_it(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    """Send-now of a statement step sends the statement (not a reminder), through the same
    sender; the other invoices' statement steps that day are covered by it."""
    three_invoices(services, shop)
    f1 = invoice_by_number(services, "F-1")
    result = send_now(services, shop.id, f1.id, actor="owner@dupont.example", now=STEP_DAY)
    assert result.detail["outcome"] == "sent"
    [mail] = outbox_messages(services)
    assert str(mail["subject"]).startswith("Relevé de compte")
    assert "Total restant dû : 242,75\xa0€" in str(mail["text"])
    [msg] = statements(services)
    make_runner().tick(STEP_DAY + timedelta(minutes=5))
    assert len(outbox_messages(services)) == 1
    rems = step_reminders(services, statement_step)
    assert {n: (r.state, r.message_id) for n, r in rems.items()} == {
        n: (ReminderState.SENT, msg.id) for n in ("F-1", "F-2", "F-3")
    }


def test_the_dry_run_shows_the_statement_that_would_go(
    services: Services, shop: Shop, statement_step: int
) -> None:
    three_invoices(services, shop)
    report = dry_run(services.sessions, STEP_DAY, shop_id=shop.id)
    [planned] = report.messages
    assert planned.recipient == LEA and str(planned.subject).startswith("Relevé de compte")
    assert [(i.invoice, i.step) for i in planned.items] == [
        ("F-1", "reminder_1"),
        ("F-2", "reminder_1"),
        ("F-3", "reminder_1"),
    ]
    assert "Total restant dû : 242,75\xa0€" in str(planned.text)
    assert statements(services) == []  # nothing kept


def test_a_statement_claimed_by_a_dead_worker_is_taken_over_and_sent_once(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    """Claimed, then the worker died before the mail call: its lease runs out, the next tick
    takes the statement over (the mail API was never called) and sends it, once."""
    three_invoices(services, shop)
    _claim(services)  # leased until STEP_DAY + 5 min, long past on the real clock
    runner = make_runner()
    runner.tick(STEP_DAY + timedelta(minutes=10))
    runner.tick(STEP_DAY + timedelta(minutes=20))
    [mail] = outbox_messages(services)
    assert "Total restant dû : 242,75\xa0€" in str(mail["text"])
    [msg] = statements(services)
    assert msg.state is MessageState.SENT and msg.lease_owner != "w"


def test_a_worker_dead_while_sending_leaves_the_statement_unknown_never_resent(
    services: Services,
    shop: Shop,
    statement_step: int,
    claimed: Message,
    make_runner: Callable[..., DunningRunner],
) -> None:
    runner = make_runner()
    assert _prepare(runner.deliverer("w"), claimed.id, STEP_DAY, [], check_waiting=False)
    with write_session(services.sessions) as s:  # the worker is gone: its send lease ran out
        row = s.get(Message, claimed.id)
        assert row is not None and row.state is MessageState.SENDING
        row.lease_until = STEP_DAY
    runner.tick(STEP_DAY + timedelta(minutes=10))
    runner.tick(STEP_DAY + timedelta(hours=2))
    assert outbox_messages(services) == []
    [msg] = statements(services)
    assert msg.state is MessageState.UNKNOWN
    states = {r.state for r in step_reminders(services, statement_step).values()}
    assert states == {ReminderState.UNKNOWN}
    with services.sessions() as s:
        kinds = s.scalars(select(Task.kind).where(Task.customer_id == msg.customer_id)).all()
    assert TaskKind.UNKNOWN_OUTCOME in kinds


@pytest.mark.parametrize("first", ["statement", "reminder"])
def test_a_reminder_and_a_statement_step_due_in_one_tick_send_one_email_that_day(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
    first: str,
) -> None:
    """Léa's F-1 reaches the statement step (D+1) and her F-2, due a week earlier, reminder_2
    (D+7), in the same tick, whichever invoice the tick reads first: one email that day — the
    reminder, the most urgent step, with its own wording; the statement waits for the next day
    (and then lists F-2 too). One email per customer per day, inside a tick as across ticks."""
    invoices = {
        "statement": normalized("F-1", email=LEA, amount="120.00", due_on=DUE, customer_id="lea"),
        "reminder": normalized(
            "F-2", email=LEA, amount="80.50", due_on=DUE - timedelta(days=6), customer_id="lea"
        ),
    }
    second = "reminder" if first == "statement" else "statement"
    add_invoices(services, shop, [invoices[first], invoices[second]])
    runner = make_runner()
    report = runner.tick(STEP_DAY)
    [mail] = outbox_messages(services)
    assert mail["step"] == "reminder_2" and "F-2" in str(mail["subject"])
    assert statements(services) == []
    (waiting,) = [o for o in report.outcomes if o.invoice == "F-1" and o.step == "reminder_1"]
    assert waiting.outcome == "waiting" and "reminder" in waiting.reason
    assert runner.tick(STEP_DAY + timedelta(hours=4)).counts() == {}  # still one that day

    runner.tick(STEP_DAY + timedelta(days=1))
    mails = outbox_messages(services)
    assert len(mails) == 2 and str(mails[1]["subject"]).startswith("Relevé de compte")
    assert "F-2" in str(mails[1]["text"])
    [msg] = statements(services)
    assert step_reminders(services, statement_step)["F-1"].message_id == msg.id


def test_a_statement_step_then_a_reminder_step_later_that_day_waits_for_tomorrow(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    """The statement step went out at 10:00; F-2, synced at 11:00, is due its reminder_2: it
    goes the next day, not as a second email today."""
    add_invoices(
        services,
        shop,
        [normalized("F-1", email=LEA, amount="120.00", due_on=DUE, customer_id="lea")],
    )
    runner = make_runner()
    runner.tick(STEP_DAY)
    assert len(statements(services)) == 1
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-2", email=LEA, amount="80.50", due_on=DUE - timedelta(days=6), customer_id="lea"
            )
        ],
    )
    runner.tick(STEP_DAY + timedelta(hours=2))
    assert len(outbox_messages(services)) == 1
    runner.tick(STEP_DAY + timedelta(days=1))
    mails = outbox_messages(services)
    assert [m["step"] for m in mails][1:] == ["reminder_2"]


def test_the_hand_off_after_n_reminders_counts_reminders_not_statements(
    services: Services,
    shop: Shop,
    statement_step: int,
    make_runner: Callable[..., DunningRunner],
) -> None:
    """The shop hands over after 2 reminders without payment. The statement of account (D+1)
    is not a reminder: reminder_2 (D+7) and reminder_3 (D+14) go out, and the hand-off comes
    after them, saying truly "2 reminders sent"."""
    with write_session(services.sessions) as s:
        s.merge(shop).escalate_after_reminders = 2
    add_invoices(
        services,
        shop,
        [normalized("F-1", email=LEA, amount="120.00", due_on=DUE, customer_id="lea")],
    )
    runner = make_runner()
    for offset in (1, 7, 14, 21):
        runner.tick(paris(DUE + timedelta(days=offset)))
    mails = outbox_messages(services)
    assert str(mails[0]["subject"]).startswith("Relevé de compte")
    assert [m["step"] for m in mails[1:]] == ["reminder_2", "reminder_3"]
    with services.sessions() as s:
        [task] = s.scalars(select(Task).where(Task.kind == TaskKind.ESCALATION))
    assert task.title == "Invoice F-1: over to you — 2 reminders sent without payment"
