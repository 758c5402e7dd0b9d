"""Real Chromium (Debian's package) driven by Playwright's Python package.

`playwright install` cannot download a browser here, so the browser is the system one
(`executable_path`). Without it the browser tests are skipped with the reason, except where
RELANCE_REQUIRE_BROWSER=1 (CI), where its absence fails them. Screenshots go under
tests/artifacts/ (ignored by git) for a person to look at."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from connector.actions.accounts import create_owner
from connector.services import Services
from connector.store.models import Shop
from connector.web import create_app

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
REQUIRE_BROWSER = os.environ.get("RELANCE_REQUIRE_BROWSER") == "1"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


OWNER = "claire@dupont.example"
PASSWORD = "correct horse battery"


def chromium_path() -> str | None:
    return os.environ.get("RELANCE_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        reason = "Chromium not installed (Debian package `chromium`; `make test` installs it)"
        if REQUIRE_BROWSER:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.csp_violations = []
    opened.on(
        "console",
        lambda msg: (
            opened.csp_violations.append(msg.text)
            if "Content Security Policy" in msg.text
            else None
        ),
    )
    yield opened
    context.close()


@pytest.fixture
def live_server() -> Iterator[Any]:
    """Serve a Flask app on a free loopback port for the duration of a test."""
    servers: list[Any] = []

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def shoot(page: Any, name: str) -> None:
    """A screenshot on the desktop, then one on a phone (``name``-phone); back to the desktop."""
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


def sign_in_owner(
    page: Any,
    live_server: Any,
    services: Services,
    shop: Shop,
    *,
    email: str = OWNER,
    password: str = PASSWORD,
) -> str:
    """A new owner of ``shop`` (the real action), the app served, and the owner signed in
    through the sign-in form; the app's base URL."""
    create_owner(
        services.sessions,
        email=email,
        password=password,
        now=datetime.now(UTC),
        shop_ids=(shop.id,),
    )
    base: str = live_server(create_app(services=services))
    page.goto(base + "/signin")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    return base
