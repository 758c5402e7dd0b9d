"""Nothing about any shop is shown without signing in (issue: trust, item 1); the operator's
overview (/overview) is off unless RELANCE_OVERVIEW_TOKEN is set; forms are CSRF-protected;
every response carries the security headers; the store file is private."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.actions.accounts import create_owner
from connector.config import Settings
from connector.services import Services
from connector.store.migrate import upgrade
from connector.store.models import Shop
from connector.web import create_app
from connector.web.security import SECURITY_HEADERS
from tests.support.pages import SECRET_MARKERS, csrf_token

TOKEN = "operator-token-for-tests-0123456789"
NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
def operator_app(services: Services) -> Iterator[Flask]:
    """The app of a deployment whose operator set RELANCE_OVERVIEW_TOKEN."""
    settings = replace(services.settings, overview_token=TOKEN)
    app = create_app(settings=settings, services=replace(services, settings=settings))
    app.config["TESTING"] = True
    yield app


def _sign_in(client: FlaskClient, token: str) -> tuple[int, str]:
    page = client.get("/overview").get_data(as_text=True)
    resp = client.post("/overview/signin", data={"token": token, "csrf_token": csrf_token(page)})
    return resp.status_code, resp.get_data(as_text=True)


def _shows_no_shop_data(html: str) -> None:
    leaked = [marker for marker in SECRET_MARKERS if marker in html]
    assert not leaked, f"shown without sign-in: {leaked}"


def test_home_without_sign_in_shows_no_shop_data(
    client: FlaskClient, services: Services, two_shops: object
) -> None:
    resp = client.get("/", follow_redirects=True)  # no owner yet: the first run
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Create your owner account" in html
    _shows_no_shop_data(html)
    create_owner(services.sessions, email="o@x.example", password="a long password", now=NOW)
    resp = client.get("/", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Sign in to continue" in html
    _shows_no_shop_data(html)


def test_overview_is_off_by_default(client: FlaskClient, two_shops: object) -> None:
    assert client.get("/overview").status_code == 404  # no token is configured
    assert client.post("/overview/signin", data={"token": ""}).status_code in (400, 404)
    _shows_no_shop_data(client.get("/", follow_redirects=True).get_data(as_text=True))


def test_wrong_token_is_refused_and_shows_nothing(operator_app: Flask, two_shops: object) -> None:
    client = operator_app.test_client()
    status, html = _sign_in(client, "not-the-token")
    assert status == 401
    assert "not the operator token" in html
    _shows_no_shop_data(client.get("/overview").get_data(as_text=True))


def test_operator_token_opens_the_overview_and_sign_out_closes_it(
    operator_app: Flask, two_shops: object
) -> None:
    client = operator_app.test_client()
    status, _ = _sign_in(client, TOKEN)
    assert status == 302
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    for marker in SECRET_MARKERS:
        assert marker in html
    resp = client.post("/signout", data={"csrf_token": csrf_token(html)})
    assert resp.status_code == 302
    _shows_no_shop_data(client.get("/overview").get_data(as_text=True))


def test_sign_in_without_csrf_token_is_refused(operator_app: Flask, two_shops: object) -> None:
    client = operator_app.test_client()
    client.get("/overview")
    resp = client.post("/overview/signin", data={"token": TOKEN})
    assert resp.status_code == 400
    _shows_no_shop_data(client.get("/overview").get_data(as_text=True))


def test_changing_the_token_signs_everyone_out(
    operator_app: Flask, services: Services, two_shops: object
) -> None:
    client = operator_app.test_client()
    assert _sign_in(client, TOKEN)[0] == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    settings = replace(services.settings, overview_token="a-new-token-the-operator-chose")
    rotated = create_app(settings=settings, services=replace(services, settings=settings))
    rotated.config["SECRET_KEY"] = operator_app.config["SECRET_KEY"]
    other = rotated.test_client()
    other.set_cookie("session", cookie.value)
    _shows_no_shop_data(other.get("/overview").get_data(as_text=True))


def test_session_key_is_shared_by_every_web_process(services: Services) -> None:
    first = create_app(services=services)
    second = create_app(services=services)
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/healthz"),
        ("get", "/static/relance.css"),
        ("get", "/no-such-page"),
        ("post", "/webhooks/stripe/999999"),
        ("post", "/signin"),
        ("post", "/overview/signin"),
        ("get", "/welcome"),
    ],
)
def test_every_response_carries_the_security_headers(
    operator_app: Flask, method: str, path: str
) -> None:
    resp = getattr(operator_app.test_client(), method)(path)
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, f"{path}: {name}"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]


def test_pages_have_no_inline_script_or_style(operator_app: Flask, two_shops: object) -> None:
    client = operator_app.test_client()
    pages = [client.get("/overview").get_data(as_text=True)]
    _sign_in(client, TOKEN)
    pages.append(client.get("/overview").get_data(as_text=True))
    for html in pages:
        assert "<style" not in html
        assert not re.search(r"<script(?![^>]*\ssrc=)", html)
        assert " style=" not in html
        assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_store_file_and_folder_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        env = {"RELANCE_VAR_DIR": str(tmp_path / "var")}
        svc = Services.build(Settings.from_env(env))
        try:
            upgrade(svc.settings.database_url)
            _ = svc.secrets  # the local key
        finally:
            svc.close()
    finally:
        os.umask(old)
    var = tmp_path / "var"
    assert _mode(var) == 0o700
    assert _mode(var / "relance.db") == 0o600
    assert _mode(var / "secret.key") == 0o600
    for extra in ("relance.db-wal", "relance.db-shm"):
        if (var / extra).exists():
            assert _mode(var / extra) == 0o600


def test_shop_fixture_is_in_the_markers(shop: Shop) -> None:
    assert shop.name in SECRET_MARKERS  # the markers above really name the test data
