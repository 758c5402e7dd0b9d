"""`relance owner create`: the same action as the pages, the password from a prompt or stdin
(never a flag), one-line errors naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from connector.actions.accounts import authenticate, shops_of_owner
from connector.cli import cli
from connector.cli import owner as owner_cli
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


def test_a_piped_password_is_read_once_without_a_warning(env: dict[str, str], shop: Shop) -> None:
    """A script pipes the password once: no echo warning, no confirmation prompt (which
    aborted, waiting for a second line the script never sends)."""
    code, out, err = _invoke(env, ["owner", "create", "--email", "p@shop.example"], f"{PASSWORD}\n")
    assert code == 0, err
    assert out.strip().endswith("created: p@shop.example")
    assert err == ""
    code, _, err = _invoke(env, ["owner", "create", "--email", "q@shop.example"], "")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "relance: password: none on stdin (pipe it in, or run this on a terminal)"
    )


def test_on_a_terminal_the_password_is_asked_twice(
    env: dict[str, str], shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, object]] = []

    def prompt(text: str, **kw: object) -> str:
        asked.append({"text": text, **kw})
        return PASSWORD

    monkeypatch.setattr(owner_cli, "_on_a_terminal", lambda: True)
    monkeypatch.setattr(owner_cli.click, "prompt", prompt)
    code, _, err = _invoke(env, ["owner", "create", "--email", "t@shop.example"], "")
    assert code == 0, err
    assert asked == [
        {"text": "Password", "hide_input": True, "confirmation_prompt": True, "err": True}
    ]
