"""The owner's actions through the engine (design §6 still holds): a payment the owner records
stops what a tick is about to send, send-now is exactly once and inside the window unless
overridden, a payment plan moves the sequence and a missed instalment resumes it without a
pile-up, a partial payment keeps reminding for the rest, and every action names who did it.
SQLite and PostgreSQL; mail through the real SendGrid client to a local SendGrid."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from connector.actions import invoices as actions
from connector.actions.errors import ActionError
from connector.actions.invoice_bulk import BulkAction, BulkParams, bulk
from connector.actions.send_now import send_now
from connector.actions.timeline import (
    InvoiceNotFound,
    TimelineEntry,
    TimelineKind,
    invoice_timeline,
)
from connector.dunning.runner import DunningRunner
from connector.mail.base import MailTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, PaymentSource, ReminderState, Shop
from tests.engine.conftest import AUGUST, on_a_plan, outbox_messages, steps
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris
from tests.support.fake_sendgrid import FakeSendGrid

DUE = date(2026, 6, 10)  # a Wednesday
D1 = date(2026, 6, 11)  # reminder_1's day
OWNER = "claire@dupont.example"


def entries(services: Services, shop: Shop, number: str) -> list[TimelineEntry]:
    with services.sessions() as s:
        return invoice_timeline(s, shop.id, invoice_by_number(services, number).id)


# -- never after payment -----------------------------------------------------------------------


def test_mark_paid_while_a_tick_is_sending_it_sends_nothing_after_the_payment_commits(
    services: Services, shop: Shop, sendgrid: tuple[FakeSendGrid, MailTransport]
) -> None:
    """The tick has claimed reminder_1 and is about to send it; the owner records the bank
    transfer (another connection, another thread) right then. Once that commits, the mail API
    is never called for the invoice: the sender re-reads it under lock and cancels."""
    fake, transport = sendgrid
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    invoice_id = invoice_by_number(services, "F-1").id
    committed: list[object] = []

    def pay() -> None:
        committed.append(
            actions.record_payment(
                services,
                shop.id,
                invoice_id,
                source=PaymentSource.BANK_TRANSFER,
                actor=OWNER,
                now=paris(D1, 10),
            )
        )

    def owner_pays_now(connection_id: int, external_id: str) -> None:
        # Called by the deliverer between the claim and the send: the race window. The owner's
        # transaction runs on its own connection, in its own thread, and commits here.
        worker = threading.Thread(target=pay)
        worker.start()
        worker.join()

    runner = dunning_runner(services, transport=transport, status_checker=owner_pays_now)
    report = runner.tick(paris(D1, 10))

    assert committed, "the payment was recorded during the tick"
    assert fake.accepted == []  # nothing reached the mail API
    assert steps(services, "F-1")["reminder_1"] is ReminderState.CANCELLED
    assert "sent" not in report.counts()
    inv = invoice_by_number(services, "F-1")
    assert (inv.status, inv.amount_due_minor, inv.next_action_at) == (InvoiceStatus.PAID, 0, None)
    timeline = entries(services, shop, "F-1")
    (cancelled,) = [e for e in timeline if e.kind is TimelineKind.CANCELLED]
    assert cancelled.detail["step"] == "reminder_1"
    (paid,) = [e for e in timeline if e.kind is TimelineKind.PAYMENT]
    assert paid.actor == OWNER and paid.detail["source"] == "bank_transfer"
    runner.tick(paris(D1 + timedelta(days=20), 10))  # and nothing later either
    assert fake.accepted == []


def test_mark_paid_cancels_the_planned_step_and_says_so(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    make_runner().tick(paris(D1, 10))  # reminder_1 sent; reminder_2 planned for D+7
    inv = invoice_by_number(services, "F-1")
    done = actions.record_payment(
        services,
        shop.id,
        inv.id,
        source=PaymentSource.CHEQUE,
        actor=OWNER,
        now=paris(D1 + timedelta(days=2), 15),
    )
    assert done.detail["cancelled_step"] == "reminder_2"
    assert "reminder 2" in done.title and "cancelled" in done.title
    make_runner().tick(paris(D1 + timedelta(days=30), 10))
    assert steps(services, "F-1") == {
        "courtesy": ReminderState.SKIPPED,
        "reminder_1": ReminderState.SENT,
    }
    assert len([m for m in outbox_messages(services) if m.get("step") != "thank_you"]) == 1


# -- send now ----------------------------------------------------------------------------------


def test_send_now_twice_in_parallel_sends_one_message(
    services: Services, shop: Shop, sendgrid: tuple[FakeSendGrid, MailTransport]
) -> None:
    fake, transport = sendgrid
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    invoice_id = invoice_by_number(services, "F-1").id
    start = threading.Barrier(2)
    results: list[object] = []

    def press() -> None:
        start.wait()
        try:
            results.append(
                send_now(
                    services,
                    shop.id,
                    invoice_id,
                    actor=OWNER,
                    now=paris(D1, 10),
                    transport=transport,
                )
            )
        except ActionError as exc:
            results.append(exc)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(fake.accepted) == 1
    assert sorted(type(r).__name__ for r in results) == ["ActionError", "ActionResult"]
    assert steps(services, "F-1")["reminder_1"] is ReminderState.SENT


def test_send_now_goes_ahead_of_the_steps_day_once(
    services: Services, shop: Shop, sendgrid: tuple[FakeSendGrid, MailTransport]
) -> None:
    fake, transport = sendgrid
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "F-1")
    now = paris(DUE - timedelta(days=5), 10)  # courtesy planned for D-2: sent today instead
    done = send_now(services, shop.id, inv.id, actor=OWNER, now=now, transport=transport)
    assert (done.detail["step"], done.detail["outcome"]) == ("courtesy", "sent")
    with pytest.raises(ActionError, match="already sent a reminder today"):
        send_now(services, shop.id, inv.id, actor=OWNER, now=now, transport=transport)
    dunning_runner(services, transport=transport).tick(paris(DUE - timedelta(days=2), 10))
    assert len(fake.accepted) == 1  # the tick does not send the courtesy again


def test_send_now_outside_the_window_is_refused_unless_overridden(
    services: Services, shop: Shop, sendgrid: tuple[FakeSendGrid, MailTransport]
) -> None:
    fake, transport = sendgrid
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "F-1")
    evening = paris(D1, 21)
    with pytest.raises(ActionError, match="outside the shop's sending window"):
        send_now(services, shop.id, inv.id, actor=OWNER, now=evening, transport=transport)
    assert fake.accepted == [] and steps(services, "F-1") == {}
    done = send_now(
        services,
        shop.id,
        inv.id,
        actor=OWNER,
        now=evening,
        transport=transport,
        override_window=True,
    )
    assert done.detail["outcome"] == "sent" and done.detail["override_window"] is True
    assert len(fake.accepted) == 1
    (asked,) = [e for e in entries(services, shop, "F-1") if e.detail.get("action") == "send_now"]
    assert asked.actor == OWNER and "overridden" in asked.title


def test_send_now_never_after_payment_nor_while_paused(
    services: Services, shop: Shop, sendgrid: tuple[FakeSendGrid, MailTransport]
) -> None:
    fake, transport = sendgrid
    add_invoices(
        services,
        shop,
        [
            normalized("F-1", email="ada@client.example", due_on=DUE),
            normalized("F-2", email="bob@client.example", due_on=DUE),
        ],
    )
    now = paris(D1, 10)
    paid, paused = invoice_by_number(services, "F-1"), invoice_by_number(services, "F-2")
    actions.record_payment(
        services, shop.id, paid.id, source=PaymentSource.BANK_TRANSFER, actor=OWNER, now=now
    )
    actions.dispute(services, shop.id, paused.id, reason="goods damaged", actor=OWNER, now=now)
    with pytest.raises(ActionError, match="is paid"):
        send_now(services, shop.id, paid.id, actor=OWNER, now=now, transport=transport)
    with pytest.raises(ActionError, match="paused"):
        send_now(services, shop.id, paused.id, actor=OWNER, now=now, transport=transport)
    assert fake.accepted == []


# -- payment plan ------------------------------------------------------------------------------


def test_a_missed_instalment_resumes_the_sequence_at_the_right_step_without_a_pile_up(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    runner = make_runner()
    inv = on_a_plan(services, shop, runner, actor=OWNER)  # reminder_1 sent, then the plan
    for day in (date(2026, 6, 18), date(2026, 6, 25), date(2026, 7, 2)):
        runner.tick(paris(day, 10))  # reminder_2 (D+7) waits for the plan
    actions.record_payment(
        services,
        shop.id,
        inv.id,
        source=PaymentSource.BANK_TRANSFER,
        amount="40.00",
        actor=OWNER,
        now=paris(date(2026, 7, 2), 11),
    )
    assert invoice_by_number(services, "F-1").plan_due_at == paris(AUGUST, 0)
    for day in (date(2026, 7, 9), date(2026, 7, 20), date(2026, 8, 4)):
        runner.tick(paris(day, 10))
    assert steps(services, "F-1") == {
        "courtesy": ReminderState.SKIPPED,
        "reminder_1": ReminderState.SENT,
    }
    # August's instalment is missed: three weeks of downtime, then one tick.
    runner.tick(paris(date(2026, 8, 24), 10))  # D+21 of the instalment: reminder_2,3 passed
    after = steps(services, "F-1")
    assert after["reminder_2"] is ReminderState.SKIPPED
    assert after["reminder_3"] is ReminderState.SKIPPED
    assert after["final_warning"] is ReminderState.SENT
    sent = [m for m in outbox_messages(services)]
    assert [m["step"] for m in sent] == ["reminder_1", "final_warning"]  # one, no pile-up
    assert "80,00" in str(sent[-1]["text"])  # what is still due


def test_the_plan_moves_the_next_planned_step(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    from connector.actions.schedule import next_step

    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    make_runner().tick(paris(D1, 10))
    inv = invoice_by_number(services, "F-1")
    actions.set_plan(
        services,
        shop.id,
        inv.id,
        [
            actions.InstalmentSpec(date(2026, 7, 1), "60.00"),
            actions.InstalmentSpec(date(2026, 8, 3), "60.00"),
        ],
        actor=OWNER,
        now=paris(D1, 16),
    )
    with services.sessions() as s:
        fresh = s.get(Invoice, inv.id)
        assert fresh is not None
        planned = next_step(s, shop, fresh, fresh.customer, paris(D1, 16))
    assert (planned.key, planned.on) == ("reminder_2", date(2026, 7, 8))


def test_a_plan_must_add_up_to_what_is_due(services: Services, shop: Shop) -> None:
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "F-1")
    with pytest.raises(ActionError, match="add up to"):
        actions.set_plan(
            services,
            shop.id,
            inv.id,
            [actions.InstalmentSpec(date(2026, 7, 1), "60.00")],
            actor=OWNER,
            now=paris(D1, 16),
        )
    with pytest.raises(ActionError, match="instalment 2: due day must be after"):
        actions.set_plan(
            services,
            shop.id,
            inv.id,
            [
                actions.InstalmentSpec(date(2026, 7, 1), "60.00"),
                actions.InstalmentSpec(date(2026, 7, 1), "60.00"),
            ],
            actor=OWNER,
            now=paris(D1, 16),
        )
    assert entries(services, shop, "F-1")[-1].kind is TimelineKind.SYNC  # nothing written


# -- partial payment ---------------------------------------------------------------------------


def test_a_partial_payment_lowers_what_is_due_and_keeps_reminding_for_the_rest(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    runner = make_runner()
    runner.tick(paris(D1, 10))
    inv = invoice_by_number(services, "F-1")
    done = actions.record_payment(
        services,
        shop.id,
        inv.id,
        source=PaymentSource.CHEQUE,
        amount="50,00",
        actor=OWNER,
        now=paris(D1, 15),
    )
    assert done.action.value == "partial_payment"
    after = invoice_by_number(services, "F-1")
    assert (after.status, after.amount_due_minor) == (InvoiceStatus.PARTIALLY_PAID, 7000)
    runner.tick(paris(date(2026, 6, 17), 10))  # reminder_2's day
    last = outbox_messages(services)[-1]
    assert last["step"] == "reminder_2"
    assert "70,00" in str(last["text"])
    with pytest.raises(ActionError, match="amount: more than what is due"):
        actions.record_payment(
            services,
            shop.id,
            inv.id,
            source=PaymentSource.CHEQUE,
            amount="70.01",
            actor=OWNER,
            now=paris(D1, 15),
        )


# -- who did it, and whose ---------------------------------------------------------------------


def test_every_action_writes_its_timeline_entry_with_the_actor(
    services: Services, shop: Shop
) -> None:
    numbers = [f"F-{n}" for n in range(1, 9)]
    add_invoices(
        services,
        shop,
        [normalized(n, email=f"c{i}@client.example", due_on=DUE) for i, n in enumerate(numbers)],
    )
    ids = {n: invoice_by_number(services, n).id for n in numbers}
    now = paris(D1, 10)
    later = date(2026, 7, 1)
    actions.record_payment(
        services, shop.id, ids["F-1"], source=PaymentSource.BANK_TRANSFER, actor="a1", now=now
    )
    actions.pause(services, shop.id, ids["F-2"], until=later, reason="holiday", actor="a2", now=now)
    actions.dispute(services, shop.id, ids["F-3"], reason="damaged", actor="a3", now=now)
    actions.resume(services, shop.id, ids["F-3"], actor="a4", now=now + timedelta(hours=1))
    actions.set_plan(
        services,
        shop.id,
        ids["F-4"],
        [actions.InstalmentSpec(later, "120.00")],
        actor="a5",
        now=now,
    )
    actions.exclude_invoice(services, shop.id, ids["F-5"], actor="a6", now=now)
    actions.include_invoice(services, shop.id, ids["F-5"], actor="a7", now=now)
    actions.write_off(services, shop.id, ids["F-6"], actor="a8", reason="bankrupt", now=now)
    customer = invoice_by_number(services, "F-7").customer_id
    actions.set_customer_excluded(services, shop.id, customer, excluded=True, actor="a9", now=now)
    [item] = bulk(
        services,
        shop.id,
        [ids["F-8"]],
        BulkAction.PAUSE,
        BulkParams(actor="a10", until=later, reason="asked", now=now),
    )
    assert item.ok, item.message

    def by(number: str) -> set[tuple[str | None, TimelineKind]]:
        return {(e.actor, e.kind) for e in entries(services, shop, number) if e.actor}

    assert by("F-1") == {("a1", TimelineKind.PAYMENT)}
    assert by("F-2") == {("a2", TimelineKind.PAUSE)}
    assert by("F-3") == {("a3", TimelineKind.DISPUTE), ("a4", TimelineKind.RESUME)}
    assert by("F-4") == {("a5", TimelineKind.PLAN)}
    assert by("F-5") == {("a6", TimelineKind.ACTION), ("a7", TimelineKind.ACTION)}
    assert by("F-6") == {("a8", TimelineKind.STATUS)}
    assert by("F-7") == {("a9", TimelineKind.ACTION)}
    assert by("F-8") == {("a10", TimelineKind.PAUSE)}
    assert invoice_by_number(services, "F-6").status is InvoiceStatus.UNCOLLECTIBLE


def test_another_shops_invoice_is_not_found_and_nothing_changes(
    services: Services, shop: Shop
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "F-1")
    with write_session(services.sessions) as s:
        other_id = create_shop(s, name="Autre", email="autre@shop.example").id
    now = paris(D1, 10)
    with pytest.raises(InvoiceNotFound):
        actions.record_payment(
            services, other_id, inv.id, source=PaymentSource.CASH, actor="x", now=now
        )
    with pytest.raises(InvoiceNotFound):
        actions.dispute(services, other_id, inv.id, reason="x", actor="x", now=now)
    [item] = bulk(services, other_id, [inv.id], BulkAction.WRITE_OFF, BulkParams(actor="x"))
    assert not item.ok and "no invoice" in item.message
    after = invoice_by_number(services, "F-1")
    assert (after.status, after.amount_due_minor, after.pause_reason) == (
        InvoiceStatus.OPEN,
        12000,
        None,
    )
    assert [e.kind for e in entries(services, shop, "F-1")] == [TimelineKind.SYNC]


def test_a_later_platform_sync_never_reopens_what_the_owner_marked_paid(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """The customer paid by bank transfer; the platform's order stays pending (it never saw
    the money) and changes for another reason later: the invoice stays paid, nothing is sent.
    A partial transfer stays counted the same way."""
    add_invoices(
        services,
        shop,
        [
            normalized("F-1", email="ada@client.example", due_on=DUE),
            normalized("F-2", email="bob@client.example", due_on=DUE),
        ],
    )
    now = paris(D1, 9)
    ids = {n: invoice_by_number(services, n).id for n in ("F-1", "F-2")}
    actions.record_payment(
        services, shop.id, ids["F-1"], source=PaymentSource.BANK_TRANSFER, actor=OWNER, now=now
    )
    actions.record_payment(
        services,
        shop.id,
        ids["F-2"],
        source=PaymentSource.CHEQUE,
        amount="50.00",
        actor=OWNER,
        now=now,
    )
    later = now + timedelta(hours=1)
    add_invoices(  # the platform's newer state: still pending, everything due
        services,
        shop,
        [
            normalized("F-1", email="ada@client.example", due_on=DUE, updated_at=later),
            normalized("F-2", email="bob@client.example", due_on=DUE, updated_at=later),
        ],
    )
    first, second = invoice_by_number(services, "F-1"), invoice_by_number(services, "F-2")
    assert (first.status, first.amount_due_minor) == (InvoiceStatus.PAID, 0)
    assert (second.status, second.amount_due_minor) == (InvoiceStatus.PARTIALLY_PAID, 7000)
    make_runner().tick(paris(D1, 10))
    sent = outbox_messages(services)
    assert [m["to"] for m in sent] == ["bob@client.example"]
    assert "70,00" in str(sent[0]["text"])


def test_resuming_a_long_dispute_sends_one_step_not_a_pile(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    runner = make_runner()
    runner.tick(paris(D1, 10))  # reminder_1 sent
    inv = invoice_by_number(services, "F-1")
    actions.dispute(
        services, shop.id, inv.id, reason="wrong colour", actor=OWNER, now=paris(D1, 11)
    )
    for day in range(2, 25, 3):  # three weeks of ticks: nothing while disputed
        runner.tick(paris(D1 + timedelta(days=day), 10))
    assert [m["step"] for m in outbox_messages(services)] == ["reminder_1"]
    back = date(2026, 7, 6)  # D+26: reminder_2, reminder_3 and the final warning all passed
    actions.resume(services, shop.id, inv.id, actor=OWNER, now=paris(back, 9))
    runner.tick(paris(back, 10))
    runner.tick(paris(back, 11))
    assert [m["step"] for m in outbox_messages(services)] == ["reminder_1", "final_warning"]
    assert steps(services, "F-1") == {
        "courtesy": ReminderState.SKIPPED,
        "reminder_1": ReminderState.SENT,
        "reminder_2": ReminderState.SKIPPED,
        "reminder_3": ReminderState.SKIPPED,
        "final_warning": ReminderState.SENT,
    }
