"""What the Connections page shows of each connection, and the owner's "sync now".

Every function takes the shop explicitly; a connection of another shop (or the CSV import,
which is not a platform connection) is not found. The progress of a sync is read from the
store, where the worker writes it with each page (``connector.sync``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.actions.connections import CSV_PLATFORM, ConnectionsError
from connector.connection_health import ConnectionProblem
from connector.services import Services
from connector.shops import resolve_shop
from connector.store.db import write_session
from connector.store.models import Connection
from connector.sync import is_sandbox

PLATFORM_NAMES = {"stripe": "Stripe", "shopify": "Shopify", "woocommerce": "WooCommerce"}

# The last sync's status (``Connection.last_sync_status``) in plain words, for the owner.
_PROBLEMS: dict[str, str] = {
    ConnectionProblem.SECRET_UNREADABLE.value: (
        "Relance cannot read this connection's stored secrets (the server's key was lost or "
        "changed). Ask whoever runs Relance to restore it, or disconnect and connect again."
    ),
    ConnectionProblem.CREDENTIALS_REFUSED.value: (
        "{platform} refused Relance's credentials (the key was revoked, or the app removed). "
        "Disconnect and connect again."
    ),
    "error: AdapterRateLimited": (
        "{platform} asked Relance to slow down. The next sync carries on where this one stopped."
    ),
    "error: AdapterMalformedResponse": (
        "{platform} sent an answer Relance could not read; none of it was saved. The next sync "
        "tries again."
    ),
    "error: StripeUnavailable": "Stripe could not be reached. The next sync tries again.",
    "error: WooCommerceUnavailable": (
        "The WooCommerce store could not be reached. The next sync tries again."
    ),
    "error: ShopifyTransportError": "Shopify could not be reached. The next sync tries again.",
}
_OTHER_PROBLEM = "The last sync failed: {detail}"
DEMO_SYNC = (
    "the demo's {platform} answered only while the demo data loaded: load the demo data again "
    "from the start page to refresh it"
)


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """A connection's sync as the page polls it: waiting (asked, not started), running (pages
    and invoices so far), or the figures of the last run."""

    connection_id: int
    state: str  # "waiting" | "running" | "idle"
    pages: int
    invoices: int
    started_at: datetime | None
    last_sync_at: datetime | None
    last_sync_ok: bool | None  # None: never synced

    def as_json(self) -> dict[str, Any]:
        return {
            "connection": self.connection_id,
            "state": self.state,
            "pages": self.pages,
            "invoices": self.invoices,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_sync_ok": self.last_sync_ok,
        }


@dataclass(frozen=True, slots=True)
class ConnectionView:
    id: int
    platform: str
    platform_name: str
    account: str
    active: bool
    last_sync_at: datetime | None
    last_webhook_at: datetime | None
    problem: str | None  # the last error, in plain words
    progress: SyncProgress
    demo: bool = False  # the demo's: its platform answered only while the demo data loaded


def connection_views(svc: Services, shop_id: int) -> list[ConnectionView]:
    """The shop's platform connections, connected ones first, each with its state."""
    with svc.sessions() as s:
        rows = s.scalars(
            select(Connection)
            .where(Connection.shop_id == shop_id, Connection.platform != CSV_PLATFORM)
            .order_by(Connection.active.desc(), Connection.id)
        ).all()
        return [_view(row) for row in rows]


def connection_view(svc: Services, shop_id: int, connection_id: int) -> ConnectionView:
    with svc.sessions() as s:
        return _view(_owned(s, shop_id, connection_id))


def connection_progress(svc: Services, shop_id: int | None, connection_id: int) -> SyncProgress:
    """The sync progress of one of the shop's connections (ConnectionsError if not its own;
    ``shop_id`` None: the only shop, for the CLI)."""
    with svc.sessions() as s:
        return _progress(_owned(s, resolve_shop(s, shop_id).id, connection_id))


def request_sync(
    svc: Services, shop_id: int | None, connection_id: int, now: datetime
) -> SyncProgress:
    """Ask the worker to sync this connection now (the web process never syncs itself). Asking
    again while a request waits changes nothing."""
    with write_session(svc.sessions) as s:
        row = _owned(s, resolve_shop(s, shop_id).id, connection_id, for_update=True)
        if not row.active:
            raise ConnectionsError(
                f"the {_name(row.platform)} connection is disconnected: connect it again first"
            )
        if is_sandbox(row):
            raise ConnectionsError(DEMO_SYNC.format(platform=_name(row.platform)))
        if row.sync_requested_at is None:
            row.sync_requested_at = now
        return _progress(row)


def _owned(s: Session, shop_id: int, connection_id: int, *, for_update: bool = False) -> Connection:
    query = select(Connection).where(
        Connection.id == connection_id,
        Connection.shop_id == shop_id,
        Connection.platform != CSV_PLATFORM,
    )
    row = s.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise ConnectionsError(f"no platform connection {connection_id} in this shop")
    return row


def _name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform.capitalize())


def _progress(row: Connection) -> SyncProgress:
    if row.sync_started_at is not None:
        state = "running"
    elif row.sync_requested_at is not None:
        state = "waiting"
    else:
        state = "idle"
    ok = None if row.last_sync_status is None else row.last_sync_status == "ok"
    return SyncProgress(
        connection_id=row.id,
        state=state,
        pages=row.sync_pages,
        invoices=row.sync_invoices,
        started_at=row.sync_started_at,
        last_sync_at=row.last_sync_at,
        last_sync_ok=ok,
    )


def _problem(row: Connection) -> str | None:
    status = row.last_sync_status
    if not row.active or status is None or status == "ok":
        return None
    template = _PROBLEMS.get(status, _OTHER_PROBLEM)
    detail = (row.last_sync_error or status).strip()
    return template.format(platform=_name(row.platform), detail=detail)


def _view(row: Connection) -> ConnectionView:
    return ConnectionView(
        id=row.id,
        platform=row.platform,
        platform_name=_name(row.platform),
        account=row.external_account,
        active=row.active,
        last_sync_at=row.last_sync_at,
        last_webhook_at=row.last_webhook_at,
        problem=_problem(row),
        progress=_progress(row),
        demo=is_sandbox(row),
    )
