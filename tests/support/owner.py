"""A signed-in owner for page tests: the account made through the real action, the sign-in
through the real form."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from connector.actions.accounts import create_owner
from connector.services import Services
from tests.support.pages import csrf_token

PASSWORD = "correct horse battery"


def signed_in(app: Flask, services: Services, shop_id: int, email: str) -> FlaskClient:
    """A browser signed in as a new owner of ``shop_id``."""
    create_owner(
        services.sessions,
        email=email,
        password=PASSWORD,
        now=datetime(2026, 11, 30, tzinfo=UTC),
        shop_ids=(shop_id,),
    )
    client = app.test_client()
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    resp = client.post("/signin", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client
