"""A bounce fixed → the bounced step goes out again, once: to the new address, on the engine's
usual claim path (window, one email per customer per day, payment re-checked), never a second
time; the bounced attempt (its reminder and message) stays as it was, as evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from connector.actions.statement import send_statement
from connector.actions.tasks import fix_address
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    Message,
    MessageKind,
    MessageState,
    Reminder,
    ReminderRetry,
    ReminderState,
    Shop,
    Task,
    TaskKind,
)
from connector.webhooks.sendgrid import apply_event, parse_event
from tests.support.builders import add_invoices, normalized, paris

BAD, GOOD = "typo@client.exmaple", "marie@client.example"


def _tick(services: Services, day: date, hour: int = 10) -> None:
    dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir)).tick(
        paris(day, hour)
    )


def _sent(services: Services) -> list[tuple[str | None, MessageState]]:
    with services.sessions() as s:
        return [(m.recipient, m.state) for m in s.scalars(select(Message).order_by(Message.id))]


def _bounced_and_task(services: Services, shop: Shop) -> int:
    """F-2 reminded on 2 June, bounced at 11:00: the bounce task's id."""
    add_invoices(services, shop, [normalized("F-2", email=BAD, due_on=date(2026, 6, 1))])
    _tick(services, date(2026, 6, 2))
    assert _sent(services) == [(BAD, MessageState.SENT)]
    with services.sessions() as s:
        message_id = s.scalar(select(Message.id))
    event = parse_event(
        {
            "sg_event_id": "sg-bounce-1",
            "event": "bounce",
            "email": BAD,
            "timestamp": 1780400000,
            "relance_message_id": str(message_id),
            "reason": "550 5.1.1 unknown domain",
        }
    )
    with write_session(services.sessions) as s:
        apply_event(s, event, paris(date(2026, 6, 2), 11))
    with services.sessions() as s:
        task_id = s.scalar(select(Task.id).where(Task.kind == TaskKind.BOUNCE))
        assert task_id is not None
        return task_id


def _fix(services: Services, shop: Shop, task_id: int, hour: int = 12) -> None:
    fix_address(services, shop.id, task_id, GOOD, actor="owner", now=paris(date(2026, 6, 2), hour))


def test_the_bounced_step_is_sent_again_once_to_the_fixed_address(
    services: Services, shop: Shop
) -> None:
    task_id = _bounced_and_task(services, shop)
    _fix(services, shop, task_id)
    _tick(services, date(2026, 6, 2), 14)  # same local day: the customer already had one
    assert len(_sent(services)) == 1
    _tick(services, date(2026, 6, 3))
    assert _sent(services) == [(BAD, MessageState.SENT), (GOOD, MessageState.SENT)]
    with services.sessions() as s:
        first, again = s.scalars(
            select(Reminder).where(Reminder.message_id.is_not(None)).order_by(Reminder.id)
        ).all()
        assert (first.attempt, first.state, first.recipient) == (0, ReminderState.SENT, BAD)
        assert first.retry is ReminderRetry.USED
        assert (again.step_id, again.attempt, again.state) == (first.step_id, 1, ReminderState.SENT)
        assert again.recipient == GOOD and again.message_id != first.message_id
    _tick(services, date(2026, 6, 4))
    _tick(services, date(2026, 6, 5))
    assert len(_sent(services)) == 2  # never a second retry


def test_fixing_twice_still_retries_once(services: Services, shop: Shop) -> None:
    task_id = _bounced_and_task(services, shop)
    _fix(services, shop, task_id)
    with write_session(services.sessions) as s:  # the owner reopens it and fixes it again
        task = s.get(Task, task_id)
        assert task is not None
        task.state, task.closed_at = task.state.__class__("open"), None
    _fix(services, shop, task_id, 13)
    _tick(services, date(2026, 6, 3))
    _tick(services, date(2026, 6, 4))
    assert _sent(services) == [(BAD, MessageState.SENT), (GOOD, MessageState.SENT)]
    with services.sessions() as s:
        assert s.scalar(select(Reminder.id).where(Reminder.attempt == 1)) is not None
        retries = s.scalars(select(Reminder.id).where(Reminder.attempt == 1)).all()
        assert len(retries) == 1


def test_paid_between_the_fix_and_the_tick_sends_nothing(services: Services, shop: Shop) -> None:
    task_id = _bounced_and_task(services, shop)
    _fix(services, shop, task_id)
    paid = normalized(
        "F-2",
        email=GOOD,
        due_on=date(2026, 6, 1),
        status=InvoiceStatus.PAID,
        updated_at=datetime(2026, 6, 2, 16, tzinfo=UTC),
    )
    add_invoices(services, shop, [paid])
    _tick(services, date(2026, 6, 3))
    _tick(services, date(2026, 6, 4))
    assert _sent(services) == [(BAD, MessageState.SENT)]


def test_the_retry_waits_a_day_when_the_customer_got_a_statement_that_day(
    services: Services, shop: Shop
) -> None:
    """One email a day holds for a retry too: the owner emails Marie her statement of account
    on 3 June at 09:00, so the bounced reminder's retry, due at the 10:00 tick, goes on 4 June."""
    _fix(services, shop, _bounced_and_task(services, shop))
    with services.sessions() as s:
        customer_id = s.scalar(select(Customer.id))
    assert customer_id is not None
    send_statement(
        services,
        shop.id,
        customer_id,
        actor="owner",
        now=paris(date(2026, 6, 3), 9),
        transport=OutboxTransport(services.settings.outbox_dir),
    )
    _tick(services, date(2026, 6, 3), 10)
    with services.sessions() as s:
        june_3 = s.scalars(
            select(Message.kind).where(
                Message.local_day == date(2026, 6, 3), Message.recipient == GOOD
            )
        ).all()
    assert june_3 == [MessageKind.STATEMENT]
    _tick(services, date(2026, 6, 4), 10)
    assert _sent(services)[-1] == (GOOD, MessageState.SENT)
    with services.sessions() as s:
        retried = s.scalars(select(Reminder).where(Reminder.attempt == 1)).one()
        assert retried.state is ReminderState.SENT
        assert retried.message is not None and retried.message.local_day == date(2026, 6, 4)
