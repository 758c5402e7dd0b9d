"""The pure planner: invoice + sequence + history + now → what to do, and when to look again.

No I/O. The runner feeds it facts read inside its claim transaction and applies the plan there.
Invariants it encodes (design §6): nothing for what is not owed, paused, excluded or erased;
only the latest due step after downtime (the passed ones are skipped with a reason); sending
only inside the shop's window; at most one email per customer per local day; the schedule keeps
its word: no step before the deadline an earlier message announced has passed, and a step before
the due date goes out strictly before it (on the last allowed day at or before its day), or not
at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from connector.domain.calendar import SendingWindow
from connector.domain.prescription import is_prescribed
from connector.platform import InvoiceStatus
from connector.store.models.dunning import Channel, StepContent


@dataclass(frozen=True, slots=True)
class StepSpec:
    id: int
    key: str
    offset_days: int
    channel: Channel
    sends_letter: bool = False
    hands_off: bool = False
    show_penalties: bool = False
    new_deadline_days: int | None = None
    tone: str = "polite"
    asks_payment: bool = True  # every sequence step; not the thank-you note
    content: StepContent = StepContent.REMINDER  # a statement step sends the statement
    # The owner's wording of this step: (template name "<language>/<key>", Jinja source) pairs;
    # empty: the shipped templates speak. Rendered only in the limited pool (render_pool).
    templates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    status: InvoiceStatus
    due_on: date  # the due date in the shop's timezone
    amount_due_minor: int
    is_b2b: bool
    paused: bool = False
    paused_until: datetime | None = None  # None with paused=True: until resumed by hand
    customer_excluded: bool = False
    customer_erased: bool = False
    email_blocked: bool = False
    handed_off: bool = False
    prescribed: bool = False
    # The shop's "prescription" setting: off, a time-barred claim is still reminded (an owner
    # who interrupted the period: acknowledged debt, legal action).
    prescription_applies: bool = True


@dataclass(frozen=True, slots=True)
class History:
    done_step_ids: frozenset[int] = frozenset()  # steps with a reminder row in any state
    sent_count: int = 0
    customer_emailed_today: bool = False
    # The latest deadline a message of this invoice announced (shop-local): nothing before the
    # day after it, whatever the sequence's offsets or a catch-up say.
    announced_deadline: date | None = None
    # How far along its sequence this invoice's reminders went, on the sequence's own basis:
    # the largest offset (days after the day it counted from) of any step it had, whatever
    # sequence that step belonged to and whatever became of it (sent, skipped…). A step whose
    # offset is not beyond it is behind the invoice: never sent. This is what makes a move to
    # another sequence, a new step or a changed offset never re-send what the customer already
    # got, nor pile up the steps it passed. An offset, not a day: under a payment plan the
    # steps count from the instalments, and a reminder of July's instalment at D+7 took the
    # invoice to the second reminder of the ladder, not to "the invoice's D+28" — read as a
    # day, it put the invoice's own third reminder and final warning behind it once the plan
    # was cancelled, and the next step was the formal notice (or a hand-off).
    reached_offset: int | None = None


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    after_reminders: int | None = None  # hand off after this many reminders sent unpaid
    above_minor: int | None = None  # hand off overdue invoices above this amount


class Action(StrEnum):
    SEND = "send"
    WAIT = "wait"
    STOP = "stop"
    HAND_OFF = "hand_off"
    PRESCRIBE = "prescribe"
    SKIP = "skip"  # steps before the due date that can no longer go out before it


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    next_action_at: datetime | None = None  # WAIT: when to look again
    step: StepSpec | None = None  # SEND
    skipped: tuple[StepSpec, ...] = field(default_factory=tuple)
    reason: str = ""


def step_day(facts: InvoiceFacts, step: StepSpec) -> date:
    return facts.due_on + timedelta(days=step.offset_days)


def announced_deadline(sent_on: date, new_deadline_days: int | None) -> date | None:
    """The deadline a message sent on ``sent_on`` (shop-local) announces, if its step sets one.

    The one computation: the message prints this date and the next step waits for it.
    """
    return sent_on + timedelta(days=new_deadline_days) if new_deadline_days else None


def step_deadline(step: StepSpec, sent_on: date, posting_delay_days: int) -> date | None:
    """The deadline ``step``, sent (or posted) on ``sent_on``, announces by itself.

    An email's deadline counts from its day; when a letter is the message (a letter or task
    step), from its receipt: ``posting_delay_days`` after it is posted.
    """
    start = sent_on if step.channel is Channel.EMAIL else sent_on + timedelta(posting_delay_days)
    return announced_deadline(start, step.new_deadline_days)


def behind(step: StepSpec, history: History) -> bool:
    """A step the invoice is already past: done itself, or not further along the sequence
    than any of its reminders took it (see History.reached_offset).

    Measured in steps of the ladder, not in calendar days: a French B2B sequence climbs from
    friendly reminders to the last notice before the mise en demeure, and each rung's wording
    rests on the ones before it. Under a payment plan the rungs are counted from the instalments;
    once the plan ends they are counted from the invoice's own due date again, from the rung the
    customer actually reached — then, as after a pause, only the latest step due goes out and
    the ones passed meanwhile are recorded as skipped. Never several at once, and never a formal
    notice the invoice's own schedule has not reached."""
    if step.id in history.done_step_ids:
        return True
    return history.reached_offset is not None and step.offset_days <= history.reached_offset


def before_due(step: StepSpec) -> bool:
    """A step meant to go out before the due date (a courtesy): never on or after it."""
    return step.offset_days < 0


