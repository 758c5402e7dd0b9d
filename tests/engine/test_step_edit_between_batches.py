"""An owner's sequence edit between two claim batches of one tick: the later batch plans with
the steps as they are now, not as the first batch read them (a step moved to D+27 must not go
out at D+1 to the customers the tick had not reached yet)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date

from sqlalchemy import select

from connector.actions import sequences as seq_actions
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Invoice, Reminder, ReminderState, Shop
from tests.support.builders import add_invoices, normalized, paris

NOW = paris(date(2026, 6, 11), 10)


def test_a_step_moved_between_batches_is_planned_where_it_now_is(
    services: Services, shop: Shop
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized("F-1", email="ada@client.example", due_on=date(2026, 6, 10)),
            normalized("F-2", email="bob@client.example", due_on=date(2026, 6, 10)),
        ],
    )
    default = next(q for q in seq_actions.list_sequences(services, shop.id) if q.is_default)
    due = next(st for st in default.steps if st.active and st.offset_days == 1)
    moved = seq_actions.StepInput(
        offset_days=27,
        channel=due.channel,
        tone=due.tone,
        show_penalties=due.show_penalties,
        sends_letter=due.sends_letter,
        hands_off=due.hands_off,
        new_deadline_days=due.new_deadline_days,
    )
    claims_begun = 0

    def give_way() -> None:
        nonlocal claims_begun
        if threading.current_thread() is not threading.main_thread():
            return  # the batch threads give way too; only the claim loop's turns count
        claims_begun += 1
        if claims_begun == 2:  # after the first batch's claim, before the second's
            seq_actions.update_step(services, shop.id, due.id, moved)

    runner = dunning_runner(
        services, transport=OutboxTransport(services.settings.outbox_dir), give_way=give_way
    )
    runner.options = dataclasses.replace(runner.options, batch=1)  # one customer per claim
    runner.tick(NOW)

    with services.sessions() as s:
        sent = s.execute(
            select(Invoice.number, Reminder.step_key)
            .join(Invoice, Invoice.id == Reminder.invoice_id)
            .where(Reminder.state == ReminderState.SENT)
            .order_by(Invoice.number)
        ).all()
    assert claims_begun >= 2
    assert [tuple(r) for r in sent] == [("F-1", due.key)]  # F-2 waits for D+27
