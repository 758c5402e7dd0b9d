"""The apply step: separate from the transaction that stored the delivery, run right after its
commit; a failure leaves the event FAILED (attempts, last error) and the scheduler retries it
from the store (``retry_pending``). Applying and marking the event applied happen in one
transaction under a row lock on the event, so an event is applied at most once, however many
retries or workers race for it."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, tuple_, update
from sqlalchemy.orm import Session

from connector.connection_health import ConnectionProblem, mark_broken
from connector.crypto import SecretError
from connector.platform import ConnectionContext, NormalizedEvent, shares_webhook_secret
from connector.services import Services
from connector.store.db import StoreBusy, write_session
from connector.store.models import Connection, Shop, WebhookEvent, WebhookOutcome
from connector.sync import connection_context
from connector.webhooks import sendgrid
from connector.webhooks.batch import Item, apply_items
from connector.webhooks.handlers import HANDLERS, ApplyContext
from connector.webhooks.registry import AdapterRegistry
from connector.webhooks.resolve import NeedsPlatform, Resolution, resolve
from connector.webhooks.store import SENDGRID_SCOPE

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
APPLY_THREADS = 4
APPLY_BATCH_THREADS = 2  # chunks applied at once on PostgreSQL (one transaction each)
APPLY_CHUNK = 100  # events per transaction in the worker's batches
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
    *,
    may_ask_platform: bool = True,
) -> WebhookOutcome | None:
    """Apply one stored event; never raises (a failure is recorded for the retry job).

    An event that needs the platform's answer (``resolve``) is left PENDING when
    ``may_ask_platform`` is False (web processes); otherwise the platform is asked outside the
    transaction and the apply runs again with the answer. None: nothing was done."""
    parsed = parsed or Parsed()
    resolution: Resolution | None = None
    try:
        while True:
            try:
                return _apply_once(svc, registry, event_id, now, parsed, resolution)
            except NeedsPlatform as need:
                if not may_ask_platform or resolution is not None:
                    return None  # left PENDING for the worker
                parsed = Parsed(platform=need.event)
                resolution = resolve(
                    svc, registry, need.connection_id, need.event, reread=need.reread
                )
    except SecretError as exc:
        return _wait_for_key(svc, event_id, exc)
    except StoreBusy:
        # A bounded wait ran out (an inline apply under load): nothing was applied; the event
        # stays PENDING for the retry job, and a reminder applies it before going out.
        log.info("webhook event %s left pending: the store is busy", event_id)
        return None
    except Exception as exc:
        log.exception("webhook event %s could not be applied", event_id)
        with write_session(svc.sessions) as s:
            _mark(s, event_id, WebhookOutcome.FAILED, None, error=repr(exc), attempts_delta=1)
        return WebhookOutcome.FAILED


def _wait_for_key(svc: Services, event_id: int, exc: SecretError) -> WebhookOutcome:
    """The event's connection cannot be opened (a lost key, not a bad event): it stays FAILED
    without spending an attempt, so the retry job applies it once the key is restored, and
    the connection is marked broken for its owner."""
    with write_session(svc.sessions) as s:
        connection_id = s.scalar(
            select(WebhookEvent.connection_id).where(WebhookEvent.id == event_id)
        )
        _mark(s, event_id, WebhookOutcome.FAILED, None, error=str(exc), attempts_delta=0)
    if connection_id is not None:
        mark_broken(svc, connection_id, ConnectionProblem.SECRET_UNREADABLE, str(exc))
    return WebhookOutcome.FAILED


def _apply_once(
    svc: Services,
    registry: AdapterRegistry,
    event_id: int,
    now: datetime,
    parsed: Parsed,
    resolution: Resolution | None,
) -> WebhookOutcome | None:
    with write_session(svc.sessions) as s:
        row = s.scalar(
            select(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None or row.outcome in _DONE:
            return None
        connection_id = row.connection_id
        outcome = _apply(svc, registry, s, row, now, parsed, resolution)
        _mark(s, event_id, outcome, now, error=None, attempts_delta=1)
    if outcome is WebhookOutcome.APPLIED and connection_id is not None:
        _note_last_webhook(svc, connection_id, now)
    return outcome


def _note_last_webhook(svc: Services, connection_id: int, now: datetime) -> None:
    """``Connection.last_webhook_at`` (where the reconciliation starts), after the apply's
    commit and in its own transaction: inside it, the apply would lock the connection after
    the invoice while a sync page locks them the other way round. At worst (a crash between
    the two) the reconciliation re-reads a little more. At most once a minute per connection."""
    if not _last_webhook_stale(connection_id, now):
        return
    try:
        with write_session(svc.sessions) as s:
            s.execute(
                update(Connection)
                .where(
                    Connection.id == connection_id,
                    or_(
                        Connection.last_webhook_at.is_(None),
                        Connection.last_webhook_at < now - _LAST_WEBHOOK_EVERY,
                    ),
                )
                .values(last_webhook_at=now)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # bookkeeping only: the event is applied, never mark it failed for this
        log.exception("could not note the last webhook of connection %s", connection_id)


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
    resolution: Resolution | None,
    found: dict[tuple[int | None, int | None], tuple[Connection, Shop]] | None = None,
) -> WebhookOutcome:
    """``found``: the connections and shops already read in this transaction (a batch)."""
    if row.scope == SENDGRID_SCOPE:
        ev = parsed.mail or sendgrid.parse_event(json.loads(row.raw_body))
        outcome, shop_id = sendgrid.apply_event(s, ev, now)
        if shop_id is not None and row.shop_id is None:
            row.shop_id = shop_id
        return outcome
    if not row.raw_body and row.last_error:
        return WebhookOutcome.IGNORED  # its body was erased (GDPR) before it was applied
    conn, shop = _connection_of(s, row, found)
    adapter = registry.get(conn.platform)
    if adapter is None:
        raise ApplyError(f"no adapter for {conn.platform}")
    event = parsed.platform
    if event is None:
        event = adapter.parse_webhook(connection_context(svc, conn), row.headers, row.raw_body)
    ctx = ApplyContext(
        s,
        shop,
        conn,
        now,
        svc.settings.exports_dir,
        resolution,
        confirms_new_invoices=shares_webhook_secret(adapter),
    )
    return HANDLERS[event.kind](ctx, event)


def _connection_of(
    s: Session,
    row: WebhookEvent,
    found: dict[tuple[int | None, int | None], tuple[Connection, Shop]] | None,
) -> tuple[Connection, Shop]:
    """The event's connection and shop (read once per transaction when ``found`` is given)."""
    key = (row.connection_id, row.shop_id)
    pair = found.get(key) if found is not None else None
    if pair is None:
        read = s.execute(
            select(Connection, Shop)
            .join(Shop, Shop.id == Connection.shop_id)
            .where(Connection.id == row.connection_id, Connection.shop_id == row.shop_id)
        ).first()
        if read is None:
            raise ApplyError(f"event {row.id}: connection {row.connection_id} is gone")
        pair = read._tuple()
        if found is not None:
            found[key] = pair
    return pair


