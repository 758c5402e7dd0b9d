"""`relance connections list|remove`: the shop's platform connections."""

from __future__ import annotations

from datetime import UTC, datetime

import click

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


def _line(c: ConnectionSummary) -> str:
    synced = ""
    if c.last_sync_at is not None:
        synced = f"synced {c.last_sync_at:%Y-%m-%d %H:%M} {c.last_sync_status}"
    state = "active" if c.active else "removed"
    return f"{c.id:>4}  {c.platform:<12} {state:<8} {c.account:<36} {synced}".rstrip()
