"""`relance owner create`: the same action as the pages, the password from a prompt or stdin
(never a flag), one-line errors naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from connector.actions.accounts import authenticate, shops_of_owner
from connector.cli import cli
from connector.config import Settings
from connector.services import Services
from connector.store.models import Shop

PASSWORD = "correct horse battery"


def _invoke(env: dict[str, str], args: list[str], stdin: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_owner_create_reads_the_password_and_joins_the_shop(
    env: dict[str, str], shop: Shop
) -> None:
    code, out, err = _invoke(
        env,
        ["owner", "create", "--email", "Owner@Shop.Example", "--shop", str(shop.id), "--json"],
        f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert code == 0, err
    assert PASSWORD not in out + err
    created = json.loads(out)
    assert (created["email"], created["shops"]) == ("owner@shop.example", [shop.id])
    svc = Services.build(Settings.from_env(env))
    try:
        now = datetime.now(UTC)
        account = authenticate(svc.sessions, email="owner@shop.example", password=PASSWORD, now=now)
        assert account is not None
        assert [s.id for s in shops_of_owner(svc.sessions, account.id)] == [shop.id]
    finally:
        svc.close()


def test_owner_create_errors_are_one_line(env: dict[str, str], shop: Shop) -> None:
    code, _, err = _invoke(env, ["owner", "create", "--email", "o@shop.example"], "short\nshort\n")
    assert code == 1
    assert err.strip().splitlines()[-1] == "relance: password: at least 10 characters, please"
    code, _, err = _invoke(
        env, ["owner", "create", "--email", "o@shop.example", "--shop", "9999"], f"{PASSWORD}\n" * 2
    )
    assert code == 1
    assert err.strip().splitlines()[-1] == "relance: shop: shop 9999 does not exist"


def test_the_password_is_never_a_flag() -> None:
    result = CliRunner().invoke(cli, ["owner", "create", "--help"])
    assert "--email" in result.output
    assert "--password" not in result.output
