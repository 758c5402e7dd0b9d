"""Drives the platform adapters. A few pages at a time are upserted together with the cursor that
resumes after the last of them, in one transaction: a sync interrupted anywhere resumes from the
stored cursor and writes nothing twice (upserts are idempotent, stale states never win)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from connector.connection_health import ConnectionProblem, mark_broken
from connector.crypto import SecretError
from connector.ingest import upsert_invoices
from connector.platform import (
    AdapterAuthError,
    AdapterError,
    ConnectionContext,
    NormalizedInvoice,
    PlatformAdapter,
    SyncPage,
    load_adapters,
)
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Shop

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (pages done, invoices seen)
#: Pages written per transaction (with the cursor of the last): fewer commits, same resume.
PAGES_PER_TRANSACTION = 5
#: …or sooner when this many seconds passed since the last write: the owner's progress indicator
#: reads the store, so a slow platform's pages still show up as they come.
PROGRESS_EVERY_S = 1.0

#: ``Connection.settings`` key of the demo's connections (connector/demo.py): their platform is
#: a local server that answers only while ``relance demo`` runs, so the scheduler never syncs
#: them and the runner never asks them before a send.
SANDBOX = "sandbox"


def is_sandbox(conn: Connection) -> bool:
    return SANDBOX in (conn.settings or {})


class SyncError(Exception):
    """A sync stopped; what was committed before stays, the cursor points after it."""


class UnknownPlatform(SyncError):
    pass


@dataclass(slots=True)
class SyncResult:
    connection_id: int
    pages: int = 0
    invoices: int = 0
    inserted: int = 0
    updated: int = 0
    closed: int = 0
    stale: int = 0
    cursor: str | None = None
    errors: list[str] = field(default_factory=list)


def connection_context(svc: Services, conn: Connection) -> ConnectionContext:
    """Decrypted view of a connection for its adapter; refreshed credentials are re-encrypted."""
    creds = svc.secrets.decrypt_json(conn.credentials_enc) if conn.credentials_enc else {}
    secret = svc.secrets.decrypt(conn.webhook_secret_enc) if conn.webhook_secret_enc else None
    connection_id = conn.id

    def save_credentials(new: dict[str, Any]) -> None:
        with write_session(svc.sessions) as s:
            row = s.get(Connection, connection_id, with_for_update=True)
            assert row is not None
            row.credentials_enc = svc.secrets.encrypt_json(new)
        ctx.credentials = dict(new)

    ctx = ConnectionContext(
        id=conn.id,
        shop_id=conn.shop_id,
        platform=conn.platform,
        external_account=conn.external_account,
        credentials=dict(creds),
        webhook_secret=secret,
        api_base=conn.api_base,
        settings=dict(conn.settings or {}),
        save_credentials=save_credentials,
    )
    return ctx


def adapter_for(platform: str, adapters: Mapping[str, PlatformAdapter] | None) -> PlatformAdapter:
    found = adapters if adapters is not None else load_adapters()
    if platform not in found:
        raise UnknownPlatform(f"no adapter installed for platform {platform!r}")
    return found[platform]


def sync_connection(
    svc: Services,
    connection_id: int,
    now: datetime,
    *,
    adapters: Mapping[str, PlatformAdapter] | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    try:
        with svc.sessions() as s:
            conn = s.get(Connection, connection_id)
            if conn is None:
                raise SyncError(f"connection {connection_id} does not exist")
            adapter = adapter_for(conn.platform, adapters)
            ctx = connection_context(svc, conn)
            cursor = conn.sync_cursor
    except SecretError as exc:
        _broken(svc, connection_id, now, ConnectionProblem.SECRET_UNREADABLE, str(exc))
        raise SyncError(f"connection {connection_id}: {exc}") from exc
    result = SyncResult(connection_id, cursor=cursor)
    _started(svc, connection_id, now)
    buffered: list[SyncPage] = []
    written_at = time.monotonic()

    def commit() -> None:
        """The buffered pages in one transaction, with the cursor after the last of them."""
        nonlocal written_at
        if not buffered:
            return
        with write_session(svc.sessions) as s:
            row = s.get(Connection, connection_id, with_for_update=True)
            assert row is not None
            shop = s.get(Shop, row.shop_id)
            assert shop is not None
            items = [item for page in buffered for item in page.invoices]
            stats = upsert_invoices(s, shop, row, items, now)
            row.sync_cursor = buffered[-1].cursor
            row.sync_pages = result.pages + len(buffered)  # progress, committed with the pages
            row.sync_invoices = result.invoices + len(items)
        result.pages += len(buffered)
        result.invoices += len(items)
        result.inserted += stats.inserted
        result.updated += stats.updated
        result.closed += stats.closed
        result.stale += stats.stale
        result.cursor = buffered[-1].cursor
        buffered.clear()
        written_at = time.monotonic()
        if progress is not None:
            progress(result.pages, result.invoices)

    try:
        try:
            # Pages are fetched with no transaction open; a few are written at once.
            for page in adapter.sync(ctx, cursor):
                buffered.append(page)
                if (
                    len(buffered) >= PAGES_PER_TRANSACTION
                    or time.monotonic() - written_at >= PROGRESS_EVERY_S
                ):
                    commit()
        finally:
            commit()  # what was fetched before a failure is kept, with its cursor
    except AdapterAuthError as exc:
        _broken(svc, connection_id, now, ConnectionProblem.CREDENTIALS_REFUSED, str(exc))
        raise SyncError(f"connection {connection_id}: {exc}") from exc
    except AdapterError as exc:
        _record(svc, connection_id, now, f"error: {type(exc).__name__}", str(exc))
        raise SyncError(f"connection {connection_id}: {exc}") from exc
    _record(svc, connection_id, now, "ok", None)
    return result


def _broken(
    svc: Services, connection_id: int, now: datetime, problem: ConnectionProblem, detail: str
) -> None:
    """Marked (with its owner's task) before the sync time is noted: retried next interval."""
    mark_broken(svc, connection_id, problem, detail)
    _record(svc, connection_id, now, problem.value, detail)


def _started(svc: Services, connection_id: int, now: datetime) -> None:
    """A run begins: its progress starts from zero, and an owner's request is answered."""
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id, with_for_update=True)
        if row is not None:
            row.sync_started_at = now
            row.sync_pages = row.sync_invoices = 0
            row.sync_requested_at = None


