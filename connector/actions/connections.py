"""Connecting a platform account, listing the connections, removing one.

Connect is all or nothing. The row is inserted inactive (its id names the webhook URL), the
webhooks are registered at the platform, then one transaction stores the credentials and the
webhook secret and activates it. Whatever fails on the way removes what was created — the
platform's webhooks and the inactive row — so no active connection is ever left without its
webhook secret, and no endpoint at the platform points at nothing.

Removing a connection unregisters its webhooks at the platform, erases its credentials and
keeps its history (invoices, timeline). Its open invoices are paused: with no sync and no
webhook any more, a payment would go unseen, and a reminder must never follow a payment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.ledger import add_timeline, cancel_pending_reminders
from connector.platform import (
    AdapterError,
    ChecksCredentials,
    ConnectionContext,
    InvoiceStatus,
    PlatformAdapter,
    UnregistersWebhooks,
    WebhookRegistration,
)
from connector.services import Services
from connector.shops import resolve_shop
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, TimelineKind
from connector.sync import UnknownPlatform, adapter_for, connection_context

log = logging.getLogger(__name__)

CSV_PLATFORM = "csv"
PAUSED_BY_REMOVAL = "connection removed"
PAUSED_BY_UNINSTALL = "app uninstalled"
SYNC_QUEUED = "queued"
INSTALLED_AT = "installed_at"  # Connection.settings: when the app was last installed


class ConnectionsError(Exception):
    """A connect or removal that did not happen; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class ConnectionSummary:
    id: int
    shop_id: int
    platform: str
    account: str
    active: bool
    webhooks: list[str]
    last_sync_at: datetime | None = None
    last_sync_status: str | None = None
    last_webhook_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shop": self.shop_id,
            "platform": self.platform,
            "account": self.account,
            "state": "active" if self.active else "removed",
            "webhooks": self.webhooks,
            "last_sync_at": self.last_sync_at,
            "last_sync_status": self.last_sync_status,
            "last_webhook_at": self.last_webhook_at,
        }


@dataclass(frozen=True, slots=True)
class Removal:
    connection: ConnectionSummary
    webhooks_removed: list[str]
    webhooks_left: list[str]  # the platform could not be asked: the owner deletes them there
    invoices_paused: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.connection.as_dict(),
            "webhooks_removed": self.webhooks_removed,
            "webhooks_left": self.webhooks_left,
            "invoices_paused": self.invoices_paused,
        }


# -- connect -----------------------------------------------------------------------------------


def connect(
    svc: Services,
    shop_id: int | None,
    platform: str,
    credentials: Mapping[str, str | None],
    now: datetime,
    *,
    api_base: str | None = None,
    register_webhooks: bool = True,
    adapters: Mapping[str, PlatformAdapter] | None = None,
) -> ConnectionSummary:
    """Connect (or reconnect) a platform account of the shop; all or nothing. The credentials
    are tried first (a test call, where the adapter has one), then the webhooks registered."""
    adapter = _adapter(platform, adapters)
    creds = {name: value for name, value in credentials.items() if value not in (None, "")}
    for f in adapter.credential_fields:
        if f.required and f.name not in creds:
            raise ConnectionsError(f"{platform}: {f.cli_flag} is required")
    account = next(
        (str(creds[f.name]) for f in adapter.credential_fields if f.is_account and f.name in creds),
        "",
    )
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        row = s.scalar(
            select(Connection).where(
                Connection.shop_id == shop.id,
                Connection.platform == platform,
                Connection.external_account == account,
            )
        )
        inserted = row is None
        if row is None:
            row = Connection(
                shop_id=shop.id,
                platform=platform,
                external_account=account,
                api_base=api_base,
                active=False,
            )
            s.add(row)
            s.flush()
        connection_id = row.id
        previous_webhooks = list(row.webhook_ids or []) if row.active else []
        ctx = ConnectionContext(
            id=row.id,
            shop_id=shop.id,
            platform=platform,
            external_account=account,
            credentials=dict(creds),
            webhook_secret=None,
            api_base=api_base,
            settings=dict(row.settings or {}),
        )
    ctx.save_credentials = _kept_in(ctx)  # a token refreshed meanwhile is what gets stored

    registration: WebhookRegistration | None = None
    try:
        if isinstance(adapter, ChecksCredentials):
            adapter.check_credentials(ctx)  # pasted keys are tried before anything is kept
        if register_webhooks:
            registration = adapter.register_webhooks(ctx, svc.settings.base_url)
        summary = _activate(svc, connection_id, ctx, registration, now)
    except Exception as exc:
        left = _roll_back(svc, adapter, ctx, registration, delete_row=inserted)
        if not isinstance(exc, AdapterError | ConnectionsError):
            raise
        where = f"{platform} {account}".rstrip()
        tail = f"; delete the webhooks {', '.join(left)} at {platform} by hand" if left else ""
        raise ConnectionsError(f"{where}: {exc}; nothing was connected{tail}") from exc
    if registration is not None:
        stale = [i for i in previous_webhooks if i not in registration.external_ids]
        _unregister_quietly(adapter, ctx, stale)  # a reconnect's older webhooks, if any
    return summary


