"""What a new owner meets before their shop exists, and on a page that is not there: every shop
page sends them to the create-shop step (never Flask's bare "Not Found"), the nav offers only
what they can open yet, and a 404 or 403 is the app's own page with its nav."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from connector.actions.accounts import create_owner
from connector.services import Services
from connector.store.models import Shop
from tests.support.pages import csrf_token

OWNER = "new@owner.example"
PASSWORD = "correct horse battery"
SHOP_PAGES = (
    "/invoices",
    "/tasks",
    "/dashboard",
    "/connections",
    "/sequences",
    "/settings/legal",
)

NAV_LINKS = ("/invoices", "/tasks", "/dashboard", "/connections", "/sequences", "/settings")


def sign_in(client: FlaskClient, services: Services, shop_ids: tuple[int, ...]) -> None:
    create_owner(
        services.sessions, email=OWNER, password=PASSWORD, now=datetime.now(UTC), shop_ids=shop_ids
    )
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    resp = client.post("/signin", data={"csrf_token": token, "email": OWNER, "password": PASSWORD})
    assert resp.status_code == 302


@pytest.mark.parametrize("path", SHOP_PAGES)
def test_a_shop_page_before_the_shop_exists_goes_to_the_create_shop_step(
    client: FlaskClient, services: Services, path: str
) -> None:
    sign_in(client, services, ())
    resp = client.get(path)
    assert resp.status_code == 302, path
    assert resp.location.endswith("/welcome/shop"), resp.location


def test_the_nav_offers_no_shop_page_before_the_shop_exists(
    client: FlaskClient, services: Services
) -> None:
    sign_in(client, services, ())
    html = client.get("/welcome/shop").get_data(as_text=True)
    assert 'aria-label="Main"' in html
    for path in NAV_LINKS:
        assert f'href="{path}"' not in html, path


def test_the_nav_offers_the_shop_pages_once_the_shop_exists(
    client: FlaskClient, services: Services, shop: Shop
) -> None:
    sign_in(client, services, (shop.id,))
    html = client.get("/").get_data(as_text=True)
    for path in NAV_LINKS:
        assert f'href="{path}"' in html, path


def test_a_missing_page_is_the_apps_own_with_its_nav(
    client: FlaskClient, services: Services, shop: Shop
) -> None:
    sign_in(client, services, (shop.id,))
    for path in ("/no/such/page", "/invoices/999999"):
        resp = client.get(path)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 404, path
        assert "Page not found" in html and 'aria-label="Main"' in html, path
        assert 'href="/invoices"' in html, path


def test_a_missing_page_signed_out_is_the_apps_own_without_a_nav(client: FlaskClient) -> None:
    resp = client.get("/no/such/page")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert "Page not found" in html and "Relance" in html
    assert 'aria-label="Main"' not in html


def test_a_webhook_404_stays_plain(client: FlaskClient) -> None:
    resp = client.get("/webhooks/nowhere")
    assert resp.status_code in (404, 405)
    assert "Page not found" not in resp.get_data(as_text=True)
