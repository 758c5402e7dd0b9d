from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from connector.dunning.runner import DunningRunner
from connector.mail.base import MailTransport
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services


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
