"""Issue 9, item 4: every payment message says how to pay. A step that asks for payment goes
out only with the invoice's web payment link or the shop's payment instructions; otherwise it
waits (still due, nothing claimed or skipped), the owner gets one task per shop, and the next
tick after the instructions are added sends it. Through real ticks, on both databases."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import select

from connector.actions import settings
from connector.actions.settings import SendingSettings
from connector.dunning.runner import DunningRunner
from connector.services import Services
from connector.store.models import (
    Reminder,
    ReminderState,
    Shop,
    Task,
    TaskComment,
    TaskKind,
    TaskState,
)
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)  # Wednesday
FIRST_REMINDER_DAY = date(2026, 6, 11)
INSTRUCTIONS = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP"


def unlinked(number: str, email: str, url: str | None = None) -> object:
    return dataclasses.replace(normalized(number, email=email, due_on=DUE), payment_url=url)


def reminders(services: Services, number: str) -> dict[str, ReminderState]:
    """An invoice's reminder rows: step key → state."""
    invoice_id = invoice_by_number(services, number).id
    with services.sessions() as s:
        rows = s.execute(
            select(Reminder.step_key, Reminder.state).where(Reminder.invoice_id == invoice_id)
        )
        return {key: state for key, state in rows}


def tasks_of_kind(services: Services, kind: TaskKind) -> list[Task]:
    with services.sessions() as s:
        return list(s.scalars(select(Task).where(Task.kind == kind)))


def test_a_payment_step_without_a_way_to_pay_waits_and_goes_once_instructions_are_set(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services,
        shop,
        [
            unlinked("F-1", "ada@client.example"),
            # Not a web link: no way to pay either.
            unlinked("F-2", "bob@client.example", url="javascript:alert(1)"),
            normalized("F-3", email="cy@client.example", due_on=DUE),  # has a link
        ],
    )
    runner = make_runner()
    runner.tick(paris(FIRST_REMINDER_DAY, 10))
    runner.tick(paris(FIRST_REMINDER_DAY, 11))

    # Only the invoice with a payment link went out; the others were neither sent nor skipped.
    sent = outbox_messages(services)
    assert [m["to"] for m in sent] == ["cy@client.example"]
    assert reminders(services, "F-3")["reminder_1"] is ReminderState.SENT
    assert reminders(services, "F-1") == reminders(services, "F-2") == {}
    waiting = {invoice_by_number(services, n).next_action_at for n in ("F-1", "F-2")}
    assert None not in waiting
    # One task for the shop, whatever the number of invoices and ticks.
    [task] = tasks_of_kind(services, TaskKind.PAYMENT_INSTRUCTIONS)
    assert task.shop_id == shop.id
    assert "payment instructions" in task.title.lower()
    assert task.detail is not None and "--payment-instructions" in task.detail

    settings.update_sending(
        services,
        shop.id,
        SendingSettings(payment_instructions=INSTRUCTIONS),
        FIRST_REMINDER_DAY,
    )
    runner.tick(paris(FIRST_REMINDER_DAY, 12))

    sent = outbox_messages(services)
    assert sorted(str(m["to"]) for m in sent) == [
        "ada@client.example",
        "bob@client.example",
        "cy@client.example",
    ]
    for message in sent:
        if message["to"] != "cy@client.example":
            assert INSTRUCTIONS in str(message["text"])
    for number in ("F-1", "F-2"):  # the step itself went out (the courtesy was long past)
        assert reminders(services, number)["reminder_1"] is ReminderState.SENT
    assert len(tasks_of_kind(services, TaskKind.PAYMENT_INSTRUCTIONS)) == 1


def test_without_a_way_to_pay_no_step_ever_goes_out_not_even_a_letter(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """Every step of the sequence asks for payment (the letters too): none is sent, none is
    skipped as "passed", through a whole month of ticks."""
    add_invoices(services, shop, [unlinked("F-9", "dee@client.example")])
    runner = make_runner()
    for day in range(0, 40, 3):
        runner.tick(paris(FIRST_REMINDER_DAY + timedelta(days=day), 10))
    assert outbox_messages(services) == []
    assert reminders(services, "F-9") == {}
    assert len(tasks_of_kind(services, TaskKind.PAYMENT_INSTRUCTIONS)) == 1


def test_the_owners_task_is_done_once_instructions_are_added_and_back_if_they_go(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """The task asks for payment instructions: once they are saved it is done (the owner does
    not close what they already fixed, nor read "reminders are waiting" when none are); if
    they are taken away while an invoice has no link, the same task is open again."""
    add_invoices(services, shop, [unlinked("F-1", "ada@client.example")])
    runner = make_runner()
    runner.tick(paris(FIRST_REMINDER_DAY, 10))
    [task] = tasks_of_kind(services, TaskKind.PAYMENT_INSTRUCTIONS)
    assert task.state is TaskState.OPEN

    settings.update_sending(
        services, shop.id, SendingSettings(payment_instructions=INSTRUCTIONS), FIRST_REMINDER_DAY
    )
    [task] = tasks_of_kind(services, TaskKind.PAYMENT_INSTRUCTIONS)
    assert task.state is TaskState.DONE and task.closed_at is not None
    with services.sessions() as s:
        [why] = s.scalars(select(TaskComment.body).where(TaskComment.task_id == task.id))
    assert "payment instructions added" in why
    runner.tick(paris(FIRST_REMINDER_DAY, 11))
    assert reminders(services, "F-1")["reminder_1"] is ReminderState.SENT

    settings.update_sending(
        services, shop.id, SendingSettings(payment_instructions=""), FIRST_REMINDER_DAY
    )
    add_invoices(services, shop, [unlinked("F-2", "bob@client.example")])
    runner.tick(paris(FIRST_REMINDER_DAY, 12))
    [again] = tasks_of_kind(services, TaskKind.PAYMENT_INSTRUCTIONS)
    assert again.id == task.id and again.state is TaskState.OPEN and again.closed_at is None
    assert reminders(services, "F-2") == {}
