"""The web tests' shared fixture: the shop's owner, signed in through the sign-in form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from connector.actions.accounts import create_owner
from connector.services import Services
from connector.store.models import Shop
from tests.support.pages import csrf_token

OWNER = "claire@dupont.example"
PASSWORD = "correct horse battery"


@pytest.fixture
def signed_in(client: FlaskClient, services: Services, shop: Shop) -> FlaskClient:
    """A client signed in as the shop's owner (the real account and sign-in form)."""
    create_owner(
        services.sessions,
        email=OWNER,
        password=PASSWORD,
        now=datetime.now(UTC),
        shop_ids=(shop.id,),
    )
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    resp = client.post("/signin", data={"csrf_token": token, "email": OWNER, "password": PASSWORD})
    assert resp.status_code == 302
    return client