def _kept_in(ctx: ConnectionContext) -> Any:
    def keep(new: dict[str, Any]) -> None:
        ctx.credentials = dict(new)

    return keep


def _activate(
    svc: Services,
    connection_id: int,
    ctx: ConnectionContext,
    registration: WebhookRegistration | None,
    now: datetime,
) -> ConnectionSummary:
    """Credentials, secret and webhook ids stored and the connection active: one transaction."""
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id, with_for_update=True)
        if row is None:
            raise ConnectionsError(f"connection {connection_id} vanished while connecting")
        row.credentials_enc = svc.secrets.encrypt_json(ctx.credentials)
        row.api_base = ctx.api_base
        if registration is not None:
            row.webhook_secret_enc = (
                svc.secrets.encrypt(registration.secret) if registration.secret else None
            )
            row.webhook_ids = list(registration.external_ids)
        row.active = True
        _resume_invoices(s, row, now)
        return _summary(row)


def _roll_back(
    svc: Services,
    adapter: PlatformAdapter,
    ctx: ConnectionContext,
    registration: WebhookRegistration | None,
    *,
    delete_row: bool,
) -> list[str]:
    """Undo a failed connect; the webhook ids that could not be removed at the platform."""
    left: list[str] = []
    if registration is not None and registration.external_ids:
        left = _unregister_quietly(adapter, ctx, registration.external_ids)
    if delete_row:
        with write_session(svc.sessions) as s:
            row = s.get(Connection, ctx.id)
            if row is not None and not row.active:
                s.delete(row)
    return left


def _unregister_quietly(
    adapter: PlatformAdapter, ctx: ConnectionContext, ids: Sequence[str]
) -> list[str]:
    if not ids:
        return []
    if not isinstance(adapter, UnregistersWebhooks):
        return list(ids)
    try:
        adapter.unregister_webhooks(ctx, ids)
    except AdapterError as exc:
        log.warning("could not remove %s webhooks %s: %s", ctx.platform, list(ids), exc)
        return list(ids)
    return []


# -- list --------------------------------------------------------------------------------------


def list_connections(svc: Services, shop_id: int | None) -> list[ConnectionSummary]:
    """The shop's platform connections, active and removed (the CSV import is not one)."""
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        rows = s.scalars(
            select(Connection)
            .where(Connection.shop_id == shop.id, Connection.platform != CSV_PLATFORM)
            .order_by(Connection.id)
        )
        return [_summary(row) for row in rows]


# -- remove ------------------------------------------------------------------------------------


def remove_connection(
    svc: Services,
    shop_id: int | None,
    connection_id: int,
    now: datetime,
    *,
    keep_webhooks: bool = False,
    adapters: Mapping[str, PlatformAdapter] | None = None,
) -> Removal:
    """Unregister the webhooks at the platform, then deactivate and erase the credentials;
    invoices and timeline stay, open invoices are paused. If the platform refuses the
    unregistration nothing changes (unless ``keep_webhooks``: they are left to the owner)."""
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        row = s.get(Connection, connection_id)
        if row is None or row.shop_id != shop.id or row.platform == CSV_PLATFORM:
            raise ConnectionsError(f"no platform connection {connection_id} in shop {shop.id}")
        if not row.active:
            raise ConnectionsError(f"connection {connection_id} is already removed")
        ctx = connection_context(svc, row)
        ids = list(row.webhook_ids or [])
    removed: list[str] = []
    left: list[str] = ids if keep_webhooks else []
    if ids and not keep_webhooks:
        adapter = _adapter(ctx.platform, adapters)
        if isinstance(adapter, UnregistersWebhooks):
            try:
                adapter.unregister_webhooks(ctx, ids)
            except AdapterError as exc:
                raise ConnectionsError(
                    f"connection {connection_id}: {exc}; nothing changed (retry, or pass "
                    "--keep-webhooks and delete them at the platform)"
                ) from exc
            removed = ids
        else:
            left = ids
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id, with_for_update=True)
        if row is None:
            raise ConnectionsError(f"connection {connection_id} vanished while removing it")
        paused = _deactivate(s, row, now, PAUSED_BY_REMOVAL)
        summary = _summary(row)
    return Removal(summary, removed, left, paused)


