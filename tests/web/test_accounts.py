"""Owner accounts and sessions through the pages: the first run on an empty store, sign-up
closed afterwards, sign-in (wrong password, 429 on the 11th failure in a minute, CSRF 400),
cookie flags, a password reset end to end through the outbox, the shop home and its switcher,
a CSV upload with a bad row."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from connector.actions.accounts import create_owner, create_shop_for_owner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice, Owner, Shop, TaskKind
from connector.tasks import open_task
from connector.web import create_app
from tests.support.pages import csrf_token

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
GOOD = (
    "F-100,marie@client.example,Marie Curie,120.00,EUR,2026-10-01,2026-10-31,false,fr\n"
    "F-101,acme@client.example,ACME SAS,1500,JPY,2026-10-01,2026-10-31,true,en\n"
)
BAD = "F-102,paul@client.example,Paul,12.5.0,EUR,2026-10-01,2026-10-31,false,fr\n"


def _count(services: Services, model: type) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _post(client: FlaskClient, path: str, form_page: str, **data: str) -> TestResponse:
    token = csrf_token(client.get(form_page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def _sign_up(client: FlaskClient, email: str = "owner@shop.example") -> None:
    resp = _post(client, "/welcome", "/welcome", email=email, password=PASSWORD, confirm=PASSWORD)
    assert resp.status_code == 302 and resp.location.endswith("/welcome/shop")


def _sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    return _post(client, "/signin", "/signin", email=email, password=password)


def _html(client: FlaskClient, path: str) -> str:
    return client.get(path, follow_redirects=True).get_data(as_text=True)


def test_first_run_account_then_shop_then_choices(client: FlaskClient, services: Services) -> None:
    assert client.get("/").location.endswith("/welcome")
    assert "Create your owner account" in _html(client, "/")
    assert client.get("/signin").location.endswith("/welcome")
    _sign_up(client)
    assert "Create your shop" in _html(client, "/")  # signed in, no shop yet
    resp = _post(
        client,
        "/welcome/shop",
        "/welcome/shop",
        name="Atelier Dupont",
        email="compta@dupont.example",
        timezone="Europe/Paris",
        customers="businesses",
    )
    assert resp.status_code == 302 and resp.location.endswith("/welcome/start")
    start = _html(client, "/welcome/start")
    for choice in ("Connect a platform", "Upload a CSV", "Try it with demo data"):
        assert choice in start
    home = _html(client, "/")
    assert "Atelier Dupont" in home and "No invoices yet" in home
    with services.sessions() as s:
        shop = s.scalars(select(Shop)).one()
        assert shop.default_b2b is True


def test_sign_up_is_closed_once_an_owner_exists(client: FlaskClient, services: Services) -> None:
    create_owner(services.sessions, email="first@shop.example", password=PASSWORD, now=NOW)
    assert client.get("/welcome").location.endswith("/signin")
    resp = _post(
        client,
        "/welcome",
        "/signin",
        email="second@evil.example",
        password=PASSWORD,
        confirm=PASSWORD,
    )
    assert resp.status_code == 403
    assert "Sign-up is closed" in resp.get_data(as_text=True)
    assert _count(services, Owner) == 1


def test_bad_shop_form_names_the_field(client: FlaskClient, services: Services) -> None:
    _sign_up(client)
    resp = _post(
        client,
        "/welcome/shop",
        "/welcome/shop",
        name="Atelier",
        email="compta@dupont.example",
        timezone="Paris",
        customers="consumers",
    )
    assert resp.status_code == 400
    assert "timezone: unknown time zone &#39;Paris&#39;" in resp.get_data(as_text=True)
    assert _count(services, Shop) == 0


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: FlaskClient, services: Services
) -> None:
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    wrong = _sign_in(client, "o@shop.example", "not the password")
    unknown = _sign_in(client, "nobody@shop.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    assert "Wrong email or password." in unknown.get_data(as_text=True)
    assert client.get("/").location.endswith("/signin")  # still signed out
    assert _sign_in(client, "O@Shop.Example").status_code == 302


def test_the_eleventh_wrong_password_in_a_minute_gets_429(
    client: FlaskClient, services: Services
) -> None:
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    for attempt in range(10):
        assert _sign_in(client, "o@shop.example", f"wrong-{attempt}").status_code == 401
    eleventh = _sign_in(client, "o@shop.example", PASSWORD)  # even the right one, now
    assert eleventh.status_code == 429
    assert "Too many attempts" in eleventh.get_data(as_text=True)
    assert client.get("/").location.endswith("/signin")


def test_attempts_are_counted_per_email_across_addresses(app: Flask, services: Services) -> None:
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    for attempt in range(10):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{attempt + 1}"
        assert _sign_in(client, "o@shop.example", "wrong").status_code == 401
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    assert _sign_in(other, "o@shop.example", "wrong").status_code == 429
    assert _sign_in(other, "someone@else.example", "wrong").status_code == 401


def test_sign_in_without_csrf_token_is_400(client: FlaskClient, services: Services) -> None:
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    client.get("/signin")
    resp = client.post("/signin", data={"email": "o@shop.example", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/").location.endswith("/signin")


@pytest.mark.parametrize(
    ("base_url", "secure"), [("http://127.0.0.1:8000", False), ("https://relance.example", True)]
)
def test_session_cookie_flags(services: Services, base_url: str, secure: bool) -> None:
    settings = replace(services.settings, base_url=base_url)
    app = create_app(settings=settings, services=replace(services, settings=settings))
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    resp = _sign_in(app.test_client(), "o@shop.example")
    assert resp.status_code == 302
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in cookie.lower()
    assert ("secure" in attributes) is secure


@pytest.fixture
def outbox(services: Services) -> Iterator[Path]:
    yield services.settings.outbox_dir


def _reset_link(outbox: Path, to: str) -> str:
    mails = [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]
    mine = [m for m in mails if m["to"] == to]
    assert len(mine) == 1
    found = re.search(r"http://127\.0\.0\.1:8000(/reset/\S+)", mine[0]["text"])
    assert found, mine[0]["text"]
    return found.group(1)


def test_password_reset_end_to_end_through_the_outbox(
    app: Flask, services: Services, outbox: Path
) -> None:
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    signed_in_elsewhere = app.test_client()
    assert _sign_in(signed_in_elsewhere, "o@shop.example").status_code == 302
    client = app.test_client()
    unknown = _post(client, "/forgot", "/forgot", email="nobody@shop.example")
    known = _post(client, "/forgot", "/forgot", email="o@shop.example")
    assert unknown.status_code == known.status_code == 200
    assert unknown.get_data(as_text=True) == known.get_data(as_text=True)
    link = _reset_link(outbox, "o@shop.example")
    new = "a brand new passphrase"
    mismatch = _post(client, link, link, password=new, confirm=new + "!")
    assert mismatch.status_code == 400
    assert "confirm: the two passwords differ" in mismatch.get_data(as_text=True)
    done = _post(client, link, link, password=new, confirm=new)
    assert done.status_code == 302
    assert client.get("/").status_code == 302  # signed in: to the (missing) shop
    assert client.get("/").location.endswith("/welcome/shop")
    # The link works once; the other session ended with the old password.
    again = client.get(link)
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)
    assert signed_in_elsewhere.get("/").location.endswith("/signin")
    fresh = app.test_client()
    assert _sign_in(fresh, "o@shop.example").status_code == 401
    assert _sign_in(fresh, "o@shop.example", new).status_code == 302


def test_forged_reset_link_is_refused(client: FlaskClient, services: Services) -> None:
    create_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    resp = client.get("/reset/not-a-token")
    assert resp.status_code == 400
    assert "not valid" in resp.get_data(as_text=True)
    assert "<form" not in resp.get_data(as_text=True)


def _owner_with_shop(client: FlaskClient, services: Services) -> int:
    _sign_up(client)
    owner_id = services.sessions().scalar(select(Owner.id))
    assert owner_id is not None
    shop = create_shop_for_owner(
        services.sessions,
        owner_id,
        name="Atelier Neuf",
        email="a@neuf.example",
        timezone="Europe/Paris",
        b2b=False,
    )
    return shop.id


def test_csv_upload_with_a_bad_row_writes_nothing_then_the_fixed_file_imports(
    client: FlaskClient, services: Services
) -> None:
    _owner_with_shop(client, services)
    page = client.get("/welcome/start").get_data(as_text=True)
    resp = client.post(
        "/welcome/import",
        data={"csrf_token": csrf_token(page), "file": (_bytes(HEADER + GOOD + BAD), "inv.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Line 4, <strong>amount</strong>: not a number: &#39;12.5.0&#39;" in html
    assert "nothing was imported" in html
    assert _count(services, Invoice) == 0
    resp = client.post(
        "/welcome/import",
        data={"csrf_token": csrf_token(page), "file": (_bytes(HEADER + GOOD), "inv.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert "Imported 2 invoices from inv.csv: 2 new, 0 updated." in html
    assert "120,00\u00a0€" in html and "1\u202f500\u00a0JPY" in html  # French amounts
    assert _count(services, Invoice) == 2


def test_upload_without_a_file_names_the_field(client: FlaskClient, services: Services) -> None:
    _owner_with_shop(client, services)
    page = client.get("/welcome/start").get_data(as_text=True)
    resp = client.post("/welcome/import", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 400
    assert "<strong>file</strong>: choose a CSV file to upload" in resp.get_data(as_text=True)


def _bytes(text: str) -> BytesIO:
    return BytesIO(text.encode())


def test_home_shows_only_the_current_shop_and_switches_between_members_shops(
    client: FlaskClient, services: Services, two_shops: tuple[Shop, Shop]
) -> None:
    a, b = two_shops
    create_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW, shop_ids=(a.id,)
    )
    assert _sign_in(client, "o@shop.example").status_code == 302
    home = _html(client, "/")
    assert "Atelier Dupont" in home and "F-A-001" in home
    assert not [m for m in ("Brasserie Lenoir", "F-B-001", "paul@b.example") if m in home]
    assert 'name="shop_id"' not in home  # one shop: no switcher
    refused = _post(client, "/shop", "/", shop_id=str(b.id))
    assert refused.status_code == 404
    assert "F-B-001" not in _html(client, "/")

    page = client.get("/welcome/start").get_data(as_text=True)
    client.post("/welcome/demo", data={"csrf_token": csrf_token(page)})
    demo_home = _html(client, "/")
    assert "Boutique Démo" in demo_home and "DEMO-001" in demo_home
    assert "F-A-001" not in demo_home
    assert 'name="shop_id"' in demo_home  # two shops now: the switcher
    back = _post(client, "/shop", "/", shop_id=str(a.id))
    assert back.status_code == 302
    assert "F-A-001" in _html(client, "/")


def test_home_says_what_the_owner_must_do(client: FlaskClient, services: Services) -> None:
    """A new shop has no payment instructions: its home says so (reminders for invoices without
    a payment link wait for them) and lists the shop's open tasks, none of another shop's."""
    _sign_up(client)
    _post(
        client,
        "/welcome/shop",
        "/welcome/shop",
        name="Atelier Dupont",
        email="compta@dupont.example",
        timezone="Europe/Paris",
        customers="businesses",
    )
    with services.sessions() as s:
        mine = s.scalars(select(Shop)).one()
    other_owner = create_owner(
        services.sessions, email="other@shop.example", password=PASSWORD, now=NOW
    )
    other = create_shop_for_owner(
        services.sessions,
        other_owner.id,
        name="Brasserie Lenoir",
        email="b@lenoir.example",
        timezone="Europe/Paris",
        b2b=False,
    )
    with write_session(services.sessions) as s:
        open_task(
            s, shop_id=mine.id, kind=TaskKind.BOUNCE, title="Fix Marie's address", dedupe_key="a"
        )
        open_task(s, shop_id=other.id, kind=TaskKind.BOUNCE, title="Lenoir's own", dedupe_key="b")
    home = _html(client, "/")
    assert 'href="/settings/sending#payment_instructions"' in home  # the page, not the CLI
    assert "Fix Marie&#39;s address" in home and "Lenoir" not in home
    with write_session(services.sessions) as s:
        found = s.get(Shop, mine.id)
        assert found is not None
        found.payment_instructions = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"
    assert "#payment_instructions" not in _html(client, "/")