_last_webhook_noted: dict[int, datetime] = {}  # this process: connection → when it wrote it


def _last_webhook_stale(connection_id: int, now: datetime) -> bool:
    """Whether this process should refresh ``Connection.last_webhook_at`` (at most once a
    minute per connection; the UPDATE's own WHERE covers other processes)."""
    noted = _last_webhook_noted.get(connection_id)
    if noted is not None and noted > now - _LAST_WEBHOOK_EVERY:
        return False
    if len(_last_webhook_noted) > 10_000:
        _last_webhook_noted.clear()
    _last_webhook_noted[connection_id] = now
    return True


def retry_pending(
    svc: Services,
    now: datetime,
    *,
    registry: AdapterRegistry | None = None,
    limit: int = 200,
    min_age: timedelta = RETRY_AFTER,
) -> dict[str, int]:
    """The worker's job: apply what is still pending or failed, oldest first. Events of a
    connection marked unreadable wait (they keep their attempts) until the mark is lifted (the
    start-up check after the key is restored, or a good sync): they never fill the batch."""
    unreadable = select(Connection.id).where(
        Connection.last_sync_status == ConnectionProblem.SECRET_UNREADABLE.value
    )
    ids = _event_ids(
        svc,
        WebhookEvent.outcome.in_(_UNSETTLED),
        WebhookEvent.attempts < MAX_ATTEMPTS,
        WebhookEvent.received_at <= now - min_age,
        or_(WebhookEvent.connection_id.is_(None), WebhookEvent.connection_id.not_in(unreadable)),
        limit=limit,
    )
    return _apply_each(svc, registry or AdapterRegistry(), ids, now)


