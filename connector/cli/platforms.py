"""`relance connect <platform> …` (flags built from each adapter's credential fields) and
`relance sync`. Adapters are found by entry point; none is imported by name."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select

from connector.cli.common import (
    CliError,
    check_secrets_at_start,
    emit,
    errors_as_cli,
    json_option,
    services,
)
from connector.crypto import SecretError
from connector.platform import AdapterError, PlatformAdapter, load_adapters
from connector.services import Services
from connector.shops import ShopError, resolve_shop
from connector.store.db import write_session
from connector.store.models import Connection
from connector.sync import SyncError, connection_context, platform_connections, sync_connection


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _connect_command(platform: str, adapter: PlatformAdapter) -> click.Command:
    params: list[click.Parameter] = [
        click.Option(
            [_flag(f.name), f.name],
            required=f.required,
            help=f.help,
        )
        for f in adapter.credential_fields
    ]
    params += [
        click.Option(["--api-base"], help="Talk to this base URL instead of the platform's."),
        click.Option(["--shop", "shop_id"], type=int, help="The shop (default: the only one)."),
        click.Option(["--no-webhooks"], is_flag=True, help="Do not register webhooks (sync only)."),
        click.Option(["--json", "as_json"], is_flag=True, help="Machine-readable output."),
    ]

    @errors_as_cli(ShopError, AdapterError, SecretError)
    def callback(
        api_base: str | None,
        shop_id: int | None,
        no_webhooks: bool,
        as_json: bool,
        **values: Any,
    ) -> None:
        accounts = [f.name for f in adapter.credential_fields if f.is_account]
        account = next((values[name] for name in accounts if values.get(name)), "")
        creds = {k: v for k, v in values.items() if v is not None}
        with services() as svc:
            with write_session(svc.sessions) as s:
                shop = resolve_shop(s, shop_id)
                existing = s.scalar(
                    select(Connection).where(
                        Connection.shop_id == shop.id,
                        Connection.platform == platform,
                        Connection.external_account == account,
                    )
                )
                conn = existing or Connection(
                    shop_id=shop.id, platform=platform, external_account=account
                )
                conn.credentials_enc = svc.secrets.encrypt_json(creds)
                conn.api_base = api_base
                conn.active = True
                s.add(conn)
                s.flush()
                connection_id = conn.id
            registered: list[str] = []
            if not no_webhooks:
                with svc.sessions() as s:
                    row = s.get(Connection, connection_id)
                    assert row is not None
                    ctx = connection_context(svc, row)
                registration = adapter.register_webhooks(ctx, svc.settings.base_url)
                registered = list(registration.external_ids)
                if registration.secret:
                    with write_session(svc.sessions) as s:
                        row = s.get(Connection, connection_id)
                        assert row is not None
                        row.webhook_secret_enc = svc.secrets.encrypt(registration.secret)
        emit(
            as_json,
            {
                "connection": connection_id,
                "platform": platform,
                "account": account,
                "webhooks": registered,
            },
            f"connection {connection_id}: {platform} {account}".rstrip(),
        )

    return click.Command(
        platform,
        params=params,
        callback=callback,
        help=f"Connect a {platform} account (credentials are stored encrypted).",
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
        return {"connection": cid, "error": str(exc)}
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