def deactivate_uninstalled(
    s: Session, conn: Connection, uninstalled_at: datetime, now: datetime
) -> int | None:
    """The platform says our app was uninstalled (Shopify ``app/uninstalled``), inside the
    caller's transaction: the tokens are void, so they are erased, the connection stops and its
    owed invoices are paused (a payment would go unseen); a reinstall resumes them. None (and
    nothing done) for a late retry of an uninstall older than the connection's last install."""
    installed = (conn.settings or {}).get(INSTALLED_AT)
    if not conn.active or (
        isinstance(installed, str) and uninstalled_at < datetime.fromisoformat(installed)
    ):
        return None
    return _deactivate(s, conn, now, PAUSED_BY_UNINSTALL)


def note_install(svc: Services, connection_id: int, now: datetime) -> None:
    """An app install (or reinstall) just connected: noted (an older uninstall delivered late
    must not undo it), and the first sync asked of the worker at its next pass (within a
    minute) — the web process never syncs, and never runs the scheduler."""
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id, with_for_update=True)
        if row is None:
            raise ConnectionsError(f"connection {connection_id} does not exist")
        row.settings = {**(row.settings or {}), INSTALLED_AT: now.isoformat()}
        row.last_sync_at = None
        row.last_sync_status = SYNC_QUEUED
        row.last_sync_error = None


def _deactivate(s: Session, row: Connection, now: datetime, reason: str) -> int:
    row.active = False
    row.credentials_enc = None
    row.webhook_secret_enc = None
    row.webhook_ids = None
    return _pause_invoices(s, row, now, reason)


def _pause_invoices(s: Session, conn: Connection, now: datetime, reason: str) -> int:
    """Owed invoices of a removed connection stop: nothing would tell us they were paid."""
    invoices = s.scalars(
        select(Invoice)
        .where(
            Invoice.connection_id == conn.id,
            Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID]),
            Invoice.pause_reason.is_(None),
        )
        .order_by(Invoice.id)
        .with_for_update()
    ).all()
    why = "removed" if reason == PAUSED_BY_REMOVAL else reason
    for inv in invoices:
        inv.pause_reason = reason
        inv.paused_until = None
        cancel_pending_reminders(s, inv, reason, now)
        add_timeline(
            s,
            inv,
            now,
            TimelineKind.PAUSED,
            f"{conn.platform} connection {conn.id} {why}: reminders paused",
        )
    return len(invoices)


def _resume_invoices(s: Session, conn: Connection, now: datetime) -> None:
    """A reconnected account picks up where its removal paused it."""
    for inv in s.scalars(
        select(Invoice)
        .where(
            Invoice.connection_id == conn.id,
            Invoice.pause_reason.in_((PAUSED_BY_REMOVAL, PAUSED_BY_UNINSTALL)),
        )
        .order_by(Invoice.id)
        .with_for_update()
    ):
        inv.pause_reason = None
        if InvoiceStatus(inv.status).is_owed:
            # A paused invoice left the engine's queue (next_action_at NULL): the next tick
            # plans it again (only its latest due step goes, design §6.3).
            inv.next_action_at = now
        add_timeline(
            s,
            inv,
            now,
            TimelineKind.RESUMED,
            f"{conn.platform} connection {conn.id} reconnected: reminders resume",
        )


def _adapter(platform: str, adapters: Mapping[str, PlatformAdapter] | None) -> PlatformAdapter:
    try:
        return adapter_for(platform, adapters)
    except UnknownPlatform as exc:
        raise ConnectionsError(str(exc)) from exc


def _summary(row: Connection) -> ConnectionSummary:
    return ConnectionSummary(
        id=row.id,
        shop_id=row.shop_id,
        platform=row.platform,
        account=row.external_account,
        active=row.active,
        webhooks=list(row.webhook_ids or []),
        last_sync_at=row.last_sync_at,
        last_sync_status=row.last_sync_status,
        last_webhook_at=row.last_webhook_at,
    )
