"""On SQLite a claim is planned in a read transaction, then written in a short write
transaction (connector.dunning.claims.plan_then_claim). Whatever changes in between — a payment
recorded, the customer excluded — must win: the plan made from the older rows is dropped,
nothing is claimed for that customer, and the others of the batch are claimed as planned."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select

from connector.actions import invoices as actions
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Customer, Invoice, Message, PaymentSource, Reminder, Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

NOW = paris(date(2026, 6, 11), 10)  # the day after the due date: reminder_1 is due


def _exclude(services: Services, shop: Shop, number: str) -> None:
    actions.set_customer_excluded(
        services,
        shop.id,
        invoice_by_number(services, number).customer_id,
        excluded=True,
        actor="owner",
        reason="asked us to stop",
        now=NOW,
    )


def _pay(services: Services, shop: Shop, number: str) -> None:
    actions.record_payment(
        services,
        shop.id,
        invoice_by_number(services, number).id,
        source=PaymentSource.BANK_TRANSFER,
        actor="owner",
        now=NOW,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("change", [_exclude, _pay], ids=["excluded", "paid"])
def test_what_changes_between_planning_and_the_write_is_not_claimed(
    services: Services, shop: Shop, change: Callable[[Services, Shop, str], None]
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized("F-1", email="ada@client.example", due_on=date(2026, 6, 10)),
            normalized("F-2", email="bob@client.example", due_on=date(2026, 6, 10)),
        ],
    )
    engine: Any = services.sessions.kw["bind"]
    state = {"planning": False, "changed": False}

    def change_while_planning(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool
    ) -> None:
        sql = " ".join(statement.split())
        if sql == "BEGIN":
            state["planning"] = True  # the claim's read transaction (writes BEGIN IMMEDIATE)
        elif (
            state["planning"]
            and not state["changed"]
            and sql.startswith("SELECT DISTINCT message.customer_id, message.local_day")
        ):
            # Planning has read the invoices, customers and reminders: the owner acts now.
            state["changed"] = True
            change(services, shop, "F-2")

    event.listen(engine, "before_cursor_execute", change_while_planning)
    try:
        runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
        runner.tick(NOW)
    finally:
        event.remove(engine, "before_cursor_execute", change_while_planning)

    assert state["changed"], "the race was not staged: planning's read was not reached"
    with services.sessions() as s:
        # Not even the courtesy step passed over: nothing of the plan made from the old rows.
        claimed = set(
            s.scalars(select(Invoice.number).join(Reminder, Reminder.invoice_id == Invoice.id))
        )
        mailed = set(
            s.scalars(select(Customer.email).join(Message, Message.customer_id == Customer.id))
        )
    assert claimed == {"F-1"}, claimed
    assert mailed == {"ada@client.example"}, mailed
