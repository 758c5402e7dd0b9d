"""Inside the Shopify admin, in real Chromium: the admin (a page of the shop's own https origin,
served by Playwright) frames the app on 127.0.0.1, a cross-site iframe whose cookies are
third-party. App Bridge is a stub whose ``shopify.idToken()`` asks the test for a fresh session
token each time. The owner clicks through the nav, records a payment and closes a task: every
step works on the session token alone — the server never receives a cookie — and no sign-in
page ever shows. Screenshots under tests/artifacts/embedded-*.png."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from connector.actions.accounts import create_owner
from connector.platform import InvoiceStatus
from connector.sandbox.shopify import make_session_token
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Shop, Task, TaskKind, TaskState
from connector.tasks import open_task
from connector.web import create_app
from tests.browser.conftest import screenshot
from tests.support.builders import add_invoices, normalized

API_KEY = "client-id-1"
SECRET = "shpss_test_secret"
SHOP = "relance-test.myshopify.com"
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcmVsYW5jZS10ZXN0"
ADMIN = f"https://{SHOP}/admin/apps/relance"
TOKEN_URL = f"https://{SHOP}/test-session-token"
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
STUB = f"""
(function () {{
  var plain = window.fetch.bind(window);
  window.shopify = {{ idToken: function () {{
    return plain("{TOKEN_URL}").then(function (r) {{ return r.text(); }});
  }} }};
}}());
"""


def _token() -> str:
    return make_session_token(SECRET, aud=API_KEY, dest=f"https://{SHOP}", now=datetime.now(UTC))


class Served:
    """The app on a loopback port; what each request to it carried."""

    def __init__(self, services: Services) -> None:
        settings = replace(services.settings, shopify_api_key=API_KEY, shopify_api_secret=SECRET)
        self.services = replace(services, settings=settings)
        self.app = create_app(settings=settings, services=self.services)
        self.requests: list[tuple[str, str, str | None]] = []
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def _dispatch(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.requests.append(
            (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("HTTP_COOKIE"))
        )
        return self.app(environ, start_response)


@pytest.fixture
def served(services: Services, shop: Shop) -> Iterator[Served]:
    running = Served(services)
    svc = running.services
    create_owner(
        svc.sessions,
        email="owner@dupont.example",
        password="correct horse battery",
        now=datetime.now(UTC),
        shop_ids=(shop.id,),
    )
    add_invoices(
        svc,
        shop,
        [normalized("F-7", email="a@client.example", due_on=date(2026, 6, 1), amount="240.00")],
    )
    with write_session(svc.sessions) as s:
        s.add(
            Connection(
                shop_id=shop.id,
                platform="shopify",
                external_account=SHOP,
                credentials_enc=svc.secrets.encrypt_json({"access_token": "shpat_x"}),
                active=True,
            )
        )
        inv = s.scalars(select(Invoice)).one()
        open_task(
            s,
            shop_id=shop.id,
            kind=TaskKind.ESCALATION,
            title="Call Marie Curie",
            dedupe_key="esc",
            invoice_id=inv.id,
        )
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()


def _admin(page: Any, base: str) -> list[str]:
    """The Shopify admin (its own origin) framing the app as Shopify does; the App Bridge stub;
    the token endpoint the stub asks. Returns the tokens handed out."""
    handed: list[str] = []
    query = urlencode({"embedded": "1", "shop": SHOP, "host": HOST, "id_token": _token()})
    admin_html = (
        "<!doctype html><html><body><h1>Shopify admin</h1>"
        f'<iframe name="app" src="{base}/?{query}" width="1200" height="1400"></iframe>'
        "</body></html>"
    )

    def token(route: Any) -> None:
        handed.append(_token())
        route.fulfill(
            body=handed[-1],
            content_type="text/plain",
            headers={"Access-Control-Allow-Origin": base},
        )

    page.route(ADMIN, lambda route: route.fulfill(body=admin_html, content_type="text/html"))
    page.route(TOKEN_URL, token)
    page.route(
        APP_BRIDGE,
        lambda route: route.fulfill(body=STUB, content_type="application/javascript"),
    )
    return handed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_clicks_and_forms_inside_the_admin_work_without_cookies(page: Any, served: Served) -> None:
    handed = _admin(page, served.base)
    # Chromium asks before a public origin (the admin) frames a loopback one: the test says yes.
    page.context.grant_permissions(["local-network-access"])
    page.goto(ADMIN)
    app = page.frame_locator("iframe[name=app]")
    app.locator("text=Relance").first.wait_for()
    app.locator("a", has_text="F-7").first.wait_for()
    screenshot(page, "embedded-1-home")

    # A link: the invoices list, loaded with a fresh token.
    app.locator("nav.main a", has_text="Invoices").click()
    app.locator("h1", has_text="Invoices").wait_for()
    assert handed, "the link asked App Bridge for a token"
    app.locator("a", has_text="F-7").first.click()
    app.locator("#pay-form").wait_for()
    screenshot(page, "embedded-2-invoice")

    # A form: record the payment.
    app.locator("#pay-form input[name=confirm]").check()
    app.locator("#pay-form button[type=submit]").click()
    app.locator("text=received by bank transfer").first.wait_for()
    screenshot(page, "embedded-3-paid")

    # Another form: close the task.
    app.locator("nav.main a", has_text="Tasks").click()
    app.locator("text=Call Marie Curie").first.wait_for()
    app.locator("button", has_text="Mark as done").click()
    app.locator("text=Task closed.").wait_for()
    screenshot(page, "embedded-4-task-closed")

    # A page of ours loaded without a token (a reload, a link followed before embedded.js ran):
    # App Bridge is asked for one, and the page comes, never our sign-in.
    frame = next(f for f in page.frames if f.url.startswith(served.base))
    frame.goto(f"{served.base}/invoices?{urlencode({'shop': SHOP, 'host': HOST})}")
    app.locator("h1", has_text="Invoices").wait_for()
    assert "id_token=" in frame.url
    screenshot(page, "embedded-5-reloaded-without-token")

    with served.services.sessions() as s:
        assert s.scalars(select(Invoice)).one().status is InvoiceStatus.PAID
        assert s.scalars(select(Task)).one().state is TaskState.DONE
    assert "/signin" not in frame.url
    content = frame.content()
    assert "Sign in" not in content and "Sign out" not in content
    posts = [path for method, path, _ in served.requests if method == "POST"]
    assert [p.rsplit("/", 1)[-1] for p in posts] == ["pay", "close"], posts
    assert len(handed) >= 5  # two links, two forms and a reload, each with a fresh token
    assert [c for _, _, c in served.requests if c] == []  # never a cookie: the token alone
    assert page.csp_violations == []
