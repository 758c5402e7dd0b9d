"""The schedule keeps its word (issue 9, items 1–2): no step before the deadline an earlier
message announced has passed; a step before the due date goes out strictly before it, on the
last allowed day at or before its own day, or is skipped — never sent on or after the due date.

Pure planner cases first (weekends, French holidays, the window, catch-up), then the runner on
both stores with the exact cases from the issue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from connector.domain.calendar import SendingWindow
from connector.dunning.planner import Action, History, InvoiceFacts, StepSpec, plan
from connector.dunning.runner import DunningRunner
from connector.dunning.sequence import DEFAULT_STEPS
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.models import Reminder, ReminderState, Shop, TimelineEntry, TimelineKind
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

STEPS = tuple(
    StepSpec(
        id=i + 1, key=key, offset_days=offset, channel=channel, new_deadline_days=deadline_days
    )
    for i, (key, offset, channel, _tone, _pen, _letter, _hands, deadline_days) in enumerate(
        DEFAULT_STEPS
    )
)
IDS = {s.key: s.id for s in STEPS}
WINDOW = SendingWindow("Europe/Paris")


def facts(due_on: date) -> InvoiceFacts:
    return InvoiceFacts(
        status=InvoiceStatus.OPEN, due_on=due_on, amount_due_minor=12000, is_b2b=True
    )


def history(*keys: str, deadline: date | None = None) -> History:
    return History(frozenset(IDS[k] for k in keys), len(keys), announced_deadline=deadline)


# -- item 1: a step never goes out before the deadline the previous message announced ----------


@pytest.mark.parametrize(
    ("due_on", "deadline", "now", "expected_send_day"),
    [
        # Final warning of 28 May said « au plus tard le 5 juin »: the notice waits for 6 June
        # (a Saturday) → Monday 8 June, though its own day (1 June) has long passed.
        (date(2026, 5, 2), date(2026, 6, 5), paris(date(2026, 6, 1)), date(2026, 6, 8)),
        # Final warning of 29 June said « au plus tard le 7 juillet »: not on 6 July but 8 July.
        (date(2026, 6, 6), date(2026, 7, 7), paris(date(2026, 7, 6)), date(2026, 7, 8)),
        # The day after the deadline is 14 July: the next allowed day, 15 July.
        (date(2026, 6, 1), date(2026, 7, 13), paris(date(2026, 7, 13)), date(2026, 7, 15)),
    ],
)
def test_the_next_step_waits_for_the_announced_deadline(
    due_on: date, deadline: date, now: datetime, expected_send_day: date
) -> None:
    done = history("courtesy", "reminder_1", "reminder_2", "reminder_3", "final_warning")
    waiting = plan(
        facts(due_on), STEPS, History(done.done_step_ids, 5, False, deadline), now, WINDOW
    )
    assert waiting.action is Action.WAIT, waiting.reason
    assert waiting.next_action_at == paris(expected_send_day, 9)
    # The day after the deadline, at the window's opening, it goes.
    then = plan(
        facts(due_on),
        STEPS,
        History(done.done_step_ids, 5, False, deadline),
        paris(expected_send_day, 9),
        WINDOW,
    )
    assert then.action is Action.SEND
    assert then.step is not None and then.step.key == "formal_notice"


def test_a_catch_up_does_not_jump_the_announced_deadline() -> None:
    # reminder_2 (5-day deadline) went out on 17 June, then a week of downtime: on 24 June
    # reminder_3 (D+14) and final_warning (D+21) are both "due", but 22 June had been promised.
    due_on = date(2026, 6, 3)
    h = history("courtesy", "reminder_1", "reminder_2", deadline=date(2026, 6, 22))
    assert plan(facts(due_on), STEPS, h, paris(date(2026, 6, 22)), WINDOW).action is Action.WAIT
    after = plan(facts(due_on), STEPS, h, paris(date(2026, 6, 24)), WINDOW)
    assert after.action is Action.SEND
    assert after.step is not None and after.step.key == "final_warning"


# -- item 2: the courtesy goes before the due date, or not at all ------------------------------


@pytest.mark.parametrize(
    ("due_on", "send_day"),
    [
        # D-2 on a Saturday: Friday D-3, never Monday (the due date).
        (date(2026, 6, 1), date(2026, 5, 29)),
        # D-2 is Friday 1 May (Labour Day): Thursday 30 April.
        (date(2026, 5, 3), date(2026, 4, 30)),
        # D-2 is Ascension Thursday (14 May 2026): Wednesday 13 May.
        (date(2026, 5, 16), date(2026, 5, 13)),
        # D-2 is Tuesday 14 July: Monday 13 July.
        (date(2026, 7, 16), date(2026, 7, 13)),
        # An ordinary Monday D-2: that day.
        (date(2026, 6, 10), date(2026, 6, 8)),
    ],
)
def test_the_courtesy_goes_on_the_last_allowed_day_at_or_before_d_minus_2(
    due_on: date, send_day: date
) -> None:
    before = plan(facts(due_on), STEPS, history(), paris(send_day - timedelta(days=1), 20), WINDOW)
    assert before.action is Action.WAIT
    assert before.next_action_at == paris(send_day, 9)
    on_time = plan(facts(due_on), STEPS, history(), paris(send_day), WINDOW)
    assert on_time.action is Action.SEND
    assert on_time.step is not None and on_time.step.key == "courtesy"


@pytest.mark.parametrize(
    ("due_on", "now"),
    [
        # The due date itself (Monday), the Friday missed: skipped, not sent late.
        (date(2026, 6, 1), paris(date(2026, 6, 1))),
        # The weekend before a Monday due date: the next opening is the due date.
        (date(2026, 6, 1), paris(date(2026, 5, 30))),
        # D-1 after the window closed: the next opening is the due date.
        (date(2026, 6, 10), paris(date(2026, 6, 9), 19)),
        # D-1 is 14 July (a holiday) and D-2 has passed: no allowed day before 15 July.
        (date(2026, 7, 15), paris(date(2026, 7, 14))),
    ],
)
def test_a_courtesy_with_no_allowed_time_left_before_the_due_date_is_skipped(
    due_on: date, now: datetime
) -> None:
    result = plan(facts(due_on), STEPS, history(), now, WINDOW)
    assert result.action is Action.SKIP, result.reason
    assert [s.key for s in result.skipped] == ["courtesy"]
    assert str(due_on) in result.reason


def test_a_late_courtesy_still_goes_while_the_due_date_is_ahead() -> None:
    # Downtime on D-2 (Monday): D-1 inside the window still reaches the customer before D.
    result = plan(facts(date(2026, 6, 10)), STEPS, history(), paris(date(2026, 6, 9)), WINDOW)
    assert result.action is Action.SEND
    assert result.step is not None and result.step.key == "courtesy"


# -- through the runner, on both stores --------------------------------------------------------


def _tick_days(runner: DunningRunner, first: date, last: date, hour: int = 10) -> None:
    day = first
    while day <= last:
        runner.tick(paris(day, hour))
        day += timedelta(days=1)


def _sent(services: Services) -> list[tuple[str, str]]:
    return [(str(m["step"]), str(m["invoice"])) for m in outbox_messages(services)]


def test_formal_notice_not_before_the_final_warnings_deadline(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    # Due Saturday 2 May; the engine was down until Thursday 28 May: the final warning (D+21)
    # goes that day, announcing 5 June; the formal notice's own day (D+30) is 1 June.
    add_invoices(
        services,
        shop,
        [normalized("F-28", email="a@client.example", due_on=date(2026, 5, 2), b2b=True)],
    )
    runner = make_runner()
    runner.tick(paris(date(2026, 5, 28)))
    mails = outbox_messages(services)
    assert [m["step"] for m in mails] == ["final_warning"]
    assert "5 juin 2026" in str(mails[0]["text"])
    # The tick does not spin: the invoice is next looked at when the notice may go.
    assert invoice_by_number(services, "F-28").next_action_at == paris(date(2026, 6, 8), 9)
    _tick_days(runner, date(2026, 5, 29), date(2026, 6, 7))
    with services.sessions() as s:
        notice = s.scalar(select(Reminder).where(Reminder.step_key == "formal_notice"))
        assert notice is None
    runner.tick(paris(date(2026, 6, 8)))
    with services.sessions() as s:
        notice = s.scalar(select(Reminder).where(Reminder.step_key == "formal_notice"))
        assert notice is not None and notice.state is ReminderState.SENT
        assert notice.sent_at is not None and notice.sent_at.date() == date(2026, 6, 8)
        warning = s.scalar(select(Reminder).where(Reminder.step_key == "final_warning"))
        assert warning is not None and warning.deadline_on == date(2026, 6, 5)


def test_courtesy_before_a_monday_due_date_goes_on_friday(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services, shop, [normalized("F-29", email="b@client.example", due_on=date(2026, 6, 1))]
    )
    runner = make_runner()
    _tick_days(runner, date(2026, 5, 27), date(2026, 6, 1))
    mails = outbox_messages(services)
    assert [m["step"] for m in mails] == ["courtesy"]
    with services.sessions() as s:
        courtesy = s.scalar(select(Reminder).where(Reminder.step_key == "courtesy"))
        assert courtesy is not None and courtesy.sent_at == paris(date(2026, 5, 29))


def test_courtesy_with_no_day_left_before_the_due_date_is_skipped_with_a_reason(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    # Imported on Saturday 30 May, due Monday 1 June: no allowed day remains before it.
    add_invoices(
        services, shop, [normalized("F-30", email="c@client.example", due_on=date(2026, 6, 1))]
    )
    runner = make_runner()
    _tick_days(runner, date(2026, 5, 30), date(2026, 6, 1))
    assert _sent(services) == []
    with services.sessions() as s:
        courtesy = s.scalar(select(Reminder).where(Reminder.step_key == "courtesy"))
        assert courtesy is not None and courtesy.state is ReminderState.SKIPPED
        assert courtesy.reason is not None and "before the due date" in courtesy.reason
        kinds = s.scalars(select(TimelineEntry.kind)).all()
        assert TimelineKind.REMINDER_SKIPPED in kinds
    # The sequence carries on: reminder_1 on D+1 (Tuesday 2 June).
    assert invoice_by_number(services, "F-30").next_action_at == paris(date(2026, 6, 2), 9)
    runner.tick(paris(date(2026, 6, 2)))
    assert _sent(services) == [("reminder_1", "F-30")]
