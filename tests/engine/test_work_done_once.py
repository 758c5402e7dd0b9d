"""Work not done again for nothing: a customer whose step waits for a way to pay is not planned
again every minute (nor under the write lock), and a B2B message quoting ECB-based interest is
rendered once, its batch's snapshot reading the same ECB rates as the locked re-read."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from connector.dunning.claims import Claimer
from connector.dunning.runner import DunningRunner
from connector.dunning.send_batch import BatchSender
from connector.services import Services
from connector.store.db import is_sqlite, write_session
from connector.store.models import Invoice, Message, Shop, Task, TaskKind, TimelineEntry
from connector.store.rates import put_ecb_rate
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, normalized, paris

DUE = date(2026, 6, 10)
FIRST_REMINDER_DAY = date(2026, 6, 11)


def test_a_step_waiting_for_a_way_to_pay_is_looked_at_again_tomorrow_not_every_minute(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No payment link, no payment instructions: the step waits. The owner's task is opened
    once; the waiting invoices are not planned again before tomorrow's opening, and on SQLite
    they are planned in the read transaction, never again under the write lock."""
    add_invoices(
        services,
        shop,
        [
            dataclasses.replace(
                normalized(f"F-{n}", email=f"c{n}@client.example", due_on=DUE), payment_url=None
            )
            for n in range(3)
        ],
    )
    under_lock: list[int] = []
    claim_customers = Claimer.claim_customers

    def counted(self: Claimer, customer_ids: Any, *args: Any, **kwargs: Any) -> Any:
        ids = list(customer_ids)
        under_lock.extend(ids)
        return claim_customers(self, ids, *args, **kwargs)

    monkeypatch.setattr(Claimer, "claim_customers", counted)
    runner = make_runner()
    first = paris(FIRST_REMINDER_DAY, 10)
    for minute in range(4):
        runner.tick(first + timedelta(minutes=minute))
    if is_sqlite(services.engine):
        assert under_lock == []  # planned read-only, the task written by the write
    with services.sessions() as s:
        tasks = s.scalars(select(Task).where(Task.kind == TaskKind.PAYMENT_INSTRUCTIONS)).all()
        looks = set(s.scalars(select(Invoice.next_action_at)))
        lines = s.scalar(select(func.count()).select_from(TimelineEntry))
        messages = s.scalar(select(func.count()).select_from(Message))
    assert [t.shop_id for t in tasks] == [shop.id]
    assert looks == {paris(FIRST_REMINDER_DAY + timedelta(days=1), 9)}, looks
    assert messages == 0
    assert lines == 3  # each invoice's arrival, nothing per tick
    assert outbox_messages(services) == []


def test_b2b_messages_quoting_interest_across_half_years_are_rendered_once(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """B2B invoices overdue across 1 July, whose two half-years' ECB rates differ: the batch's
    snapshot renders each message with the rates the locked re-read sees, so none is rendered
    a second time by the one-message path."""
    count = 6
    due = date(2026, 6, 25)
    with write_session(services.sessions) as s:
        put_ecb_rate(s, shop.id, date(2026, 1, 1), 215)
        put_ecb_rate(s, shop.id, date(2026, 7, 1), 340)
    add_invoices(
        services,
        shop,
        [
            normalized(f"B-{n}", email=f"b{n}@pro.example", due_on=due, b2b=True)
            for n in range(count)
        ],
    )
    runner = make_runner()
    runner.tick(paris(due + timedelta(days=1), 10))  # reminder_1: no interest shown
    now = paris(due + timedelta(days=7), 10)  # reminder_2 shows the interest, in July
    sqlite = is_sqlite(services.engine)
    with write_session(services.sessions) as s:
        claimer = Claimer(s, worker="w", lease_until=now + timedelta(minutes=5))
        due_ids = list(
            s.scalars(select(Invoice.customer_id).where(Invoice.next_action_at <= now).distinct())
        )
        claimed = claimer.claim_customers(due_ids, now, skip_locked=not sqlite)
    assert len(claimed.message_ids) == count
    deliverer = runner.deliverer("w")
    rendered: list[object] = []
    render = deliverer.render

    def counted(ctx: Any) -> Any:
        rendered.append(ctx)
        return render(ctx)

    deliverer.render = counted
    outcomes = BatchSender(deliverer).deliver(claimed.message_ids, now)
    assert [o.outcome for o in outcomes] == ["sent"] * count
    assert len(rendered) == count
    july = [m for m in outbox_messages(services) if "reminder_2" in str(m)]
    assert len(july) == count
    for m in july:  # each half-year at its own rate, as rendered from the snapshot
        assert "taux BCE 2,15" in str(m["text"]) and "taux BCE 3,4" in str(m["text"])
