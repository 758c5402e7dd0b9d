"""The deployable processes: `relance serve` (embedded default) and `relance web` (gunicorn)
answer over real HTTP, and the manifests name only commands the CLI has."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.cli import cli
from connector.config import Settings
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Reminder, ReminderState
from tests.conftest import make_env
from tests.support.builders import add_invoices, normalized
from tests.support.fake_sendgrid import FakeSendGrid

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"the process exited with {proc.returncode}: {out[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return dict(json.loads(resp.read()))
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.mark.slow
@pytest.mark.parametrize("command", [["serve"], ["web", "--workers", "2"]])
def test_process_answers_and_stops_cleanly(command: list[str], env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "db", "upgrade"], env={**os.environ, **env}
    )
    assert proc.wait(timeout=60) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", *command, "--port", str(port)],
        env={**os.environ, **env, "RELANCE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", proc) == {"status": "ok"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise


@pytest.mark.slow
def test_serve_creates_no_shop_and_says_how_to(env: dict[str, str]) -> None:
    """A fresh store served: no shop appears behind the owner's back (the README's own
    `invoices import` would then need --shop), the output says how to create one."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--port", str(port)],
        env={**os.environ, **env, "RELANCE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", proc) == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "No shop yet: open the page to create your owner account" in out.decode()
    listed = CliRunner().invoke(cli, ["shop", "list", "--json"], env=env)
    assert (listed.exit_code, json.loads(listed.stdout)) == (0, [])


def test_make_run_honours_host_and_port() -> None:
    """`make run` serves where the environment says (PORT, HOST), 127.0.0.1:8000 otherwise."""
    if shutil.which("make") is None:
        pytest.fail("make is required (the README's commands use it)")

    def serve_line(env: dict[str, str]) -> str:
        dry = subprocess.run(
            ["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout
        return next(line for line in dry.splitlines() if "relance serve" in line)

    clean = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}
    assert serve_line(clean).endswith("serve --host 127.0.0.1 --port 8000")
    chosen = serve_line({**clean, "PORT": "9123", "HOST": "0.0.0.0"})
    assert chosen.endswith("serve --host 0.0.0.0 --port 9123")


@pytest.mark.slow
def test_serve_stops_on_sigterm_with_its_scheduler(env: dict[str, str]) -> None:
    """SIGTERM ends `relance serve` like Ctrl-C: the server closes, the scheduler shuts down,
    exit status 0 — not killed in the middle of a tick."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--port", str(port)],
        env={**os.environ, **env, "RELANCE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _relance_commands(line: str) -> list[str]:
    words = shlex.split(line)
    return words[1:2] if words and words[0] == "relance" else []


def _parses(args: list[str]) -> None:
    """Click finds the sub-command and parses its options (a bad one raises UsageError)."""
    command: click.Command = cli
    name, rest = "relance", list(args)
    while isinstance(command, click.Group):
        name, *rest = rest
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"no command {name!r} in {args}"
        command = found
    command.make_context(name, rest)


def _procfile() -> dict[str, str]:
    return {
        kind.strip(): line.strip()
        for kind, line in (
            row.split(":", 1) for row in (ROOT / "Procfile").read_text().splitlines() if row
        )
    }


def test_buildpack_installs_the_lock_and_the_relance_command() -> None:
    """The Python buildpack needs requirements.txt (and reads .python-version): it must install
    the pinned lock and the package itself, so every dyno has `relance`."""
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "-r requirements.lock" in requirements
    assert "." in requirements  # the package: its console script is `relance`
    assert (ROOT / "requirements.lock").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["relance"] == "connector.cli:main"
    locked = {
        name.lower(): version
        for name, version in (
            line.split("==", 1)
            for line in (ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith((" ", "#"))
        )
    }
    for pin in project["dependencies"]:
        name, version = pin.split("==", 1)
        assert locked.get(name.split("[")[0].lower()) == version, pin
    python = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", python)
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("."))) >= tuple(map(int, minimum.split(".")))


def test_manifests_name_real_commands() -> None:
    manifest = json.loads((ROOT / "app.json").read_text())
    procfile = _procfile()
    assert set(manifest["formation"]) <= set(procfile)  # every process type is defined
    lines = list(procfile.values()) + list(manifest["scripts"].values())
    used = {cmd for line in lines for cmd in _relance_commands(line.strip())}
    assert used >= {"web", "worker", "db"}
    assert used <= set(cli.commands)
    for line in lines:  # and each parses, options included ($PORT as the platform sets it)
        words = shlex.split(line.strip().replace("$PORT", "8000"))
        if words[0] == "relance":
            _parses(words[1:])
    assert any(a["plan"].startswith("heroku-postgresql") for a in manifest["addons"])


def test_manifest_settings_are_valid(tmp_path: Path) -> None:
    """The one-click deployment's preset values parse (a typo would stop every dyno)."""
    from connector.config import Settings

    manifest = json.loads((ROOT / "app.json").read_text())
    preset = {k: v["value"] for k, v in manifest["env"].items() if "value" in v}
    settings = Settings.from_env(
        {
            **preset,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
            "RELANCE_VAR_DIR": str(tmp_path),
        }
    )
    assert settings.webhook_apply == "worker"  # web stores, the worker dyno applies


@pytest.mark.slow
def test_serve_stops_promptly_on_sigterm_while_its_tick_sends(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SIGTERM in the middle of a long tick: the tick claims nothing more, finishes the sends
    under way and the process exits 0 — before the tick's end, with nothing half-sent (what
    was claimed and not sent is taken over by a later tick once its lease is past)."""
    env = make_env(sqlite_url, tmp_path / "var")
    svc = Services.build(Settings.from_env(env))
    with write_session(svc.sessions) as s:
        shop = create_shop(s, name="Atelier Dupont", email="compta@dupont.example")
        shop.window_start, shop.window_end = dt_time(0, 0), dt_time(23, 59, 59)
        shop.business_days_only = False
    due = datetime.now(UTC).date() - timedelta(days=10)
    add_invoices(
        svc,
        shop,
        [normalized(f"S-{i}", email=f"s{i}@client.example", due_on=due) for i in range(600)],
    )
    port = free_port()
    with FakeSendGrid(latency=0.1) as sendgrid:
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--port", str(port)],
            env={
                **os.environ,
                **env,
                "SENDGRID_API_KEY": "SG.test",
                "SENDGRID_API_HOST": sendgrid.url,
                "RELANCE_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            assert sendgrid.wait_for_requests(5, timeout=120), "the tick never started sending"
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0
            assert "Traceback" not in out.decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        counts = sendgrid.accepted_reminder_ids()
    assert 0 < len(counts) < 600 and set(counts.values()) == {1}
    with svc.sessions() as s:
        rows = s.execute(select(Reminder.state, func.count()).group_by(Reminder.state)).all()
        states = {state: n for state, n in rows}
    assert ReminderState.SENDING not in states
    assert states.get(ReminderState.SENT, 0) == len(counts)
    svc.close()
