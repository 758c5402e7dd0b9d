"""A tick against a real store (SQLite and PostgreSQL), delivering to the outbox folder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import select

from connector.dunning.claims import Claimer, due_customer_ids
from connector.dunning.deliver import Deliverer
from connector.dunning.rendering import ReminderRenderer
from connector.dunning.runner import DunningRunner
from connector.ledger import lock_invoice, set_state
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    LetterDocument,
    Message,
    MessageState,
    PaymentSource,
    Reminder,
    Shop,
    Task,
    TaskKind,
)
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)  # Wednesday


def reminders(svc: Services, number: str) -> dict[str, tuple[str, str | None]]:
    inv = invoice_by_number(svc, number)
    with svc.sessions() as s:
        return {
            r.step_key: (r.state.value, r.reason)
            for r in s.scalars(select(Reminder).where(Reminder.invoice_id == inv.id))
        }


def test_courtesy_goes_out_once_with_what_the_owner_needs(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services, shop, [normalized("F-2026-001", email="marie@client.example", due_on=DUE)]
    )
    runner = make_runner()
    first = runner.tick(paris(date(2026, 6, 8)))
    assert first.counts() == {"sent": 1}
    again = runner.tick(paris(date(2026, 6, 8), 15))
    assert again.counts() == {}
    [mail] = outbox_messages(services)
    assert mail["to"] == "marie@client.example"
    assert mail["step"] == "courtesy"
    assert mail["invoice"] == "F-2026-001"
    assert "F-2026-001" in str(mail["subject"]) and "Atelier Dupont" in str(mail["subject"])
    assert "Marie Curie" in str(mail["text"])
    assert "https://pay.example/F-2026-001" in str(mail["text"])
    state = reminders(services, "F-2026-001")
    assert state == {"courtesy": ("sent", None)}
    inv = invoice_by_number(services, "F-2026-001")
    assert inv.next_action_at == paris(date(2026, 6, 11), 9)  # reminder_1, D+1 at opening


def test_whole_sequence_day_by_day_sends_each_step_once(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services, shop, [normalized("F-1", email="a@client.example", due_on=DUE, b2b=True)]
    )
    runner = make_runner()
    day = DUE - timedelta(days=3)
    while day <= DUE + timedelta(days=45):
        for hour in (8, 10, 16):  # three ticks a day, one before the window opens
            runner.tick(paris(day, hour))
        day += timedelta(days=1)
    state = reminders(services, "F-1")
    assert {k: v[0] for k, v in state.items()} == {
        "courtesy": "sent",
        "reminder_1": "sent",
        "reminder_2": "sent",
        "reminder_3": "sent",
        "final_warning": "sent",
        "formal_notice": "sent",
    }
    mails = outbox_messages(services)
    assert [m["step"] for m in mails] == [
        "courtesy",
        "reminder_1",
        "reminder_2",
        "reminder_3",
        "final_warning",
    ]  # the formal notice is a letter
    second = next(m for m in mails if m["step"] == "reminder_2")
    assert "40,00" in str(second["text"])  # B2B: the indemnity from the second reminder on
    with services.sessions() as s:
        kinds = sorted(t.kind.value for t in s.scalars(select(Task)))
        letter_ids = [r.letter_id for r in s.scalars(select(Reminder)) if r.letter_id]
        task_letters = [t.letter_id for t in s.scalars(select(Task)) if t.letter_id]
        letters = {d.id: d for d in s.scalars(select(LetterDocument))}
        assert all(r.letter_path is None for r in s.scalars(select(Reminder)))
    assert kinds.count(TaskKind.LETTER_TO_POST.value) == 2  # final warning + formal notice
    assert TaskKind.ESCALATION.value in kinds  # the sequence ended unpaid
    # The letters live in the store (a deploy wipes the worker's disk), named by both rows.
    assert sorted(letter_ids) == sorted(task_letters) == sorted(letters) and len(letters) == 2
    for letter in letters.values():
        assert letter.content.startswith(b"%PDF-") and letter.filename.endswith(".pdf")
    assert not services.settings.letters_dir.exists()


def test_ten_days_of_downtime_sends_only_the_latest_step(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-2", email="b@client.example", due_on=DUE)])
    runner = make_runner()
    runner.tick(paris(date(2026, 6, 8)))  # courtesy
    report = runner.tick(paris(date(2026, 6, 18)))  # ten days later: D+8
    assert report.counts() == {"sent": 1, "skipped": 1}
    state = reminders(services, "F-2")
    assert state["reminder_2"] == ("sent", None)
    assert state["reminder_1"][0] == "skipped"
    assert "superseded by reminder_2" in (state["reminder_1"][1] or "")
    assert [m["step"] for m in outbox_messages(services)] == ["courtesy", "reminder_2"]


def test_one_consolidated_message_per_customer_per_day(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    email = "c@client.example"
    add_invoices(
        services,
        shop,
        [
            normalized("F-10", email=email, due_on=DUE),
            normalized("F-11", email=email, due_on=DUE - timedelta(days=3)),
            # Its courtesy (D-2) falls today; a courtesy never goes out on the due date itself.
            normalized("F-12", email=email, due_on=DUE + timedelta(days=3)),
        ],
    )
    runner = make_runner()
    runner.tick(paris(date(2026, 6, 11)))
    mails = outbox_messages(services)
    assert len(mails) == 1
    assert sorted(mails[0]["invoices"]) == ["F-10", "F-11", "F-12"]  # type: ignore[arg-type]
    for number in ("F-10", "F-11", "F-12"):
        assert number in str(mails[0]["subject"])
    # Later that day nothing more goes to this customer, whatever falls due.
    runner.tick(paris(date(2026, 6, 11), 17))
    assert len(outbox_messages(services)) == 1


def test_payment_between_claim_and_send_sends_nothing(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-3", email="d@client.example", due_on=DUE)])
    now = paris(date(2026, 6, 11))
    with write_session(services.sessions) as s:
        ids = due_customer_ids(s, now, 10, skip_locked=False)
        claimed = Claimer(s, worker="w1", lease_until=now + timedelta(minutes=5)).claim_customers(
            ids, now, skip_locked=False
        )
    [message_id] = claimed.message_ids
    inv = invoice_by_number(services, "F-3")
    with write_session(services.sessions) as s:  # the payment webhook, in its own transaction
        locked = lock_invoice(s, inv.id)
        assert locked is not None
        set_state(
            s,
            locked,
            status=InvoiceStatus.PAID,
            amount_due_minor=0,
            now=now,
            source=PaymentSource.WEBHOOK,
            payment_external_id="evt_paid",
        )
    runner = make_runner()
    deliverer = Deliverer(
        services.sessions,
        runner.transport,
        ReminderRenderer(),
        letters_dir=services.settings.letters_dir,
        worker="w1",
        send_lease=timedelta(minutes=2),
        clock=runner.clock,
    )
    outcomes = deliverer.deliver_message(message_id, now)
    assert outbox_messages(services) == []
    assert outcomes == []  # the payment itself cancelled the claimed reminder
    assert reminders(services, "F-3")["courtesy"][0] == "skipped"
    assert reminders(services, "F-3")["reminder_1"] == ("cancelled", "invoice paid")
    with services.sessions() as s:
        assert s.get(Message, message_id).state is MessageState.CANCELLED  # type: ignore[union-attr]
    assert make_runner().tick(now + timedelta(days=7)).counts() == {}


def test_platform_recheck_finding_a_payment_sends_nothing(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-4", email="e@client.example", due_on=DUE)])
    paid = normalized(
        "F-4",
        email="e@client.example",
        due_on=DUE,
        status=InvoiceStatus.PAID,
        updated_at=paris(date(2026, 6, 11), 8),
    )
    calls: list[tuple[int, str]] = []

    def checker(connection_id: int, external_id: str):  # type: ignore[no-untyped-def]
        calls.append((connection_id, external_id))
        return paid

    report = make_runner(status_checker=checker).tick(paris(date(2026, 6, 11)))
    assert calls and calls[0][1] == "F-4"
    assert outbox_messages(services) == []
    assert report.counts().get("sent", 0) == 0
    assert invoice_by_number(services, "F-4").status is InvoiceStatus.PAID


def test_paused_excluded_and_paid_get_nothing(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized("P-1", email="p1@client.example", due_on=DUE),
            normalized("P-2", email="p2@client.example", due_on=DUE),
            normalized("P-3", email="p3@client.example", due_on=DUE, status=InvoiceStatus.PAID),
        ],
    )
    with write_session(services.sessions) as s:
        inv = lock_invoice(s, invoice_by_number(services, "P-1").id)
        assert inv is not None
        inv.pause_reason = "payment_plan"
        cust = s.scalar(select(Customer).where(Customer.email == "p2@client.example"))
        assert cust is not None
        cust.excluded = True
    report = make_runner().tick(paris(date(2026, 6, 11)))
    assert report.counts() == {}
    assert outbox_messages(services) == []


def test_outside_the_window_nothing_then_next_morning(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("W-1", email="w@client.example", due_on=DUE)])
    runner = make_runner()
    assert runner.tick(paris(date(2026, 6, 8), 20)).counts() == {}
    assert invoice_by_number(services, "W-1").next_action_at == paris(date(2026, 6, 9), 9)
    assert runner.tick(paris(date(2026, 6, 9), 9, 1)).counts() == {"sent": 1}


def test_hand_off_above_threshold_opens_a_task(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    with write_session(services.sessions) as s:
        merged = s.merge(shop)
        merged.escalate_above_minor = 100_000
    add_invoices(
        services, shop, [normalized("B-1", email="big@client.example", due_on=DUE, amount="5000")]
    )
    runner = make_runner()
    runner.tick(paris(date(2026, 6, 8)))
    report = runner.tick(paris(date(2026, 6, 11)))
    assert report.counts() == {"handed_off": 1}
    with services.sessions() as s:
        [task] = s.scalars(select(Task).where(Task.kind == TaskKind.ESCALATION)).all()
        assert "B-1" in task.title
    assert make_runner().tick(paris(date(2026, 6, 30))).counts() == {}


def test_french_message_dates_are_the_shops_days_with_1er(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """Due 1 June in Paris (31 May 22:00 UTC): the message says "1er juin 2026", not 31 mai."""
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-2026-061",
                email="marie@client.example",
                due_on=date(2026, 6, 1),
                issued_on=date(2026, 5, 2),
            )
        ],
    )
    assert make_runner().tick(paris(date(2026, 6, 2))).counts()["sent"] == 1  # courtesy skipped
    [mail] = outbox_messages(services)
    assert mail["step"] == "reminder_1"
    assert "1er juin 2026" in str(mail["text"])
    assert "2 mai 2026" in str(mail["text"])
    assert "31 mai" not in str(mail["text"])
