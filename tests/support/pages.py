"""For page tests: two shops with data (the `two_shops` fixture, registered in tests/conftest.py)
and a way to read a form's CSRF token off a page."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from flask.testing import FlaskClient

from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Shop
from connector.web import create_app
from tests.support.builders import add_invoices, normalized

SECRET_MARKERS = (
    "Atelier Dupont",
    "Brasserie Lenoir",
    "F-A-001",
    "F-B-001",
    "marie@a.example",
    "paul@b.example",
)


@pytest.fixture
def two_shops(services: Services, shop: Shop) -> tuple[Shop, Shop]:
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example")
    add_invoices(
        services, shop, [normalized("F-A-001", email="marie@a.example", due_on=date(2026, 6, 1))]
    )
    add_invoices(
        services, other, [normalized("F-B-001", email="paul@b.example", due_on=date(2026, 6, 2))]
    )
    return shop, other


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


OPERATOR_TOKEN = "operator-token-for-tests-0123456789"


@pytest.fixture
def operator_client(services: Services) -> FlaskClient:
    """A browser signed in to the operator's overview of a deployment with a token set."""
    settings = replace(services.settings, overview_token=OPERATOR_TOKEN)
    app = create_app(settings=settings, services=replace(services, settings=settings))
    app.config["TESTING"] = True
    client = app.test_client()
    page = client.get("/overview").get_data(as_text=True)
    signed_in = client.post(
        "/overview/signin", data={"token": OPERATOR_TOKEN, "csrf_token": csrf_token(page)}
    )
    assert signed_in.status_code == 302
    return client
