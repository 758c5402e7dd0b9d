"""The webhook tests' store: the shared fixtures plus a SendGrid verification key pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.services import Services
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    Payment,
    Reminder,
    Task,
    TimelineEntry,
    WebhookEvent,
)
from tests.conftest import make_env
from tests.support.webhooks import SendGridSigner


@pytest.fixture(scope="session")
def signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, signer: SendGridSigner) -> dict[str, str]:
    return make_env(
        database_url, tmp_path / "var", SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_key_b64
    )


TABLES = (WebhookEvent, Payment, TimelineEntry, Task, Invoice, Customer, Reminder, Message)


def row_counts(svc: Services) -> dict[str, int]:
    with svc.sessions() as s:
        return {
            t.__tablename__: int(s.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES
        }
