"""The owner excludes a customer while a send batch's locked re-read is under way (PostgreSQL,
where the re-read and the owner's action run at once): the exclusion commits between the
batch reading the customer and locking the invoices. The batch must see it — no mail to a
customer the owner excluded, and the reminders the exclusion cancelled stay cancelled."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select

from connector.actions import invoices as actions
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Customer, Message, MessageState, Reminder, ReminderState, Shop
from tests.support.builders import add_invoices, normalized, paris


def _one_line(statement: str) -> str:
    return " ".join(statement.split())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_customer_excluded_during_the_locked_reread_gets_no_mail(
    services: Services, shop: Shop
) -> None:
    add_invoices(
        services, shop, [normalized("F-1", email="ada@client.example", due_on=date(2026, 6, 10))]
    )
    with services.sessions() as s:
        customer_id = s.scalar(select(Customer.id))
    engine: Any = services.sessions.kw["bind"]
    state = {"reread": False, "excluded": False}

    def exclude_before_the_invoice_lock(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        sql = _one_line(statement)
        if sql.startswith("SELECT") and "FROM message" in sql and "FOR UPDATE" in sql:
            state["reread"] = "SKIP LOCKED" not in sql  # the batch's locked re-read began
        elif (
            state["reread"]
            and not state["excluded"]
            and sql.startswith("SELECT invoice.id")
            and "FOR UPDATE" in sql
        ):
            state["excluded"] = True  # before the hook runs again: the action runs statements
            actions.set_customer_excluded(
                services,
                shop.id,
                customer_id,
                excluded=True,
                actor="owner",
                reason="asked us to stop",
                now=paris(date(2026, 6, 11), 10),
            )

    event.listen(engine, "before_cursor_execute", exclude_before_the_invoice_lock)
    try:
        runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
        runner.tick(paris(date(2026, 6, 11), 10))
    finally:
        event.remove(engine, "before_cursor_execute", exclude_before_the_invoice_lock)

    assert state["excluded"], "the race was not staged: the locked re-read was not reached"
    with services.sessions() as s:
        messages = [m.state for m in s.scalars(select(Message))]
        reminders = {r.step_key: r.state for r in s.scalars(select(Reminder))}
    assert MessageState.SENT not in messages, (messages, reminders)
    assert reminders["reminder_1"] is ReminderState.CANCELLED, reminders
    assert not list(services.settings.outbox_dir.glob("*.json"))
