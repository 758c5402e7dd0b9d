from __future__ import annotations

import click

from connector.cli.common import emit, json_option, redact_url, services
from connector.store.migrate import current_heads, upgrade


def register(cli: click.Group) -> None:
    @cli.group("db")
    def db() -> None:
        """The local store."""

    @db.command("upgrade")
    @json_option
    def db_upgrade(as_json: bool) -> None:
        """Apply migrations to DATABASE_URL (default: SQLite under ./var/)."""
        with services(needs_store=False) as svc:
            url = svc.settings.database_url
            upgrade(url)
            heads = current_heads(url)
        emit(as_json, {"database": redact_url(url), "revision": heads}, f"database at {heads}")
