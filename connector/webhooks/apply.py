"""The apply step: separate from the transaction that stored the delivery, run right after its
commit; a failure leaves the event FAILED (attempts, last error) and the scheduler retries it
from the store (``retry_pending``). Applying and marking the event applied happen in one
transaction under a row lock on the event, so an event is applied at most once, however many
retries or workers race for it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from connector.platform import NormalizedEvent
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Shop, WebhookEvent, WebhookOutcome
from connector.sync import connection_context
from connector.webhooks import sendgrid
from connector.webhooks.handlers import HANDLERS, ApplyContext
from connector.webhooks.registry import AdapterRegistry
from connector.webhooks.store import SENDGRID_SCOPE

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
RETRY_AFTER = timedelta(seconds=30)  # leave fresh events to the in-process apply
_DONE = (WebhookOutcome.APPLIED, WebhookOutcome.IGNORED)
_LAST_WEBHOOK_EVERY = timedelta(minutes=1)


class ApplyError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the intake already parsed, so the in-process apply need not parse again."""

    platform: NormalizedEvent | None = None
    mail: sendgrid.SendGridEvent | None = None


def apply_stored(
    svc: Services,
    registry: AdapterRegistry,
    event_id: int,
    now: datetime,
    parsed: Parsed | None = None,
) -> WebhookOutcome | None:
    """Apply one stored event; never raises (a failure is recorded for the retry job)."""
    try:
        with write_session(svc.sessions) as s:
            row = s.scalar(
                select(WebhookEvent)
                .where(WebhookEvent.id == event_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if row is None or row.outcome in _DONE:
                return None
            outcome = _apply(svc, registry, s, row, now, parsed or Parsed())
            _mark(s, event_id, outcome, now, error=None, attempts_delta=1)
            return outcome
    except Exception as exc:
        log.exception("webhook event %s could not be applied", event_id)
        with write_session(svc.sessions) as s:
            _mark(s, event_id, WebhookOutcome.FAILED, None, error=repr(exc), attempts_delta=1)
        return WebhookOutcome.FAILED


def _mark(
    s: Session,
    event_id: int,
    outcome: WebhookOutcome,
    now: datetime | None,
    *,
    error: str | None,
    attempts_delta: int,
) -> None:
    """By UPDATE, not through the ORM row: shop/redact may have deleted the row itself."""
    s.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .values(
            outcome=outcome,
            processed_at=now,
            last_error=error[:2000] if error else None,
            attempts=WebhookEvent.attempts + attempts_delta,
        )
        .execution_options(synchronize_session=False)
    )


def _apply(
    svc: Services,
    registry: AdapterRegistry,
    s: Session,
    row: WebhookEvent,
    now: datetime,
    parsed: Parsed,
) -> WebhookOutcome:
    if row.scope == SENDGRID_SCOPE:
        ev = parsed.mail or sendgrid.parse_event(json.loads(row.raw_body))
        outcome, shop_id = sendgrid.apply_event(s, ev, now)
        if shop_id is not None and row.shop_id is None:
            row.shop_id = shop_id
        return outcome
    if not row.raw_body and row.last_error:
        return WebhookOutcome.IGNORED  # its body was erased (GDPR) before it was applied
    conn = s.get(Connection, row.connection_id) if row.connection_id is not None else None
    if conn is None or conn.shop_id != row.shop_id:
        raise ApplyError(f"event {row.id}: connection {row.connection_id} is gone")
    shop = s.get(Shop, conn.shop_id)
    if shop is None:
        raise ApplyError(f"event {row.id}: shop {conn.shop_id} is gone")
    event = parsed.platform
    if event is None:
        adapter = registry.get(conn.platform)
        if adapter is None:
            raise ApplyError(f"no adapter for {conn.platform}")
        event = adapter.parse_webhook(connection_context(svc, conn), row.headers, row.raw_body)
    ctx = ApplyContext(s, shop, conn, now, svc.settings.exports_dir)
    outcome = HANDLERS[event.kind](ctx, event)
    if outcome is WebhookOutcome.APPLIED:
        # Throttled so concurrent applies do not all queue on the connection's row lock.
        s.execute(
            update(Connection)
            .where(
                Connection.id == row.connection_id,
                or_(
                    Connection.last_webhook_at.is_(None),
                    Connection.last_webhook_at < now - _LAST_WEBHOOK_EVERY,
                ),
            )
            .values(last_webhook_at=now)
            .execution_options(synchronize_session=False)
        )
    return outcome


def retry_pending(
    svc: Services,
    now: datetime,
    *,
    registry: AdapterRegistry | None = None,
    limit: int = 200,
    min_age: timedelta = RETRY_AFTER,
) -> dict[str, int]:
    """The worker's job: apply what is still pending or failed, oldest first."""
    registry = registry or AdapterRegistry()
    with svc.sessions() as s:
        ids = list(
            s.scalars(
                select(WebhookEvent.id)
                .where(
                    WebhookEvent.outcome.in_([WebhookOutcome.PENDING, WebhookOutcome.FAILED]),
                    WebhookEvent.attempts < MAX_ATTEMPTS,
                    WebhookEvent.received_at <= now - min_age,
                )
                .order_by(WebhookEvent.id)
                .limit(limit)
            )
        )
    counts: dict[str, int] = {}
    for event_id in ids:
        outcome = apply_stored(svc, registry, event_id, now)
        key = outcome.value if outcome is not None else "skipped"
        counts[key] = counts.get(key, 0) + 1
    return counts


def apply_pending(svc: Services, now: datetime, *, batch: int = 500, max_batches: int = 20) -> int:
    """Apply the events still PENDING (not the FAILED ones: those wait for the retry job's
    back-off), oldest first, a bounded number of batches per call. Returns how many."""
    registry = AdapterRegistry()
    done = 0
    for _ in range(max_batches):
        with svc.sessions() as s:
            ids = list(
                s.scalars(
                    select(WebhookEvent.id)
                    .where(WebhookEvent.outcome == WebhookOutcome.PENDING)
                    .order_by(WebhookEvent.id)
                    .limit(batch)
                )
            )
        for event_id in ids:
            if apply_stored(svc, registry, event_id, now) is not None:
                done += 1
        if len(ids) < batch:
            break
    return done