def apply_pending(
    svc: Services,
    now: datetime,
    *,
    batch: int = 500,
    max_batches: int = 20,
    parsed: MutableMapping[int, NormalizedEvent] | None = None,
) -> int:
    """Apply the events still PENDING (not the FAILED ones: those wait for the retry job's
    back-off), oldest first, a bounded number of batches per call. Returns how many.

    ``parsed``: what this process's intake already parsed, by event id (`relance serve`'s
    pump); an event found there is taken out and not parsed again, the others are.

    Set-based: each chunk of events is applied in one transaction, its events locked in one
    statement and marked in one, one commit per chunk; the payments' invoices are read, locked
    and written in a few statements for the whole chunk (``connector.webhooks.batch``). A bad
    event never holds back the others: it is set aside and applied alone, which records its
    failure."""
    registry = AdapterRegistry()
    # Chunks are independent transactions: on PostgreSQL a couple apply at once; SQLite has
    # one writer anyway.
    threads = APPLY_BATCH_THREADS if svc.engine.dialect.name == "postgresql" else 1
    done = 0
    for _ in range(max_batches):
        ids = _event_ids(svc, WebhookEvent.outcome == WebhookOutcome.PENDING, limit=batch)
        chunks = [ids[i : i + APPLY_CHUNK] for i in range(0, len(ids), APPLY_CHUNK)]
        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="apply") as pool:
                done += sum(pool.map(lambda c: _apply_chunk(svc, registry, c, now, parsed), chunks))
        else:
            done += sum(_apply_chunk(svc, registry, c, now, parsed) for c in chunks)
        if len(ids) < batch:
            break
    return done


def _apply_chunk(
    svc: Services,
    registry: AdapterRegistry,
    ids: list[int],
    now: datetime,
    parsed: MutableMapping[int, NormalizedEvent] | None = None,
) -> int:
    """Apply these events in one transaction. An event that raises (it needs the platform's
    answer, a key, or it is bad) rolls the chunk back and is set aside; the rest are applied
    again without it (nothing of the first try was kept), and the set-aside ones go through
    :func:`apply_stored` one by one, which records their failure. Returns how many were
    applied or ignored."""
    alone: list[int] = []
    done = 0
    for _ in range(_CHUNK_TRIES):
        try:
            done = _try_chunk(svc, registry, [i for i in ids if i not in alone], now, parsed)
            break
        except _SetAside as bad:
            alone.append(bad.event_id)
        except StoreBusy:
            log.info("webhook events left pending: the store is busy")
            return 0
        except Exception:  # a set-based write failed: no one event to blame, each on its own
            log.exception("webhook events %s… applied one by one", ids[:3])
            alone = ids
            break
    else:
        alone = ids  # too many bad events in one chunk: each on its own
    return done + _applied(_apply_each(svc, registry, alone, now))


_CHUNK_TRIES = 4


class _SetAside(Exception):
    def __init__(self, event_id: int) -> None:
        super().__init__(f"event {event_id} is applied on its own")
        self.event_id = event_id


