"""`relance keys check` and `relance keys rotate`: the keys that open the stored secrets."""

from __future__ import annotations

import click

from connector.cli.common import CliError, emit, errors_as_cli, json_option, services
from connector.crypto import SecretError
from connector.keys import SecretsReport, check_secrets, rotate_secrets


def register(cli: click.Group) -> None:
    @cli.group("keys")
    def keys() -> None:
        """The Fernet keys of the stored secrets (RELANCE_SECRET_KEYS, newest first)."""

    @keys.command("check")
    @json_option
    @errors_as_cli(SecretError)
    def keys_check(as_json: bool) -> None:
        """Whether the configured keys open every connection's secrets (exit 1 if not)."""
        with services() as svc:
            report = check_secrets(svc)
        emit(as_json, report.as_dict(), lambda: _check_text(report))
        if report.unreadable:
            raise CliError(
                f"{len(report.unreadable)} of {len(report.connections)} connections' secrets "
                "cannot be decrypted with the configured keys"
            )

    @keys.command("rotate")
    @json_option
    @errors_as_cli(SecretError)
    def keys_rotate(as_json: bool) -> None:
        """Re-encrypt every stored secret with the newest key (the first of
        RELANCE_SECRET_KEYS), in one transaction; the older keys can then be dropped."""
        with services() as svc:
            report = rotate_secrets(svc)
        unreadable = ", ".join(map(str, report.unreadable))
        emit(
            as_json,
            report.as_dict(),
            f"{report.rotated_secrets} secrets of {report.rotated_connections} connections "
            "re-encrypted with the newest key"
            + (
                f"; left as they were (no key opens them): connections {unreadable}"
                if unreadable
                else ""
            ),
        )


def _check_text(report: SecretsReport) -> str:
    if not report.connections:
        return "no stored secrets"
    return "\n".join(
        f"connection {c.connection_id}: shop {c.shop_id} {c.platform}"
        f"{'' if c.active else ' (inactive)'} {'ok' if c.readable else 'CANNOT BE DECRYPTED'}"
        for c in report.connections
    )
