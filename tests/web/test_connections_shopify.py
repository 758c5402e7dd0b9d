"""The connections page's Shopify card tells the truth about how to connect on this server:
the App Store install only where the app's key and secret are configured, else the command."""

from __future__ import annotations

import re
from dataclasses import replace

from flask.testing import FlaskClient

from connector.services import Services
from connector.store.models import Shop
from connector.web import create_app
from tests.support.pages import csrf_token
from tests.web.conftest import OWNER, PASSWORD


def _shopify_card(client: FlaskClient) -> str:
    html = client.get("/connections").get_data(as_text=True)
    card = html[html.index('id="shopify"') :]
    card = card[: card.index("</section>")]
    return " ".join(re.sub(r"<[^>]+>", " ", card).split())


def test_without_the_app_key_the_card_points_to_the_command(signed_in: FlaskClient) -> None:
    card = _shopify_card(signed_in)
    assert "App Store" not in card
    assert "relance connect shopify --shop-domain" in card
    assert "SHOPIFY_API_KEY" in card and "read_orders, read_customers" in card


def test_with_the_app_configured_the_card_says_install_from_shopify(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    settings = replace(services.settings, shopify_api_key="key", shopify_api_secret="secret")
    app = create_app(settings=settings, services=replace(services, settings=settings))
    app.config["TESTING"] = True
    client = app.test_client()
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    client.post("/signin", data={"csrf_token": token, "email": OWNER, "password": PASSWORD})
    card = _shopify_card(client)
    assert "Install Relance from the Shopify App Store" in card
    assert "relance connect shopify" not in card
