"""Owner accounts in the application layer, on SQLite and PostgreSQL: sign-up only on an empty
store, scrypt hashes, sign-in that does not tell whether an email exists, the first shop and its
membership, a password reset mailed through the mail transport (single-use, expiring)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.actions.accounts import (
    AccountError,
    NotAMember,
    SignUpClosed,
    authenticate,
    create_owner,
    create_shop_for_owner,
    has_owner,
    owner_for_session,
    request_password_reset,
    reset_password,
    shop_of_member,
    shops_of_owner,
    sign_up_first_owner,
)
from connector.actions.home import shop_home
from connector.actions.onboarding import import_csv, load_demo_data
from connector.importer import ImportError_
from connector.mail.outbox import OutboxTransport
from connector.services import Services
from connector.store.models import Invoice, Membership, Owner, Shop

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
KEY = "signing-key-for-tests"
HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
GOOD_ROW = "F-1,marie@client.example,Marie,120.00,EUR,2026-10-01,2026-10-31,false,fr\n"
BAD_ROW = "F-2,not-an-email,Paul,12.00,EUR,2026-10-01,2026-10-31,false,fr\n"


def _count(services: Services, model: type) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_sign_up_is_open_only_while_the_store_has_no_owner(services: Services) -> None:
    assert not has_owner(services.sessions)
    first = sign_up_first_owner(
        services.sessions, email="  Owner@Shop.Example ", password=PASSWORD, now=NOW
    )
    assert first.email == "owner@shop.example"
    assert has_owner(services.sessions)
    with pytest.raises(SignUpClosed, match="sign-up is closed"):
        sign_up_first_owner(
            services.sessions, email="intruder@evil.example", password=PASSWORD, now=NOW
        )
    assert _count(services, Owner) == 1
    # Later owners come from the CLI's action, and an email is one account.
    create_owner(services.sessions, email="second@shop.example", password=PASSWORD, now=NOW)
    with pytest.raises(AccountError, match="email: an account already exists"):
        create_owner(services.sessions, email="SECOND@shop.example", password=PASSWORD, now=NOW)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "email: 'not-an-email' is refused by the mail provider"),
        ("a@b.example", "short", "password: at least 10 characters"),
    ],
)
def test_bad_sign_up_names_the_field_and_writes_nothing(
    services: Services, email: str, password: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        sign_up_first_owner(services.sessions, email=email, password=password, now=NOW)
    assert _count(services, Owner) == 0


def test_password_is_stored_as_a_scrypt_hash(services: Services) -> None:
    sign_up_first_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    with services.sessions() as s:
        stored = s.scalars(select(Owner.password_hash)).one()
    assert stored.startswith("scrypt:")
    assert PASSWORD not in stored


def test_sign_in_right_wrong_and_unknown(services: Services) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW
    )
    later = NOW + timedelta(hours=1)
    assert (
        authenticate(services.sessions, email="o@shop.example", password="nope", now=later) is None
    )
    assert (
        authenticate(services.sessions, email="x@shop.example", password=PASSWORD, now=later)
        is None
    )
    signed = authenticate(services.sessions, email="O@SHOP.example", password=PASSWORD, now=later)
    assert signed == owner
    with services.sessions() as s:
        assert s.scalars(select(Owner.last_sign_in_at)).one() == later


def test_unknown_email_costs_the_same_work_as_a_wrong_password(services: Services) -> None:
    """Timing must not tell whether an email has an account: an unknown one is checked against
    a dummy scrypt hash. (Without it, the unknown email answers ~30 times faster.)"""
    sign_up_first_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)

    def timed(email: str) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            authenticate(services.sessions, email=email, password="wrong-password", now=NOW)
            runs.append(time.perf_counter() - started)
        return sorted(runs)[1]

    timed("nobody@shop.example")  # the dummy hash is made once, on first use
    known, unknown = timed("o@shop.example"), timed("nobody@shop.example")
    assert unknown > 0.3 * known, (known, unknown)


def test_first_shop_gets_its_owner_as_member(services: Services) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW
    )
    shop = create_shop_for_owner(
        services.sessions,
        owner.id,
        name="Atelier Dupont",
        email="compta@dupont.example",
        timezone="America/Martinique",
        b2b=True,
    )
    assert shops_of_owner(services.sessions, owner.id) == [shop]
    with services.sessions() as s:
        stored = s.get(Shop, shop.id)
        assert stored is not None
        assert (stored.timezone, stored.default_b2b, stored.owner_email) == (
            "America/Martinique",
            True,
            "compta@dupont.example",
        )


def test_bad_shop_names_the_field_and_writes_nothing(services: Services) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW
    )
    with pytest.raises(AccountError, match="timezone: unknown time zone 'Mars/Olympus'"):
        create_shop_for_owner(
            services.sessions,
            owner.id,
            name="Atelier",
            email="a@shop.example",
            timezone="Mars/Olympus",
            b2b=False,
        )
    assert (_count(services, Shop), _count(services, Membership)) == (0, 0)


def test_an_owner_reaches_only_their_own_shops(services: Services) -> None:
    alice = sign_up_first_owner(
        services.sessions, email="alice@a.example", password=PASSWORD, now=NOW
    )
    bob = create_owner(services.sessions, email="bob@b.example", password=PASSWORD, now=NOW)
    a = create_shop_for_owner(
        services.sessions, alice.id, name="A", email="a@a.example", timezone="UTC", b2b=False
    )
    b = create_shop_for_owner(
        services.sessions, bob.id, name="B", email="b@b.example", timezone="UTC", b2b=False
    )
    assert shop_of_member(services.sessions, alice.id, a.id) == a
    with pytest.raises(NotAMember):
        shop_of_member(services.sessions, alice.id, b.id)
    with pytest.raises(NotAMember):
        shop_of_member(services.sessions, bob.id, 999_999)
    assert shops_of_owner(services.sessions, bob.id) == [b]


def test_cli_owner_is_made_member_of_existing_shops_only(services: Services, shop: Shop) -> None:
    owner = create_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW, shop_ids=(shop.id,)
    )
    assert [s.id for s in shops_of_owner(services.sessions, owner.id)] == [shop.id]
    with pytest.raises(AccountError, match="shop: shop 424242 does not exist"):
        create_owner(
            services.sessions,
            email="p@shop.example",
            password=PASSWORD,
            now=NOW,
            shop_ids=(424242,),
        )
    assert _count(services, Owner) == 1


def _mailed_link(outbox: Path, to: str) -> str:
    mails = [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]
    mine = [m for m in mails if m["to"] == to]
    assert len(mine) == 1, mails
    assert mine[0]["subject"] == "Reset your Relance password"
    found = re.search(r"https://relance\.example/reset/(\S+)", mine[0]["text"])
    assert found, mine[0]["text"]
    return found.group(1)


def _request_reset(services: Services, outbox: Path, email: str, now: datetime) -> bool:
    return request_password_reset(
        services.sessions,
        OutboxTransport(outbox),
        email=email,
        signing_key=KEY,
        link_for=lambda token: f"https://relance.example/reset/{token}",
        mail_from=None,
        now=now,
    )


def test_password_reset_by_mail_is_single_use(services: Services, tmp_path: Path) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW
    )
    outbox = tmp_path / "outbox"
    assert not _request_reset(services, outbox, "nobody@shop.example", NOW)
    assert list(outbox.glob("*.json")) == []  # nothing mailed, and the caller says the same
    assert _request_reset(services, outbox, "O@shop.example", NOW)
    token = _mailed_link(outbox, "o@shop.example")

    changed = reset_password(
        services.sessions,
        token=token,
        new_password="a brand new passphrase",
        signing_key=KEY,
        now=NOW + timedelta(minutes=5),
    )
    assert changed.id == owner.id
    assert (
        authenticate(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW) is None
    )
    assert authenticate(
        services.sessions, email="o@shop.example", password="a brand new passphrase", now=NOW
    )
    # The old session (fingerprint of the old password) is over.
    assert owner_for_session(services.sessions, owner.id, owner.session_fingerprint) is None
    with pytest.raises(AccountError, match="already used"):
        reset_password(
            services.sessions,
            token=token,
            new_password="yet another passphrase",
            signing_key=KEY,
            now=NOW + timedelta(minutes=6),
        )


def test_expired_or_forged_reset_token_is_refused(services: Services, tmp_path: Path) -> None:
    sign_up_first_owner(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)
    outbox = tmp_path / "outbox"
    _request_reset(services, outbox, "o@shop.example", NOW)
    token = _mailed_link(outbox, "o@shop.example")
    with pytest.raises(AccountError, match="expired"):
        reset_password(
            services.sessions,
            token=token,
            new_password="a brand new passphrase",
            signing_key=KEY,
            now=NOW + timedelta(hours=1, minutes=1),
        )
    with pytest.raises(AccountError, match="not valid"):
        reset_password(
            services.sessions,
            token=token,
            new_password="a brand new passphrase",
            signing_key="another deployment's key",
            now=NOW,
        )
    assert authenticate(services.sessions, email="o@shop.example", password=PASSWORD, now=NOW)


def test_csv_upload_checks_every_row_before_writing(services: Services) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW
    )
    shop = create_shop_for_owner(
        services.sessions, owner.id, name="A", email="a@a.example", timezone="UTC", b2b=False
    )
    with pytest.raises(ImportError_) as caught:
        import_csv(services.sessions, shop.id, (HEADER + GOOD_ROW + BAD_ROW).encode(), NOW)
    assert [str(e) for e in caught.value.errors] == [
        "line 3, field customer_email: 'not-an-email' is refused by the mail provider: "
        "needs exactly one @"
    ]
    assert _count(services, Invoice) == 0
    result = import_csv(services.sessions, shop.id, (HEADER + GOOD_ROW).encode(), NOW)
    assert (result.rows, result.inserted) == (1, 1)
    home = shop_home(services.sessions, shop.id)
    assert [(i.number, str(i.amount_due)) for i in home.invoices] == [("F-1", "120.00 EUR")]


def test_demo_data_goes_to_a_demo_shop_of_the_owner(services: Services, shop: Shop) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password=PASSWORD, now=NOW
    )
    demo = load_demo_data(services, owner.id, NOW)
    assert [s.id for s in shops_of_owner(services.sessions, owner.id)] == [demo.id]
    assert shop_home(services.sessions, demo.id).invoice_count == 5
    assert shop_home(services.sessions, shop.id).invoice_count == 0  # no other shop touched
