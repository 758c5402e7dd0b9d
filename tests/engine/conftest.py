from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.config import Settings
from connector.dunning.runner import DunningRunner
from connector.mail.base import MailTransport
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.models import Reminder, ReminderState
from tests.support.builders import invoice_by_number
from tests.support.fake_sendgrid import FakeSendGrid


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