def _try_chunk(
    svc: Services,
    registry: AdapterRegistry,
    ids: list[int],
    now: datetime,
    parsed: MutableMapping[int, NormalizedEvent] | None = None,
) -> int:
    if not ids:
        return 0
    settled: dict[WebhookOutcome, list[int]] = {}
    connections: set[int] = set()
    found: dict[tuple[int | None, int | None], tuple[Connection, Shop]] = {}
    with write_session(svc.sessions) as s:
        rows = {
            row.id: row
            for row in s.scalars(
                select(WebhookEvent)
                .where(WebhookEvent.id.in_(ids), WebhookEvent.outcome.not_in(_DONE))
                .order_by(WebhookEvent.id)
                .with_for_update(skip_locked=True)  # another worker applies those
            )
        }
        opened: dict[int, ConnectionContext] = {}
        items = [_item(svc, registry, s, row, found, opened, parsed) for row in rows.values()]

        def row_by_row(item: Item) -> WebhookOutcome:
            parsed = Parsed(platform=item.event)
            try:
                outcome = _apply(svc, registry, s, rows[item.event_id], now, parsed, None, found)
                s.flush()  # a failure is this event's, not the next one's
            except Exception as exc:  # rolls the whole chunk back
                raise _SetAside(item.event_id) from exc
            return outcome

        outcomes = apply_items(s, items, now, row_by_row)
        for item, outcome in zip(items, outcomes, strict=True):
            settled.setdefault(outcome, []).append(item.event_id)
            connection_id = rows[item.event_id].connection_id
            if outcome is WebhookOutcome.APPLIED and connection_id is not None:
                connections.add(connection_id)
        for outcome, done_ids in settled.items():
            s.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id.in_(done_ids))
                .values(
                    outcome=outcome,
                    processed_at=now,
                    last_error=None,
                    attempts=WebhookEvent.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
    for connection_id in connections:
        _note_last_webhook(svc, connection_id, now)
    return sum(map(len, settled.values()))


def _item(
    svc: Services,
    registry: AdapterRegistry,
    s: Session,
    row: WebhookEvent,
    found: dict[tuple[int | None, int | None], tuple[Connection, Shop]],
    opened: dict[int, ConnectionContext],
    parsed: MutableMapping[int, NormalizedEvent] | None = None,
) -> Item:
    """A stored delivery, its body parsed once (its signature was verified at intake): by the
    intake of this process when it left its parse in ``parsed`` (then no credentials are
    opened either), else here, the connection's credentials decrypted once per chunk. Parsed
    here, each body cost as much CPU as the rest of its apply, inside the transaction that
    holds SQLite's writer. A failure sets the event aside."""
    if row.scope == SENDGRID_SCOPE or (not row.raw_body and row.last_error):
        return Item(row.id)
    try:
        conn, shop = _connection_of(s, row, found)
        adapter = registry.get(conn.platform)
        if adapter is None:
            raise ApplyError(f"no adapter for {conn.platform}")
        event = parsed.pop(row.id, None) if parsed is not None else None
        if event is None:
            ctx = opened.get(conn.id)
            if ctx is None:
                ctx = opened[conn.id] = connection_context(svc, conn)
            event = adapter.parse_webhook(ctx, row.headers, row.raw_body)
    except Exception as exc:
        raise _SetAside(row.id) from exc
    return Item(row.id, event, shop, conn.id)


def apply_waiting(
    svc: Services,
    invoices: Sequence[tuple[int, str]],
    now: datetime,
    *,
    registry: AdapterRegistry | None = None,
) -> int:
    """Apply the stored, not yet applied deliveries naming these invoices ((connection id,
    external id) pairs), oldest first. The sender calls it right before a reminder goes out:
    when the web processes only store (background/worker modes), a payment they acknowledged
    must count before anything is sent for its invoice. Returns how many were applied."""
    if not invoices:
        return 0
    ids = _event_ids(
        svc,
        WebhookEvent.outcome.in_(_UNSETTLED),
        WebhookEvent.attempts < MAX_ATTEMPTS,
        tuple_(WebhookEvent.connection_id, WebhookEvent.invoice_ref).in_(list(invoices)),
    )
    return _applied(_apply_each(svc, registry or AdapterRegistry(), ids, now))


_UNSETTLED = (WebhookOutcome.PENDING, WebhookOutcome.FAILED)


def _event_ids(svc: Services, *where: ColumnElement[bool], limit: int | None = None) -> list[int]:
    with svc.sessions() as s:
        query = select(WebhookEvent.id).where(*where).order_by(WebhookEvent.id)
        return list(s.scalars(query if limit is None else query.limit(limit)))


def _apply_each(
    svc: Services, registry: AdapterRegistry, ids: list[int], now: datetime, *, threads: int = 1
) -> dict[str, int]:
    """Outcome → count ("skipped": settled meanwhile, or left for the worker)."""

    def one(event_id: int) -> WebhookOutcome | None:
        return apply_stored(svc, registry, event_id, now)

    if threads > 1 and len(ids) > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="apply") as pool:
            outcomes = list(pool.map(one, ids))
    else:
        outcomes = [one(event_id) for event_id in ids]
    counts: dict[str, int] = {}
    for outcome in outcomes:
        key = outcome.value if outcome is not None else "skipped"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _applied(counts: dict[str, int]) -> int:
    return sum(n for key, n in counts.items() if key != "skipped")
