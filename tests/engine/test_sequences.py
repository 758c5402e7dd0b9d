"""Several sequences: rules decide which one an invoice follows, and moving an invoice between
sequences, adding, removing, reordering steps or changing their days never re-sends what was
sent, never piles up, and never rewrites the evidence (design §6) — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from connector.actions.sequences import (
    RuleInput,
    StepInput,
    add_rule,
    add_step,
    create_sequence,
    list_sequences,
    open_counts,
    remove_step,
    update_step,
)
from connector.dunning.assignment import load_rules
from connector.dunning.sequence import ensure_default_sequence
from connector.services import Services
from connector.store.models import Invoice, Reminder, ReminderState, Shop, Step
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, normalized, paris

DUE = date(2026, 6, 10)  # a Wednesday


def _reminders(services: Services, number: str) -> list[Reminder]:
    with services.sessions() as s:
        return list(
            s.scalars(
                select(Reminder)
                .join(Invoice, Invoice.id == Reminder.invoice_id)
                .where(Invoice.number == number)
                .order_by(Reminder.id)
            )
        )


def test_first_matching_rule_decides_and_counts_agree_with_the_planner(
    services: Services, shop: Shop
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized("B-BIG", email="big@acme.example", amount="2500.00", b2b=True, due_on=DUE),
            normalized("B-SMALL", email="small@acme.example", amount="90.00", b2b=True, due_on=DUE),
            normalized("C-1", email="marie@client.example", amount="3000.00", due_on=DUE),
            normalized("C-VIP", email="vip@client.example", amount="40.00", due_on=DUE),
        ],
    )
    big = create_sequence(services, shop.id, "B2B over 1,000 EUR")
    consumers = create_sequence(services, shop.id, "Consumers")
    add_rule(services, shop.id, RuleInput(big.id, b2b=True, min_amount="1000", currency="eur"))
    add_rule(
        services,
        shop.id,
        RuleInput(consumers.id, b2b=False, excluded_emails=("VIP@client.example",)),
    )

    counts = {v.name: v.open_invoices for v in list_sequences(services, shop.id)}
    assert counts == {"default": 2, "B2B over 1,000 EUR": 1, "Consumers": 1}
    with services.sessions() as s:
        rules = load_rules(s, shop.id)
        default_id = ensure_default_sequence(s, s.get(Shop, shop.id)).id  # type: ignore[arg-type]
        by_planner = {
            inv.number: rules.sequence_for(inv) or default_id for inv in s.scalars(select(Invoice))
        }
        assert by_planner == {
            "B-BIG": big.id,
            "B-SMALL": default_id,
            "C-1": consumers.id,
            "C-VIP": default_id,
        }
        sql_counts = open_counts(s, s.get(Shop, shop.id), default_id)  # type: ignore[arg-type]
    planner_counts: dict[int, int] = {}
    for seq_id in by_planner.values():
        planner_counts[seq_id] = planner_counts.get(seq_id, 0) + 1
    assert sql_counts == planner_counts


def test_moving_an_invoice_to_another_sequence_never_resends_nor_piles_up(
    services: Services, shop: Shop, make_runner
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    runner = make_runner()
    runner.tick(paris(DUE + timedelta(days=1)))  # reminder_1 (D+1) of the default sequence
    assert [r.step_key for r in _reminders(services, "F-1") if r.state is ReminderState.SENT] == [
        "reminder_1"
    ]
    # The owner makes a faster sequence (its own D+1 step, a new D+3 step) and moves it there.
    fast = create_sequence(services, shop.id, "fast")
    add_step(services, shop.id, fast.id, StepInput(offset_days=3, tone="firm"), key="nudge")
    add_rule(services, shop.id, RuleInput(fast.id))

    runner.tick(paris(DUE + timedelta(days=2)))  # its D+1 is behind the invoice: nothing
    assert len(outbox_messages(services)) == 1
    runner.tick(paris(DUE + timedelta(days=12)))  # Monday 22: D+3 and D+7 passed, D+14 not yet
    sent = [r for r in _reminders(services, "F-1") if r.state is ReminderState.SENT]
    assert [r.step_key for r in sent] == ["reminder_1", "reminder_2"]  # the latest due, once
    skipped = [r.step_key for r in _reminders(services, "F-1") if r.state is ReminderState.SKIPPED]
    assert skipped == ["courtesy", "nudge"]  # the old sequence's D+1 copy never comes back
    assert len(outbox_messages(services)) == 2


def test_a_changed_offset_never_brings_a_passed_step_back(
    services: Services, shop: Shop, make_runner
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    runner = make_runner()
    runner.tick(paris(DUE + timedelta(days=7)))  # reminder_2 (D+7); D+1 skipped
    with services.sessions() as s:
        third = s.scalar(select(Step).where(Step.key == "reminder_3"))
        assert third is not None
    # reminder_3 moves from D+14 to D+3: behind what the invoice reached (D+7), never sent.
    update_step(
        services,
        shop.id,
        third.id,
        StepInput(offset_days=3, tone="firm", show_penalties=True),
    )
    # Tuesday 23: past the 5-day deadline reminder_2 announced, before the old D+14.
    runner.tick(paris(DUE + timedelta(days=13)))
    assert [r.step_key for r in _reminders(services, "F-1")] == [
        "courtesy",
        "reminder_1",
        "reminder_2",
    ]
    assert len(outbox_messages(services)) == 1


def test_removing_a_step_with_reminders_deactivates_it_and_keeps_the_evidence(
    services: Services, shop: Shop, make_runner
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    make_runner().tick(paris(DUE + timedelta(days=1)))
    sent = next(r for r in _reminders(services, "F-1") if r.state is ReminderState.SENT)
    assert remove_step(services, shop.id, sent.step_id) == "deactivated"
    with services.sessions() as s:
        step = s.get(Step, sent.step_id)
        assert step is not None and not step.active
        again = s.get(Reminder, sent.id)
        assert again is not None and again.subject == sent.subject
        unused = s.scalar(select(Step).where(Step.key == "reminder_3"))
        assert unused is not None
        unused_id = unused.id
    assert remove_step(services, shop.id, unused_id) == "deleted"
