"""`relance connections list|remove|request-sync|progress`: the shop's platform connections."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from connector.actions.connection_status import SyncProgress, connection_progress, request_sync
from connector.actions.connections import (
    ConnectionsError,
    ConnectionSummary,
    list_connections,
    remove_connection,
)
from connector.cli.common import emit, errors_as_cli, json_option, services
from connector.shops import ShopError

SHOP_HELP = "The shop (default: the only one)."


def register(cli: click.Group) -> None:
    @cli.group("connections")
    def connections() -> None:
        """Platform connections (made with `relance connect`)."""

    @connections.command("list")
    @click.option("--shop", "shop_id", type=int, help=SHOP_HELP)
    @json_option
    @errors_as_cli(ShopError, ConnectionsError)
    def connections_list(shop_id: int | None, as_json: bool) -> None:
        """The shop's connections, active and removed."""
        with services() as svc:
            found = list_connections(svc, shop_id)
        emit(
            as_json,
            [c.as_dict() for c in found],
            lambda: "\n".join(_line(c) for c in found) or "no platform connection",
        )

    @connections.command("remove")
    @click.argument("connection_id", type=int)
    @click.option("--shop", "shop_id", type=int, help=SHOP_HELP)
    @click.option(
        "--keep-webhooks",
        is_flag=True,
        help="Do not ask the platform to delete the webhooks (it cannot be reached any more).",
    )
    @json_option
    @errors_as_cli(ShopError, ConnectionsError)
    def connections_remove(
        connection_id: int, shop_id: int | None, keep_webhooks: bool, as_json: bool
    ) -> None:
        """Unregister the webhooks at the platform, erase the credentials, keep the history
        (invoices, timeline); the connection's open invoices are paused."""
        with services() as svc:
            removal = remove_connection(
                svc, shop_id, connection_id, datetime.now(UTC), keep_webhooks=keep_webhooks
            )
        conn = removal.connection
        text = (
            f"connection {conn.id} removed: {len(removal.webhooks_removed)} webhook(s) deleted at "
            f"{conn.platform}, {removal.invoices_paused} open invoice(s) paused"
        )
        if removal.webhooks_left:
            text += f"; delete these at {conn.platform}: {', '.join(removal.webhooks_left)}"
        emit(as_json, removal.as_dict(), text)

    @connections.command("request-sync")
    @click.argument("connection_id", type=int)
    @click.option("--shop", "shop_id", type=int, help=SHOP_HELP)
    @json_option
    @errors_as_cli(ShopError, ConnectionsError)
    def connections_request_sync(connection_id: int, shop_id: int | None, as_json: bool) -> None:
        """Ask the worker to sync this connection now (what the page's "Sync now" does);
        `relance sync --connection ID` runs it here instead."""
        with services() as svc:
            found = request_sync(svc, shop_id, connection_id, datetime.now(UTC))
        emit(as_json, found.as_json(), f"connection {connection_id}: {_progress_line(found)}")

    @connections.command("progress")
    @click.argument("connection_id", type=int)
    @click.option("--shop", "shop_id", type=int, help=SHOP_HELP)
    @json_option
    @errors_as_cli(ShopError, ConnectionsError)
    def connections_progress(connection_id: int, shop_id: int | None, as_json: bool) -> None:
        """The connection's sync: waiting, running (pages and invoices so far) or the last
        run's figures."""
        with services() as svc:
            found = connection_progress(svc, shop_id, connection_id)
        emit(as_json, found.as_json(), f"connection {connection_id}: {_progress_line(found)}")


def _progress_line(p: SyncProgress) -> str:
    figures = f"{p.pages} page(s), {p.invoices} invoice(s)"
    if p.state == "waiting":
        return "sync requested; the worker starts it within seconds"
    if p.state == "running":
        return f"syncing: {figures} so far"
    if p.last_sync_at is None:
        return "not synced yet"
    outcome = "ok" if p.last_sync_ok else "failed"
    return f"last sync {p.last_sync_at:%Y-%m-%d %H:%M} UTC {outcome}: {figures}"


def _line(c: ConnectionSummary) -> str:
    synced = ""
    if c.last_sync_at is not None:
        synced = f"synced {c.last_sync_at:%Y-%m-%d %H:%M} {c.last_sync_status}"
    state = "active" if c.active else "removed"
    return f"{c.id:>4}  {c.platform:<12} {state:<8} {c.account:<36} {synced}".rstrip()
