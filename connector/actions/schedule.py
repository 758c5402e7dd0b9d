"""What the engine will do next for an invoice, as the owner's page shows it: the next planned
step and its day, computed by the engine's own planner rules (connector.dunning.planner) from
the same facts a tick reads — never a second copy of the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.dunning.claims import ANNOUNCES_DEADLINE, COUNTS_AS_SENT, facts_for
from connector.dunning.payment_ways import can_be_paid
from connector.dunning.planner import (
    Action,
    History,
    InvoiceFacts,
    StepSpec,
    behind,
    earliest_day,
    plan,
)
from connector.dunning.rules import sending_window
from connector.dunning.sequence import step_specs
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    Reminder,
    Sequence,
    Shop,
)

WAITS_FOR_A_WAY_TO_PAY = (
    "waits until it can say how to pay: no payment link, and no payment instructions in Settings"
)


@dataclass(frozen=True, slots=True)
class NextStep:
    """The next step the engine plans (``key`` None: nothing planned, ``note`` says why)."""

    key: str | None
    channel: Channel | None = None
    on: date | None = None  # shop-local day it may go out
    at: datetime | None = None  # the first instant inside the sending window that day
    note: str = ""


@dataclass(frozen=True, slots=True)
class Schedule:
    """An invoice's sequence as the engine sees it now."""

    steps: tuple[StepSpec, ...]
    facts: InvoiceFacts
    history: History
    today: date


def sequence_steps(session: Session, shop: Shop, invoice: Invoice) -> tuple[StepSpec, ...]:
    """The active steps of the invoice's sequence (the shop's default when it has none)."""
    query = select(Sequence).where(Sequence.shop_id == shop.id)
    if invoice.sequence_id is not None:
        query = query.where(Sequence.id == invoice.sequence_id)
    else:
        query = query.where(Sequence.is_default.is_(True))
    seq = session.scalar(query.limit(1))
    return step_specs(seq) if seq is not None else ()


def schedule_of(
    session: Session, shop: Shop, invoice: Invoice, customer: Customer, now: datetime
) -> Schedule:
    done: set[int] = set()
    sent = 0
    deadline: date | None = None
    reached: int | None = None  # the offset reached, as a tick counts it (planner.History)
    for step_id, state, deadline_on, due_on, counted_from in session.execute(
        select(
            Reminder.step_id,
            Reminder.state,
            Reminder.deadline_on,
            Reminder.due_on,
            Reminder.counted_from,
        ).where(Reminder.invoice_id == invoice.id)
    ):
        done.add(step_id)
        offset = (due_on - counted_from).days
        reached = offset if reached is None else max(reached, offset)
        sent += state in COUNTS_AS_SENT
        if deadline_on is not None and state in ANNOUNCES_DEADLINE:
            deadline = max(deadline_on, deadline or deadline_on)
    window = sending_window(shop)
    return Schedule(
        sequence_steps(session, shop, invoice),
        facts_for(invoice, customer, shop),
        History(frozenset(done), sent, False, deadline, reached),
        window.local_date(now),
    )


def next_step(
    session: Session, shop: Shop, invoice: Invoice, customer: Customer, now: datetime
) -> NextStep:
    """The next step the engine will send for this invoice, and when."""
    sched = schedule_of(session, shop, invoice, customer, now)
    facts = sched.facts
    window = sending_window(shop)
    # The planner's own verdict with no step left to send says whether it stops here.
    verdict = plan(facts, (), sched.history, now, window)
    if verdict.action in (Action.STOP, Action.PRESCRIBE):
        return NextStep(None, note=verdict.reason)
    remaining = sorted(
        (s for s in sched.steps if not behind(s, sched.history)),
        key=lambda s: s.offset_days,
    )
    if not remaining:
        return NextStep(None, note="sequence finished")
    due = [s for s in remaining if earliest_day(facts, s, sched.history, window) <= sched.today]
    step = due[-1] if due else remaining[0]
    day = max(earliest_day(facts, step, sched.history, window), sched.today)
    start = now
    if facts.paused_until is not None and facts.paused_until > now:
        start = facts.paused_until
        day = max(day, window.local_date(start))
    at = window.next_opening(max(start, window.opening_on_or_after(day)))
    notes = ["counted from the next instalment"] if invoice.plan_due_at is not None else []
    # The engine's own gate before a claim (claims.Claimer._payable): it waits, and says so.
    if step.asks_payment and not can_be_paid(invoice.payment_url, shop.payment_instructions):
        notes.append(WAITS_FOR_A_WAY_TO_PAY)
    return NextStep(step.key, step.channel, window.local_date(at), at, "; ".join(notes))
