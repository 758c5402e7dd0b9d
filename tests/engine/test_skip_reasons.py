"""A skipped step's reason is true for its invoice: a step already behind when the invoice came
in (an overdue backlog imported) never "passed while nothing could go out"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import select

from connector.actions.onboarding import import_csv
from connector.domain.phrases import translate
from connector.dunning.runner import DunningRunner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Reminder, Shop
from tests.support.builders import invoice_by_number, paris

HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
DUE = date(2026, 6, 10)  # Wednesday


def import_row(svc: Services, shop: Shop, row: str, at: datetime) -> None:
    """One CSV row imported at ``at``; the shop says how to pay (a CSV row has no link)."""
    with write_session(svc.sessions) as s:
        held = s.get(Shop, shop.id)
        assert held is not None
        held.payment_instructions = "IBAN FR76 3000 6000 0112 3456 7890 189"
    import_csv(svc.sessions, shop.id, (HEADER + row).encode(), at)


def reasons(svc: Services, number: str) -> dict[str, tuple[str, str | None]]:
    inv = invoice_by_number(svc, number)
    with svc.sessions() as s:
        return {
            r.step_key: (r.state.value, r.reason)
            for r in s.scalars(select(Reminder).where(Reminder.invoice_id == inv.id))
        }


def test_steps_already_past_when_imported_say_so(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    row = f"F-9,marie@client.example,Marie,120.00,EUR,2026-05-11,{DUE.isoformat()},false,fr\n"
    # Imported on D+8 (courtesy D-2 and reminder_1 D+1 behind it), ticked that day.
    import_row(services, shop, row, paris(date(2026, 6, 18), 8))
    make_runner().tick(paris(date(2026, 6, 18)))
    state = reasons(services, "F-9")
    assert state["reminder_2"][0] == "sent"
    past = "already past when the invoice was imported; superseded by reminder_2"
    assert state["courtesy"] == ("skipped", past)
    assert state["reminder_1"] == ("skipped", past)
    assert translate(past, "fr") == (
        "déjà passée à l'import de la facture ; remplacée par deuxième rappel"
    )


def test_a_step_that_passed_while_held_keeps_the_old_reason(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    row = f"F-8,jean@client.example,Jean,89.90,EUR,2026-05-11,{DUE.isoformat()},false,fr\n"
    # Imported on D-1: the courtesy (D-2) was behind it, reminder_1 (D+1) was not; nothing
    # went out until D+8.
    import_row(services, shop, row, paris(date(2026, 6, 9), 20))
    make_runner().tick(paris(date(2026, 6, 18)))
    state = reasons(services, "F-8")
    assert state["reminder_2"][0] == "sent"
    assert state["courtesy"] == (
        "skipped",
        "already past when the invoice was imported; superseded by reminder_2",
    )
    assert state["reminder_1"] == (
        "skipped",
        "passed while nothing could go out; superseded by reminder_2",
    )
