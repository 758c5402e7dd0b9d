"""`relance connect <platform> …` (flags built from each adapter's credential fields) and
`relance sync`. Adapters are found by entry point; none is imported by name."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from connector.actions.connections import ConnectionsError, connect
from connector.cli.common import (
    CliError,
    check_secrets_at_start,
    emit,
    errors_as_cli,
    json_option,
    services,
)
from connector.crypto import SecretError
from connector.platform import PlatformAdapter, load_adapters
from connector.services import Services
from connector.shops import ShopError
from connector.sync import SyncError, platform_connections, sync_connection

CORE_OPTIONS = ("--api-base", "--shop", "--no-webhooks", "--json")


def _connect_command(platform: str, adapter: PlatformAdapter) -> click.Command:
    params: list[click.Parameter] = []
    for f in adapter.credential_fields:
        if f.cli_flag in CORE_OPTIONS:  # an adapter bug: say which, never a silent clash
            raise click.ClickException(
                f"{platform}: credential {f.name!r} takes the core option {f.cli_flag}"
            )
        params.append(click.Option([f.cli_flag, f.name], required=f.required, help=f.help))
    params += [
        click.Option(["--api-base"], help="Talk to this base URL instead of the platform's."),
        click.Option(["--shop", "shop_id"], type=int, help="The shop (default: the only one)."),
        click.Option(["--no-webhooks"], is_flag=True, help="Do not register webhooks (sync only)."),
        click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output."),
    ]

    @errors_as_cli(ShopError, ConnectionsError, SecretError)
    def callback(
        api_base: str | None,
        shop_id: int | None,
        no_webhooks: bool,
        as_json: bool,
        **values: str | None,
    ) -> None:
        with services() as svc:
            connected = connect(
                svc,
                shop_id,
                platform,
                values,
                datetime.now(UTC),
                api_base=api_base,
                register_webhooks=not no_webhooks,
            )
        emit(
            as_json,
            {
                "connection": connected.id,
                "platform": platform,
                "account": connected.account,
                "webhooks": connected.webhooks if not no_webhooks else [],
            },
            f"connection {connected.id}: {platform} {connected.account}".rstrip(),
        )

    return click.Command(
        platform,
        params=params,
        callback=callback,
        help=f"Connect a {platform} account (credentials are tried with a test call, then stored "
        "encrypted). All or nothing: if the webhooks cannot be registered, nothing is kept."
        + (
            f"\n\n{hint}" if isinstance(hint := getattr(adapter, "connect_help", None), str) else ""
        ),
    )


class ConnectGroup(click.Group):
    """One sub-command per installed adapter, discovered when the CLI runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(load_adapters())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        adapters = load_adapters()
        return _connect_command(name, adapters[name]) if name in adapters else None


def register(cli: click.Group) -> None:
    cli.add_command(
        ConnectGroup("connect", help="Connect a platform account (--api-base URL for a local one).")
    )

    @cli.command("sync")
    @click.option("--connection", "connection_id", type=int)
    @json_option
    def sync(connection_id: int | None, as_json: bool) -> None:
        """Pull what changed on each connected platform, from its stored cursor."""
        now = datetime.now(UTC)
        results: list[dict[str, object]] = []
        with services() as svc:
            check_secrets_at_start(svc)
            ids = platform_connections(svc, connection_id)
            if connection_id is not None and not ids:
                raise CliError(f"no active platform connection {connection_id}")
            for cid in ids:  # one failing connection never stops the others
                results.append(_sync_one(svc, cid, now, as_json))
        failed = [r for r in results if "error" in r]
        emit(
            as_json,
            results,
            lambda: "\n".join(map(_sync_line, results)) or "no platform connection",
        )
        if failed:
            raise CliError(
                f"{len(failed)} of {len(results)} connections failed: {failed[0]['error']}"
            )


def _sync_one(svc: Services, cid: int, now: datetime, as_json: bool) -> dict[str, object]:
    bar = _progress(cid) if sys.stderr.isatty() and not as_json else None
    try:
        result = sync_connection(svc, cid, now, progress=bar)
    except SyncError as exc:
        return {
            "connection": cid,
            "error": f"{exc} (`relance connections remove {cid}` disconnects it)",
        }
    finally:
        if bar is not None:
            click.echo("", err=True)
    return {
        "connection": cid,
        "pages": result.pages,
        "invoices": result.invoices,
        "inserted": result.inserted,
        "updated": result.updated,
        "closed": result.closed,
    }


def _sync_line(r: dict[str, object]) -> str:
    if "error" in r:
        return f"connection {r['connection']}: failed: {r['error']}"
    return (
        f"connection {r['connection']}: {r['invoices']} invoices in {r['pages']} pages "
        f"({r['inserted']} new, {r['updated']} updated, {r['closed']} settled)"
    )


def _progress(connection_id: int) -> Any:
    def show(pages: int, invoices: int) -> None:
        click.echo(
            f"\rconnection {connection_id}: page {pages}, {invoices} invoices", err=True, nl=False
        )

    return show
