"""The pure planner: invoice + sequence + history + now → what to do, and when to look again.

No I/O. The runner feeds it facts read inside its claim transaction and applies the plan there.
Invariants it encodes (design §6): nothing for what is not owed, paused, excluded or erased;
only the latest due step after downtime (the passed ones are skipped with a reason); sending
only inside the shop's window; at most one email per customer per local day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from connector.domain.calendar import SendingWindow
from connector.domain.prescription import is_prescribed
from connector.platform import InvoiceStatus
from connector.store.models.dunning import Channel


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


@dataclass(frozen=True, slots=True)
class History:
    done_step_ids: frozenset[int] = frozenset()  # steps with a reminder row in any state
    sent_count: int = 0
    customer_emailed_today: bool = False


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


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    next_action_at: datetime | None = None  # WAIT: when to look again
    step: StepSpec | None = None  # SEND
    skipped: tuple[StepSpec, ...] = field(default_factory=tuple)
    reason: str = ""


def step_day(facts: InvoiceFacts, step: StepSpec) -> date:
    return facts.due_on + timedelta(days=step.offset_days)


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
    if is_prescribed(facts.due_on, today, is_b2b=facts.is_b2b):
        return Plan(Action.PRESCRIBE, reason="prescribed: the claim is time-barred")

    remaining = sorted(
        (s for s in steps if s.id not in history.done_step_ids), key=lambda s: s.offset_days
    )
    if not remaining:
        return Plan(Action.HAND_OFF, reason="sequence finished without payment")
    due = [s for s in remaining if step_day(facts, s) <= today]
    if not due:
        return Plan(
            Action.WAIT,
            next_action_at=window.opening_on_or_after(step_day(facts, remaining[0])),
            reason=f"next step {remaining[0].key} on {step_day(facts, remaining[0])}",
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
        reason=f"{latest.key} due since {step_day(facts, latest)}",
    )


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
