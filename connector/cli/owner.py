"""`relance owner create --email E [--shop ID …]`: an owner account from the command line (the
first one, or later ones: sign-up on the web is open only on an empty store). The password is
read from a prompt, or from stdin when it is not a terminal — never from a flag, which would
land in the shell's history and the process list."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from connector.actions.accounts import AccountError, create_owner
from connector.cli.common import CliError, emit, errors_as_cli, json_option, services


def _on_a_terminal() -> bool:
    return sys.stdin.isatty()


def _password() -> str:
    """Asked twice on a terminal (hidden, so a typo would go unseen); read once, silently,
    from a pipe (a script gives it once: a prompt there warns of an echo that never happens
    and waits for a confirmation the script never sends)."""
    if _on_a_terminal():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("password: none on stdin (pipe it in, or run this on a terminal)")
    return password


def register(cli: click.Group) -> None:
    @cli.group("owner")
    def owner() -> None:
        """Owner accounts (who signs in to the pages)."""

    @owner.command("create")
    @click.option("--email", required=True, help="The email the owner signs in with.")
    @click.option(
        "--shop",
        "shop_ids",
        type=int,
        multiple=True,
        help="Make the owner a member of this shop (repeatable).",
    )
    @json_option
    @errors_as_cli(AccountError)
    def owner_create(email: str, shop_ids: tuple[int, ...], as_json: bool) -> None:
        """Create an owner account; the password is asked for (or read from stdin)."""
        password = _password()
        with services() as svc:
            account = create_owner(
                svc.sessions,
                email=email,
                password=password,
                now=datetime.now(UTC),
                shop_ids=shop_ids,
            )
        data = {"id": account.id, "email": account.email, "shops": list(shop_ids)}
        emit(as_json, data, f"owner {account.id} created: {account.email}")
