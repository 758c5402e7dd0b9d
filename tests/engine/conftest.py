from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.actions import invoices as actions
from connector.config import Settings
from connector.dunning.runner import DunningRunner
from connector.mail.base import MailTransport
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Invoice, Reminder, ReminderState, Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris
from tests.support.fake_sendgrid import FakeSendGrid

JULY, AUGUST, SEPTEMBER = date(2026, 7, 1), date(2026, 8, 3), date(2026, 9, 1)
"""The due days of ``on_a_plan``'s three instalments."""


@pytest.fixture
def outbox(services: Services) -> OutboxTransport:
    return OutboxTransport(services.settings.outbox_dir)


@pytest.fixture
def make_runner(services: Services, outbox: OutboxTransport) -> Callable[..., DunningRunner]:
    def build(transport: MailTransport | None = None, **kw: object) -> DunningRunner:
        return dunning_runner(services, transport=transport or outbox, **kw)  # type: ignore[arg-type]

    return build


def outbox_messages(services: Services) -> list[dict[str, object]]:
    folder: Path = services.settings.outbox_dir
    if not folder.exists():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


@pytest.fixture
def sendgrid(services: Services) -> Iterator[tuple[FakeSendGrid, MailTransport]]:
    """A local SendGrid and the real SendGrid client's transport pointed at it."""
    with FakeSendGrid() as fake:
        env = {**services.settings.env, "SENDGRID_API_KEY": "SG.t", "SENDGRID_API_HOST": fake.url}
        yield fake, Services.build(Settings.from_env(env)).transport()


def steps(services: Services, number: str) -> dict[str, ReminderState]:
    """Invoice ``number``'s reminders: step key → state."""
    inv = invoice_by_number(services, number)
    with services.sessions() as s:
        rows = s.execute(
            select(Reminder.step_key, Reminder.state).where(Reminder.invoice_id == inv.id)
        )
        return {key: state for key, state in rows}


def on_a_plan(
    services: Services,
    shop: Shop,
    runner: DunningRunner,
    locale: str = "fr",
    *,
    actor: str = "claire@dupont.example",
) -> Invoice:
    """F-1 (120 €, due 10 June) reminded once, then on a plan of three 40 € instalments."""
    add_invoices(
        services,
        shop,
        [normalized("F-1", email="ada@client.example", due_on=date(2026, 6, 10), locale=locale)],
    )
    runner.tick(paris(date(2026, 6, 11), 10))  # reminder_1 sent
    inv = invoice_by_number(services, "F-1")
    actions.set_plan(
        services,
        shop.id,
        inv.id,
        [
            actions.InstalmentSpec(JULY, "40.00"),
            actions.InstalmentSpec(AUGUST, "40.00"),
            actions.InstalmentSpec(SEPTEMBER, "40.00"),
        ],
        actor=actor,
        now=paris(date(2026, 6, 11), 16),
    )
    return inv
