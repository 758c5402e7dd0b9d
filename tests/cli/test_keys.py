"""Keys as the operator meets them: a lost key file is never silently replaced, a process whose
keys open no stored secret refuses to start in one line, `relance keys rotate` moves every
secret onto the newest key, and `relance sync` carries on past a broken connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from connector.cli import cli
from connector.config import Settings
from connector.crypto import SecretBox
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection
from tests.support.fake_stripe import DEFAULT_API_KEY, FakeStripe
from tests.support.webhooks import make_connection

Invoke = Callable[..., tuple[int, str, str]]
REFUSED = (
    "relance: 2 connection secrets cannot be decrypted with the configured keys: "
    "restore var/secret.key or RELANCE_SECRET_KEYS\n"
)


def invoker(env: dict[str, str]) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str, **overrides: str | None) -> tuple[int, str, str]:
        merged = {**env, **overrides}
        result = runner.invoke(cli, list(args), env=merged, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def connect_two(env: dict[str, str], api_base: str | None = None) -> list[int]:
    """Two shops, each with a Stripe connection (credentials and webhook secret encrypted)."""
    invoke = invoker(env)
    assert invoke("db", "upgrade")[0] == 0
    ids = []
    for n in (1, 2):
        code, _, err = invoke("shop", "create", "--name", f"Shop {n}", "--email", "o@x.example")
        assert code == 0, err
    svc = Services.build(Settings.from_env(env))
    try:
        for shop_id, secret in ((1, "whsec_a"), (2, "whsec_b")):
            cid = make_connection(
                svc, shop_id, "stripe", secret=secret, credentials={"api_key": DEFAULT_API_KEY}
            )
            with write_session(svc.sessions) as s:
                row = s.get(Connection, cid)
                assert row is not None
                row.api_base = api_base
            ids.append(cid)
    finally:
        svc.close()
    return ids


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def test_rotation_onto_a_new_key_leaves_no_decrypt_failure(env: dict[str, str]) -> None:
    connect_two(env)
    invoke = invoker(env)
    old = env["RELANCE_SECRET_KEYS"]
    new = Fernet.generate_key().decode()

    code, _, err = invoke("keys", "check", "--json", RELANCE_SECRET_KEYS=new)
    assert code == 1
    assert json.loads(err)["error"].startswith("2 of 2 connections' secrets cannot")

    code, out, err = invoke("keys", "rotate", "--json", RELANCE_SECRET_KEYS=f"{new},{old}")
    assert code == 0, err
    assert json.loads(out) == {"rotated_connections": 2, "rotated_secrets": 4, "unreadable": []}

    code, out, err = invoke("keys", "check", "--json", RELANCE_SECRET_KEYS=new)
    assert code == 0, err
    report = json.loads(out)
    assert (report["connections"], report["unreadable"]) == (2, 0)
    assert invoke("tick", "--json", RELANCE_SECRET_KEYS=new)[0] == 0


def test_a_lost_key_file_is_never_replaced(env: dict[str, str]) -> None:
    local = {k: v for k, v in env.items() if k != "RELANCE_SECRET_KEYS"}
    connect_two(local)  # encrypted with a key generated into var/secret.key
    key_file = Path(local["RELANCE_VAR_DIR"]) / "secret.key"
    assert key_file.exists()
    key_file.unlink()

    for command in (("tick",), ("sync",), ("keys", "check")):
        code, out, err = invoker(local)(*command)
        assert code == 1 and out == ""
        assert err == (
            f"relance: {key_file} is missing but the store holds encrypted secrets for 2 "
            "connection(s): restore the key file or set RELANCE_SECRET_KEYS\n"
        )
    assert not key_file.exists()


def test_processes_refuse_to_start_when_no_stored_secret_opens(env: dict[str, str]) -> None:
    connect_two(env)
    wrong = Fernet.generate_key().decode()
    for command in (("tick",), ("sync",)):
        code, out, err = invoker(env)(*command, RELANCE_SECRET_KEYS=wrong)
        assert (code, out, err) == (1, "", REFUSED), command
        code, out, err = invoker(env)(*command, "--json", RELANCE_SECRET_KEYS=wrong)
        assert (code, out) == (1, ""), command
        assert "relance: " + json.loads(err)["error"] + "\n" == REFUSED
    # The long-lived ones as real processes (a time-out, not a hang, if one ever starts).
    for command in (("worker",), ("web", "--port", "0"), ("serve", "--port", "0")):
        done = subprocess.run(
            [sys.executable, "-m", "connector", *command],
            env={**os.environ, **env, "RELANCE_SECRET_KEYS": wrong, "RELANCE_LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (done.returncode, done.stderr) == (1, REFUSED), command


def test_sync_reports_the_broken_connection_and_syncs_the_other(
    env: dict[str, str], fake: FakeStripe
) -> None:
    a, b = connect_two(env, api_base=fake.url)
    fake.add_invoice()
    svc = Services.build(Settings.from_env(env))
    lost = SecretBox([Fernet.generate_key().decode()])
    with write_session(svc.sessions) as s:
        row = s.get(Connection, b)
        assert row is not None and row.credentials_enc
        row.credentials_enc = lost.encrypt_json({"api_key": DEFAULT_API_KEY})
    svc.close()

    code, out, err = invoker(env)("sync", "--json")
    assert code == 1
    results = {r["connection"]: r for r in json.loads(out)}
    assert results[a]["invoices"] == 1
    assert "cannot decrypt" in results[b]["error"]
    assert json.loads(err)["error"].startswith("1 of 2 connections failed: connection 2: cannot")
    assert err.count("\n") == 1
