"""The deployable processes: `relance serve` (embedded default) and `relance web` (gunicorn)
answer over real HTTP, and the manifests name only commands the CLI has."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from connector.cli import cli

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


def test_manifests_name_real_commands() -> None:
    manifest = json.loads((ROOT / "app.json").read_text())
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(manifest["formation"]) <= set(procfile)  # every process type is defined
    lines = list(procfile.values()) + list(manifest["scripts"].values())
    used = {cmd for line in lines for cmd in _relance_commands(line.strip())}
    assert used >= {"web", "worker", "db"}
    assert used <= set(cli.commands)
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
