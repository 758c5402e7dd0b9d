"""Property: whatever the owner does to the sequences between ticks — move invoices between
sequences (rules), add, remove, reorder steps, change their days — the engine never sends a
step the invoice already passed, never piles up (one message per customer and day, only the
latest due step), and never rewrites the evidence of what went out. Random interleavings
(Hypothesis), on SQLite and PostgreSQL, with the real engine and store."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from connector.actions.sequences import (
    RuleInput,
    SequenceError,
    StepInput,
    add_rule,
    add_step,
    create_sequence,
    delete_rule,
    list_rules,
    move_step,
    remove_step,
    update_step,
)
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.base import Base
from connector.store.db import write_session
from connector.store.models import Message, MessageKind, Reminder, ReminderState, Shop, Step
from tests.conftest import REFERENCE_TABLES
from tests.support.builders import add_invoices, normalized, paris

START = date(2026, 6, 1)  # a Monday
SEQUENCES = ("default", "alt")

edits = st.one_of(
    st.tuples(st.just("tick"), st.integers(min_value=1, max_value=9)),
    st.tuples(st.just("rule"), st.sampled_from(("none", "all", "b2b", "big", "consumers"))),
    st.tuples(st.just("add"), st.sampled_from(SEQUENCES), st.integers(-5, 40)),
    st.tuples(st.just("remove"), st.sampled_from(SEQUENCES), st.integers(0, 8)),
    st.tuples(st.just("move"), st.sampled_from(SEQUENCES), st.integers(0, 8), st.booleans()),
    st.tuples(
        st.just("offset"), st.sampled_from(SEQUENCES), st.integers(0, 8), st.integers(-5, 40)
    ),
)


def _reset(services: Services) -> None:
    with write_session(services.sessions) as s:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in REFERENCE_TABLES:  # shipped data (the ECB rates) stays
                s.execute(delete(table))
    shutil.rmtree(services.settings.outbox_dir, ignore_errors=True)


def _steps(services: Services, seq_id: int) -> list[Step]:
    with services.sessions() as s:
        return list(
            s.scalars(
                select(Step)
                .where(Step.sequence_id == seq_id, Step.active.is_(True))
                .order_by(Step.offset_days)
            )
        )


def _evidence(services: Services) -> dict[int, tuple[object, ...]]:
    with services.sessions() as s:
        return {
            r.id: (r.invoice_id, r.step_key, r.due_on, r.recipient, r.subject, r.body_text)
            for r in s.scalars(select(Reminder).where(Reminder.state == ReminderState.SENT))
        }


def _apply(services: Services, shop_id: int, seqs: dict[str, int], edit: tuple) -> None:
    kind = edit[0]
    try:
        if kind == "rule":
            for rule in list_rules(services, shop_id):
                delete_rule(services, shop_id, rule.id)
            target = {
                "all": RuleInput(seqs["alt"]),
                "b2b": RuleInput(seqs["alt"], b2b=True),
                "big": RuleInput(seqs["alt"], min_amount="500"),
                "consumers": RuleInput(seqs["alt"], b2b=False),
            }.get(edit[1])
            if target is not None:
                add_rule(services, shop_id, target)
        elif kind == "add":
            add_step(services, shop_id, seqs[edit[1]], StepInput(offset_days=edit[2]))
        else:
            steps = _steps(services, seqs[edit[1]])
            step = steps[edit[2] % len(steps)]
            if kind == "remove":
                remove_step(services, shop_id, step.id)
            elif kind == "move":
                move_step(services, shop_id, step.id, edit[3])
            elif kind == "offset":
                update_step(
                    services,
                    shop_id,
                    step.id,
                    StepInput(
                        offset_days=edit[3],
                        channel=step.channel.value,
                        tone=step.tone,
                        show_penalties=step.show_penalties,
                        sends_letter=step.sends_letter,
                        hands_off=step.hands_off,
                        new_deadline_days=step.new_deadline_days,
                    ),
                )
    except SequenceError:
        pass  # refused edits (a duplicate day, the last step) change nothing


def _check_invariants(services: Services, evidence: dict[int, tuple[object, ...]]) -> None:
    with services.sessions() as s:
        by_invoice: dict[int, list[Reminder]] = {}
        for rem in s.scalars(select(Reminder).order_by(Reminder.id)):
            by_invoice.setdefault(rem.invoice_id, []).append(rem)
        for rows in by_invoice.values():
            days = [r.due_on for r in rows]
            # Each reminder row is for a later step day than every earlier one: a step the
            # invoice passed (sent, skipped, under any sequence) never comes back.
            assert days == sorted(days) and len(set(days)) == len(days), [
                (r.step_key, r.due_on, r.state.value) for r in rows
            ]
        per_day = Counter(
            (m.customer_id, m.local_day)
            for m in s.scalars(select(Message).where(Message.kind == MessageKind.REMINDER))
        )
        assert all(n == 1 for n in per_day.values())  # one message per customer per day
        # Only the latest due step of an invoice goes out on a day: never two in one message.
        per_invoice_day = Counter(
            (rem.invoice_id, day)
            for rem, day in s.execute(
                select(Reminder, Message.local_day).join(Message, Message.id == Reminder.message_id)
            )
        )
        assert all(n == 1 for n in per_invoice_day.values())
    now = _evidence(services)
    for rid, row in evidence.items():
        assert now.get(rid) == row  # the evidence of what went out is never rewritten


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(edits, min_size=3, max_size=10))
def test_random_edits_and_ticks_keep_the_invariants(services: Services, plan: list[tuple]) -> None:
    _reset(services)
    with write_session(services.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="compta@atelier.example").id
    with services.sessions() as s:
        shop = s.get(Shop, shop_id)
        assert shop is not None
    add_invoices(
        services,
        shop,
        [
            normalized("A-1", email="a@client.example", due_on=START + timedelta(days=3)),
            normalized("A-2", email="a@client.example", amount="900", due_on=START + timedelta(6)),
            normalized("B-1", email="b@acme.example", b2b=True, due_on=START + timedelta(days=1)),
        ],
    )
    alt = create_sequence(services, shop_id, "alt")
    with services.sessions() as s:
        default = s.scalar(select(Step.sequence_id).where(Step.sequence_id != alt.id).limit(1))
    seqs = {"default": int(default or 0), "alt": alt.id}
    runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
    day = START
    evidence: dict[int, tuple[object, ...]] = {}
    for edit in [*plan, ("tick", 5), ("tick", 9)]:
        if edit[0] == "tick":
            day += timedelta(days=edit[1])
            runner.tick(paris(day))
            _check_invariants(services, evidence)
            evidence = _evidence(services)
        else:
            _apply(services, shop_id, seqs, edit)