def earliest_day(
    facts: InvoiceFacts, step: StepSpec, history: History, window: SendingWindow
) -> date:
    """The first shop-local day ``step`` may go out.

    A step before the due date goes on the last allowed day at or before its own day (D-2 on
    a Saturday: the Friday), so that it reaches the customer before the due date. Any step
    waits for the day after the deadline an earlier message announced.
    """
    day = step_day(facts, step)
    if before_due(step):
        day = window.allowed_day_on_or_before(day) or day
    if history.announced_deadline is not None:
        day = max(day, history.announced_deadline + timedelta(days=1))
    return day


def _first_chance(day: date, now: datetime, window: SendingWindow) -> datetime:
    """The first instant from ``now`` inside the window on or after ``day``."""
    return window.next_opening(max(now, window.opening_on_or_after(day)))


def _too_late(
    facts: InvoiceFacts, step: StepSpec, history: History, now: datetime, window: SendingWindow
) -> bool:
    """A step before the due date whose first possible sending falls on or after the due date."""
    if not before_due(step):
        return False
    chance = _first_chance(earliest_day(facts, step, history, window), now, window)
    return window.local_date(chance) >= facts.due_on


def plan(
    facts: InvoiceFacts,
    steps: Sequence[StepSpec],
    history: History,
    now: datetime,
    window: SendingWindow,
    escalation: EscalationPolicy = EscalationPolicy(),
) -> Plan:
    stop = _stopped(facts, now)
    if stop is not None:
        return stop
    today = window.local_date(now)
    if facts.prescription_applies and is_prescribed(facts.due_on, today, is_b2b=facts.is_b2b):
        return Plan(Action.PRESCRIBE, reason="prescribed: the claim is time-barred")

    remaining = sorted((s for s in steps if not behind(s, history)), key=lambda s: s.offset_days)
    if not remaining:
        return Plan(Action.HAND_OFF, reason="sequence finished without payment")
    due = [s for s in remaining if earliest_day(facts, s, history, window) <= today]
    too_late = tuple(s for s in remaining if _too_late(facts, s, history, now, window))
    if too_late and (not due or due[-1] in too_late):
        return Plan(
            Action.SKIP,
            skipped=too_late,
            reason=f"no allowed sending time left before the due date {facts.due_on}",
        )
    if not due:
        first = remaining[0]
        first_day = earliest_day(facts, first, history, window)
        return Plan(
            Action.WAIT,
            next_action_at=window.opening_on_or_after(first_day),
            reason=f"next step {first.key} on {first_day}",
        )

    latest, passed = due[-1], tuple(due[:-1])
    overdue = step_day(facts, latest) > facts.due_on
    if escalation.after_reminders is not None and history.sent_count >= escalation.after_reminders:
        return Plan(
            Action.HAND_OFF,
            reason=f"{history.sent_count} reminders sent without payment",
        )
    if (
        overdue
        and escalation.above_minor is not None
        and (facts.amount_due_minor > escalation.above_minor)
    ):
        return Plan(Action.HAND_OFF, reason="amount above the hand-off threshold")
    if latest.channel is Channel.EMAIL and facts.email_blocked:
        return Plan(Action.HAND_OFF, reason="the customer's email address bounced")
    if not window.contains(now):
        return Plan(Action.WAIT, next_action_at=window.next_opening(now), reason="outside window")
    if latest.channel is Channel.EMAIL and history.customer_emailed_today:
        return Plan(
            Action.WAIT,
            next_action_at=window.opening_on_or_after(today + timedelta(days=1)),
            reason="customer already received a message today",
        )
    return Plan(
        Action.SEND,
        step=latest,
        skipped=passed,
        reason=f"{latest.key} due since {earliest_day(facts, latest, history, window)}",
    )


def plan_retry(
    facts: InvoiceFacts, step: StepSpec, history: History, now: datetime, window: SendingWindow
) -> Plan:
    """The one retry of a bounced email step whose address the owner fixed: the rules of any
    send (owed, not paused or handed off, address usable, inside the window, one email per
    customer per day). STOP: not now and not by itself later (the retry stays allowed)."""
    stop = _stopped(facts, now)
    if stop is not None:
        return stop
    if facts.email_blocked:
        return Plan(Action.STOP, reason="email address blocked")
    today = window.local_date(now)
    if facts.prescription_applies and is_prescribed(facts.due_on, today, is_b2b=facts.is_b2b):
        return Plan(Action.STOP, reason="prescribed: the claim is time-barred")
    if not window.contains(now):
        return Plan(Action.WAIT, next_action_at=window.next_opening(now), reason="outside window")
    if history.customer_emailed_today:
        return Plan(
            Action.WAIT,
            next_action_at=window.opening_on_or_after(today + timedelta(days=1)),
            reason="customer already received a message today",
        )
    return Plan(Action.SEND, step=step, reason=f"{step.key} sent again: address fixed")


def _stopped(facts: InvoiceFacts, now: datetime) -> Plan | None:
    if not facts.status.is_owed:
        return Plan(Action.STOP, reason=f"not owed ({facts.status.value})")
    if facts.customer_erased:
        return Plan(Action.STOP, reason="customer erased")
    if facts.customer_excluded:
        return Plan(Action.STOP, reason="customer excluded")
    if facts.handed_off:
        return Plan(Action.STOP, reason="handed to a person")
    if facts.prescribed:
        return Plan(Action.STOP, reason="prescribed")
    if facts.paused:
        if facts.paused_until is None:
            return Plan(Action.STOP, reason="paused until resumed")
        if facts.paused_until > now:
            return Plan(Action.WAIT, next_action_at=facts.paused_until, reason="paused")
    return None


def skip_reason(passed: StepSpec, latest: StepSpec) -> str:
    return f"passed while no reminder could go out; superseded by {latest.key}"