def _record(
    svc: Services, connection_id: int, now: datetime, status: str, error: str | None
) -> None:
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id)
        if row is not None:
            row.last_sync_at = now
            row.last_sync_status = status
            row.last_sync_error = error
            row.sync_started_at = None  # the run is over; its page and invoice counts stay


def sync_requested(
    svc: Services, now: datetime, *, adapters: Mapping[str, PlatformAdapter] | None = None
) -> list[int]:
    """Run the syncs owners asked for ("sync now"), each claimed by one worker: the request is
    cleared in the transaction that takes it (``SKIP LOCKED`` on PostgreSQL, so two workers
    never take the same one). The ids synced, failed or not."""
    wanted = select(Connection).where(
        Connection.sync_requested_at.is_not(None),
        Connection.active.is_(True),
        Connection.platform != "csv",
    )
    with svc.sessions() as s:
        if s.scalar(wanted.with_only_columns(Connection.id).limit(1)) is None:
            return []  # the usual case, every few seconds: no write transaction
    with write_session(svc.sessions) as s:
        rows = s.scalars(wanted.order_by(Connection.id).with_for_update(skip_locked=True)).all()
        claimed = [row.id for row in rows]
        for row in rows:
            row.sync_requested_at = None
            row.sync_started_at = now
            row.sync_pages = row.sync_invoices = 0
    for connection_id in claimed:
        try:
            sync_connection(svc, connection_id, now, adapters=adapters)
        except SyncError as exc:
            log.warning("requested sync failed: %s", exc)
    return claimed


def platform_connections(svc: Services, connection_id: int | None = None) -> list[int]:
    with svc.sessions() as s:
        q = select(Connection).where(Connection.active.is_(True), Connection.platform != "csv")
        if connection_id is not None:
            q = q.where(Connection.id == connection_id)
        return [c.id for c in s.scalars(q.order_by(Connection.id)) if not is_sandbox(c)]


def sync_due(svc: Services, now: datetime) -> None:
    """Sync every connection whose interval has passed; one failing never stops the others."""
    with svc.sessions() as s:
        rows = s.execute(
            select(
                Connection.id,
                Connection.sync_interval_minutes,
                Connection.last_sync_at,
                Connection.settings,
            ).where(
                Connection.active.is_(True),
                Connection.platform != "csv",
                or_(Connection.last_sync_at.is_(None), Connection.last_sync_at < now),
            )
        ).all()
    for connection_id, interval, last, settings in rows:
        if SANDBOX in (settings or {}):
            continue
        if last is not None and last + timedelta(minutes=interval) > now:
            continue
        try:
            sync_connection(svc, connection_id, now)
        except SyncError as exc:
            log.warning("sync failed: %s", exc)


def reconcile_all(svc: Services, now: datetime) -> None:
    """Nightly: re-read what changed on every platform since the stored cursor, so a webhook
    that was lost is caught within a day (WooCommerce, which never retries, within one sync
    interval through sync_due)."""
    for connection_id in platform_connections(svc):
        try:
            sync_connection(svc, connection_id, now)
        except SyncError as exc:
            log.warning("reconciliation failed: %s", exc)


def status_checker(
    svc: Services, adapters: Mapping[str, PlatformAdapter] | None = None
) -> Callable[[int, str], NormalizedInvoice | None]:
    """The runner's last look before a send: the platform's own view, where there is one.

    A connection whose secrets cannot be opened raises SecretError on every call (the sender
    then sends nothing for it: it cannot ask, and that connection's webhooks are refused too);
    it is marked broken once per tick."""
    found: dict[str, PlatformAdapter] = dict(adapters) if adapters is not None else {}
    loaded = adapters is not None
    contexts: dict[int, tuple[PlatformAdapter, ConnectionContext] | None] = {}
    unreadable: dict[int, SecretError] = {}

    def check(connection_id: int, external_id: str) -> NormalizedInvoice | None:
        nonlocal loaded
        if connection_id in unreadable:
            raise unreadable[connection_id]
        if connection_id not in contexts:
            with svc.sessions() as s:
                conn = s.get(Connection, connection_id)
                if conn is not None and conn.platform != "csv" and not loaded:
                    found.update(load_adapters())  # only when a platform invoice is re-checked
                    loaded = True
                adapter = found.get(conn.platform) if conn is not None else None
                if conn is not None and is_sandbox(conn):
                    adapter = None  # the demo's platform is gone: its view is the store's
                try:
                    contexts[connection_id] = (
                        (adapter, connection_context(svc, conn)) if adapter and conn else None
                    )
                except SecretError as exc:
                    unreadable[connection_id] = exc
            if connection_id in unreadable:
                error = unreadable[connection_id]
                mark_broken(svc, connection_id, ConnectionProblem.SECRET_UNREADABLE, str(error))
                raise error
        entry = contexts[connection_id]
        if entry is None:
            return None
        adapter, ctx = entry
        return adapter.fetch_status(ctx, external_id)

    return check
