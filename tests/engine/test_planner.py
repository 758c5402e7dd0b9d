"""The pure planner: a table of situations and what must happen."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from connector.domain.calendar import SendingWindow
from connector.dunning.planner import (
    Action,
    EscalationPolicy,
    History,
    InvoiceFacts,
    StepSpec,
    plan,
)
from connector.dunning.sequence import DEFAULT_STEPS
from connector.platform import InvoiceStatus
from tests.support.builders import paris

STEPS = tuple(
    StepSpec(id=i + 1, key=key, offset_days=offset, channel=channel)
    for i, (key, offset, channel, *_rest) in enumerate(DEFAULT_STEPS)
)
IDS = {s.key: s.id for s in STEPS}
WINDOW = SendingWindow("Europe/Paris")
DUE = date(2026, 6, 10)  # a Wednesday


def facts(**kw: object) -> InvoiceFacts:
    base: dict[str, object] = {
        "status": InvoiceStatus.OPEN,
        "due_on": DUE,
        "amount_due_minor": 12000,
        "is_b2b": False,
    }
    base.update(kw)
    return InvoiceFacts(**base)  # type: ignore[arg-type]


def done(*keys: str, sent: int | None = None) -> History:
    return History(frozenset(IDS[k] for k in keys), len(keys) if sent is None else sent)


@pytest.mark.parametrize(
    ("now", "history", "action", "step", "skipped"),
    [
        # Before the courtesy day: wait for it, at the window's opening.
        (paris(date(2026, 6, 1)), done(), Action.WAIT, None, ()),
        # Courtesy day (D-2, a Monday), inside the window.
        (paris(date(2026, 6, 8)), done(), Action.SEND, "courtesy", ()),
        # D+1 after the courtesy went out.
        (paris(date(2026, 6, 11)), done("courtesy"), Action.SEND, "reminder_1", ()),
        # Ten days without any tick after the courtesy: only the latest due step goes out.
        (
            paris(date(2026, 6, 18)),
            done("courtesy"),
            Action.SEND,
            "reminder_2",
            ("reminder_1",),
        ),
        # Nothing ever sent and already D+15: reminder_3, everything before skipped.
        (
            paris(date(2026, 6, 25)),
            done(),
            Action.SEND,
            "reminder_3",
            ("courtesy", "reminder_1", "reminder_2"),
        ),
        # The whole sequence done: over to a person.
        (
            paris(date(2026, 8, 3)),
            done(*IDS),
            Action.HAND_OFF,
            None,
            (),
        ),
    ],
)
def test_due_steps(
    now: datetime, history: History, action: Action, step: str | None, skipped: tuple[str, ...]
) -> None:
    result = plan(facts(), STEPS, history, now, WINDOW)
    assert result.action is action, result.reason
    assert (result.step.key if result.step else None) == step
    assert tuple(s.key for s in result.skipped) == skipped


def test_wait_points_at_the_next_steps_window_opening() -> None:
    result = plan(facts(), STEPS, done(), paris(date(2026, 6, 1)), WINDOW)
    assert result.next_action_at == paris(date(2026, 6, 8), 9)


def test_outside_the_window_waits_for_the_next_opening() -> None:
    evening = paris(date(2026, 6, 11), 19)
    result = plan(facts(), STEPS, done("courtesy"), evening, WINDOW)
    assert result.action is Action.WAIT
    assert result.next_action_at == paris(date(2026, 6, 12), 9)


def test_a_step_falling_on_a_weekend_waits_for_monday() -> None:
    # Due Thursday 2026-06-11 → D+1 is Friday; D+7 = Thursday; use a due date whose D+1 is a
    # Saturday: due Friday 2026-06-12.
    f = facts(due_on=date(2026, 6, 12))
    saturday = paris(date(2026, 6, 13), 10)
    result = plan(f, STEPS, done("courtesy"), saturday, WINDOW)
    assert result.action is Action.WAIT
    assert result.next_action_at == paris(date(2026, 6, 15), 9)


def test_bastille_day_is_skipped() -> None:
    f = facts(due_on=date(2026, 7, 13))  # D+1 = Tuesday 14 July, a public holiday
    result = plan(f, STEPS, done("courtesy"), paris(date(2026, 7, 14), 10), WINDOW)
    assert result.action is Action.WAIT
    assert result.next_action_at == paris(date(2026, 7, 15), 9)


def test_one_email_per_customer_per_day() -> None:
    history = History(frozenset({IDS["courtesy"]}), 1, customer_emailed_today=True)
    result = plan(facts(), STEPS, history, paris(date(2026, 6, 11)), WINDOW)
    assert result.action is Action.WAIT
    assert result.next_action_at == paris(date(2026, 6, 12), 9)


@pytest.mark.parametrize(
    ("kw", "action"),
    [
        ({"status": InvoiceStatus.PAID}, Action.STOP),
        ({"status": InvoiceStatus.VOID}, Action.STOP),
        ({"status": InvoiceStatus.REFUNDED}, Action.STOP),
        ({"status": InvoiceStatus.DISPUTED}, Action.STOP),
        ({"customer_excluded": True}, Action.STOP),
        ({"customer_erased": True}, Action.STOP),
        ({"handed_off": True}, Action.STOP),
        ({"paused": True}, Action.STOP),
        ({"paused": True, "paused_until": paris(date(2026, 7, 1))}, Action.WAIT),
        ({"email_blocked": True}, Action.HAND_OFF),
    ],
)
def test_nothing_goes_to_who_must_not_get_it(kw: dict[str, object], action: Action) -> None:
    result = plan(facts(**kw), STEPS, done("courtesy"), paris(date(2026, 6, 11)), WINDOW)
    assert result.action is action
    assert result.step is None


def test_a_pause_that_ended_lets_the_sequence_resume() -> None:
    f = facts(paused=True, paused_until=paris(date(2026, 6, 11), 8))
    result = plan(f, STEPS, done("courtesy"), paris(date(2026, 6, 11)), WINDOW)
    assert result.action is Action.SEND


def test_hand_off_after_n_reminders() -> None:
    policy = EscalationPolicy(after_reminders=3)
    history = done("courtesy", "reminder_1", "reminder_2")
    assert plan(facts(), STEPS, history, paris(date(2026, 6, 25)), WINDOW, policy).action is (
        Action.HAND_OFF
    )
    fewer = done("courtesy", "reminder_1")
    assert plan(facts(), STEPS, fewer, paris(date(2026, 6, 18)), WINDOW, policy).action is (
        Action.SEND
    )


def test_hand_off_above_threshold_only_once_overdue() -> None:
    policy = EscalationPolicy(above_minor=100_000)
    big = facts(amount_due_minor=250_000)
    courtesy = plan(big, STEPS, done(), paris(date(2026, 6, 8)), WINDOW, policy)
    assert courtesy.action is Action.SEND  # the courtesy note still goes
    overdue = plan(big, STEPS, done("courtesy"), paris(date(2026, 6, 11)), WINDOW, policy)
    assert overdue.action is Action.HAND_OFF


@pytest.mark.parametrize(("b2b", "years"), [(False, 2), (True, 5)])
def test_prescription_stops_and_flags(b2b: bool, years: int) -> None:
    f = facts(is_b2b=b2b, due_on=date(2020, 6, 10))
    day = date(2020 + years, 6, 10)
    assert plan(f, STEPS, done(), paris(day), WINDOW).action is Action.PRESCRIBE
    before = plan(f, STEPS, done(), paris(day - timedelta(days=1)), WINDOW)
    assert before.action is not Action.PRESCRIBE


def test_dst_change_keeps_local_window() -> None:
    # Sunday 2026-03-29: clocks go forward. Due Friday 27 March → D+1 Saturday → Monday 30.
    f = facts(due_on=date(2026, 3, 27))
    result = plan(f, STEPS, done("courtesy"), paris(date(2026, 3, 28)), WINDOW)
    assert result.next_action_at == datetime.combine(date(2026, 3, 30), time(7), tzinfo=UTC)
