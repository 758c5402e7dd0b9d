"""The durable record of a delivery: one WebhookEvent per (scope, dedupe key), written with
``INSERT … ON CONFLICT DO NOTHING`` so a duplicate — sequential or concurrent — is detected by
the unique constraint itself, never by a read-then-write race."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connector.store.models import WebhookEvent, WebhookOutcome

SENDGRID_SCOPE = "sendgrid"
_DROPPED_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One row to store. ``kind`` None: decided at apply time."""

    scope: str
    platform: str
    dedupe_key: str
    topic: str
    raw_body: bytes
    headers: dict[str, str]
    received_at: datetime
    occurred_at: datetime | None = None
    kind: str | None = None
    shop_id: int | None = None
    connection_id: int | None = None
    outcome: WebhookOutcome = WebhookOutcome.PENDING


def platform_scope(platform: str, connection_id: int) -> str:
    return f"{platform}:{connection_id}"


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What is kept of the request headers: everything but credentials of the caller."""
    return {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}


def store_events(session: Session, events: Sequence[NewEvent]) -> dict[str, int]:
    """Insert the events that are new; returns ``{dedupe_key: id}`` of those actually inserted
    (a duplicate, already stored or earlier in ``events``, is absent)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for e in events:
        rows.setdefault(
            (e.scope, e.dedupe_key),
            {
                "scope": e.scope,
                "platform": e.platform,
                "dedupe_key": e.dedupe_key,
                "topic": e.topic,
                "kind": e.kind,
                "raw_body": e.raw_body,
                "headers": e.headers,
                "received_at": e.received_at,
                "occurred_at": e.occurred_at,
                "shop_id": e.shop_id,
                "connection_id": e.connection_id,
                "outcome": e.outcome,
                "attempts": 0,
            },
        )
    if not rows:
        return {}
    dialect = session.get_bind().dialect.name
    result = session.execute(_insert_statement(dialect), list(rows.values()))
    return {key: event_id for key, event_id in result.tuples()}


@lru_cache(maxsize=4)
def _insert_statement(dialect: str) -> Any:
    """One statement per dialect, built once, so its compiled form is cached (hot path)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(WebhookEvent)
        .on_conflict_do_nothing(index_elements=["scope", "dedupe_key"])
        .returning(WebhookEvent.dedupe_key, WebhookEvent.id)
    )
