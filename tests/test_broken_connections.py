"""One shop's connection whose stored secrets no configured key opens (its key was lost) never
stops the others: two shops, each on its own local Stripe through the real stripe client, and
shop B's secrets re-encrypted under a key the store no longer has. Shop A's webhooks are
accepted, its sync runs, its reminders go out; B is marked broken with one task for its owner,
its webhooks answer 503 (the platform retries later), its reminders fail with a task instead of
being stranded, and its stored events wait for the key without spending their attempts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.connection_health import ConnectionProblem
from connector.crypto import SecretBox
from connector.keys import require_usable_secrets
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import (
    Connection,
    Invoice,
    Message,
    MessageState,
    Reminder,
    ReminderState,
    Shop,
    Task,
    TaskKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.sync import status_checker, sync_connection, sync_due
from connector.webhooks.apply import apply_pending, retry_pending
from tests.engine.conftest import outbox_messages
from tests.support.builders import paris
from tests.support.fake_stripe import DEFAULT_API_KEY, FakeStripe
from tests.support.webhooks import (
    make_connection,
    open_invoice,
    seed_invoices,
    shopify_connection,
    shopify_headers,
    stripe_headers,
)

CREATED = int(datetime(2026, 5, 11, 9, tzinfo=UTC).timestamp())  # due 2026-06-10, a Wednesday
TICK = paris(date(2026, 6, 11))  # reminder_1, inside the window
OTHER_DOMAIN = "boutique-martin.myshopify.com"


@dataclass
class Tenant:
    shop_id: int
    connection_id: int
    fake: FakeStripe
    secret: str
    invoice: dict[str, object]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeStripe, FakeStripe]]:
    with FakeStripe() as a, FakeStripe() as b:
        yield a, b


def _tenant(svc: Services, shop_id: int, fake: FakeStripe, secret: str, email: str) -> Tenant:
    cid = make_connection(
        svc, shop_id, "stripe", secret=secret, credentials={"api_key": DEFAULT_API_KEY}
    )
    with write_session(svc.sessions) as s:
        row = s.get(Connection, cid)
        assert row is not None
        row.api_base = fake.url
    invoice = fake.add_invoice(created=CREATED, customer=fake.add_customer(email=email))
    sync_connection(svc, cid, datetime.now(UTC))
    return Tenant(shop_id, cid, fake, secret, invoice)


@pytest.fixture
def tenants(
    services: Services, shop: Shop, fakes: tuple[FakeStripe, FakeStripe]
) -> tuple[Tenant, Tenant]:
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Boutique Martin", email="owner@martin.example").id
    a = _tenant(services, shop.id, fakes[0], "whsec_shop_a", "marie@client.example")
    b = _tenant(services, other, fakes[1], "whsec_shop_b", "paul@client.example")
    return a, b


def lose_key(svc: Services, connection_id: int) -> None:
    """The connection's secrets as they are after its key was lost: encrypted under a key that
    is no longer configured."""
    lost = SecretBox([Fernet.generate_key().decode()])
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id)
        assert row is not None and row.credentials_enc
        row.credentials_enc = lost.encrypt(svc.secrets.decrypt(row.credentials_enc))
        if row.webhook_secret_enc:
            row.webhook_secret_enc = lost.encrypt(svc.secrets.decrypt(row.webhook_secret_enc))


def restore_key(
    svc: Services, connection_id: int, credentials: dict[str, str], secret: str
) -> None:
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection_id)
        assert row is not None
        row.credentials_enc = svc.secrets.encrypt_json(credentials)
        row.webhook_secret_enc = svc.secrets.encrypt(secret)


def broken_tasks(svc: Services) -> list[tuple[int, str]]:
    with svc.sessions() as s:
        return [
            (t.shop_id, t.dedupe_key)
            for t in s.scalars(select(Task).where(Task.kind == TaskKind.BROKEN_CONNECTION))
        ]


def status_of(svc: Services, connection_id: int) -> str | None:
    with svc.sessions() as s:
        row = s.get(Connection, connection_id)
        assert row is not None
        return row.last_sync_status


def invoice_of(svc: Services, tenant: Tenant) -> Invoice:
    """Each local Stripe numbers its objects alike: an invoice is found by its connection too."""
    with svc.sessions() as s:
        inv = s.scalar(
            select(Invoice).where(
                Invoice.connection_id == tenant.connection_id,
                Invoice.external_id == tenant.invoice["id"],
            )
        )
        assert inv is not None
        return inv


def _deliver(client: FlaskClient, tenant: Tenant, event: dict[str, object]) -> int:
    body = json.dumps(event).encode()
    resp = client.post(
        f"/webhooks/stripe/{tenant.connection_id}",
        data=body,
        headers=stripe_headers(body, tenant.secret),
    )
    return resp.status_code


def test_webhooks_of_the_broken_connection_answer_503_and_the_others_are_accepted(
    services: Services, tenants: tuple[Tenant, Tenant], client: FlaskClient
) -> None:
    a, b = tenants
    lose_key(services, b.connection_id)
    at = int(datetime.now(UTC).timestamp()) + 5

    assert _deliver(client, b, b.fake.pay(str(b.invoice["id"]), at=at)) == 503
    assert _deliver(client, a, a.fake.pay(str(a.invoice["id"]), at=at)) == 200

    assert invoice_of(services, a).status is InvoiceStatus.PAID
    assert invoice_of(services, b).status is InvoiceStatus.OPEN
    with services.sessions() as s:
        stored = s.scalars(select(WebhookEvent.connection_id)).all()
    assert stored == [a.connection_id]  # nothing unverified is stored
    assert status_of(services, b.connection_id) == ConnectionProblem.SECRET_UNREADABLE.value
    assert broken_tasks(services) == [
        (b.shop_id, f"broken_connection:SECRET_UNREADABLE:{b.connection_id}")
    ]


def test_shopify_app_deliveries_still_reach_the_shops_whose_secrets_open(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    """App-level topics try every Shopify connection: one unreadable must not fail them all."""
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Boutique Martin", email="owner@martin.example").id
    conn = shopify_connection(services, shop.id)
    other_conn = shopify_connection(services, other, domain=OTHER_DOMAIN)
    seed_invoices(services, shop.id, conn, [open_invoice("1001")])
    seed_invoices(services, other, other_conn, [open_invoice("2001")])
    lose_key(services, other_conn)

    def request(domain: str, event_id: str) -> int:
        raw = json.dumps(
            {
                "shop_id": 1,
                "shop_domain": domain,
                "customer": {"id": 1, "email": "marie@client.example", "phone": None},
                "orders_requested": [1001],
                "data_request": {"id": 9},
            }
        ).encode()
        headers = shopify_headers(raw, "customers/data_request", event_id, domain=domain)
        return client.post("/webhooks/shopify", data=raw, headers=headers).status_code

    assert request("atelier-dupont.myshopify.com", "dr-a") == 200
    assert request(OTHER_DOMAIN, "dr-b") == 503  # B's: kept by Shopify until the key is back
    with services.sessions() as s:
        [task] = s.scalars(select(Task).where(Task.kind == TaskKind.DATA_REQUEST)).all()
    assert task.shop_id == shop.id
    assert [shop_id for shop_id, _ in broken_tasks(services)] == [other]


def test_sync_skips_the_broken_connection_and_syncs_the_others(
    services: Services, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    lose_key(services, b.connection_id)
    later = datetime.now(UTC)
    with write_session(services.sessions) as s:  # both due for their interval
        for cid in (a.connection_id, b.connection_id):
            row = s.get(Connection, cid)
            assert row is not None
            row.last_sync_at = None

    sync_due(services, later)

    with services.sessions() as s:
        synced = s.scalars(select(Connection.last_sync_at).order_by(Connection.id)).all()
    assert synced == [later, later]  # both tried, in one pass
    assert status_of(services, a.connection_id) == "ok"
    assert status_of(services, b.connection_id) == ConnectionProblem.SECRET_UNREADABLE.value
    sync_due(services, later)  # again: still one task
    assert broken_tasks(services) == [
        (b.shop_id, f"broken_connection:SECRET_UNREADABLE:{b.connection_id}")
    ]

    restore_key(services, b.connection_id, {"api_key": DEFAULT_API_KEY}, b.secret)
    sync_connection(services, b.connection_id, datetime.now(UTC))
    assert status_of(services, b.connection_id) == "ok"  # the mark lifts by itself


def test_tick_sends_the_others_and_fails_the_broken_ones_claims_with_a_task(
    services: Services, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    lose_key(services, b.connection_id)

    report = dunning_runner(services, status_checker=status_checker(services)).tick(TICK)

    sent = {str(m["to"]) for m in outbox_messages(services)}
    assert sent == {"marie@client.example"}  # shop A's reminder went out
    assert (report.counts()["sent"], report.counts()["failed"]) == (1, 1)
    with services.sessions() as s:
        states = dict(
            s.execute(
                select(Invoice.connection_id, Reminder.state)
                .join(Invoice, Invoice.id == Reminder.invoice_id)
                .where(Reminder.step_key == "reminder_1")
            ).all()
        )
        claimed = s.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.state.in_([MessageState.CLAIMED, MessageState.SENDING]))
        )
        [task] = s.scalars(select(Task).where(Task.kind == TaskKind.SEND_FAILED)).all()
    assert states == {a.connection_id: ReminderState.SENT, b.connection_id: ReminderState.FAILED}
    assert claimed == 0  # nothing stranded
    assert task.shop_id == b.shop_id
    assert [shop_id for shop_id, _ in broken_tasks(services)] == [b.shop_id]


def test_a_stored_event_waits_for_the_key_without_spending_its_attempts(
    services: Services, tenants: tuple[Tenant, Tenant], client: FlaskClient
) -> None:
    """A dispute names no invoice: the worker must open the connection to ask Stripe. B's
    waits for its key, keeps its attempts, and never holds up A's in the retry batch."""
    a, b = tenants
    at = int(datetime.now(UTC).timestamp()) + 5
    for tenant in (b, a):
        assert (
            _deliver(client, tenant, tenant.fake.pay(str(tenant.invoice["id"]), at=at, amount=500))
            == 200
        )
    dispute_b = b.fake.dispute(str(b.invoice["id"]), at=at + 60)
    assert _deliver(client, b, dispute_b) == 200  # stored, left for the worker
    lose_key(services, b.connection_id)
    apply_pending(services, datetime.now(UTC))
    assert _deliver(client, a, a.fake.dispute(str(a.invoice["id"]), at=at + 60)) == 200

    retry_pending(services, datetime.now(UTC), min_age=timedelta(0), limit=1)

    assert invoice_of(services, a).pause_reason == "dispute"  # A's, behind B's in the queue
    with services.sessions() as s:
        row = s.scalar(
            select(WebhookEvent).where(
                WebhookEvent.connection_id == b.connection_id,
                WebhookEvent.dedupe_key == dispute_b["id"],
            )
        )
        assert row is not None
        assert row.outcome is WebhookOutcome.FAILED and row.attempts == 0
    assert [shop_id for shop_id, _ in broken_tasks(services)] == [b.shop_id]

    restore_key(services, b.connection_id, {"api_key": DEFAULT_API_KEY}, b.secret)
    require_usable_secrets(services)  # the restart after the key is restored lifts the mark
    retry_pending(services, datetime.now(UTC), min_age=timedelta(0))
    assert invoice_of(services, b).pause_reason == "dispute"


def test_start_up_marks_the_unreadable_and_refuses_when_none_opens(
    services: Services, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    lose_key(services, b.connection_id)
    report = require_usable_secrets(services)
    assert [c.connection_id for c in report.unreadable] == [b.connection_id]
    assert status_of(services, b.connection_id) == ConnectionProblem.SECRET_UNREADABLE.value
    assert status_of(services, a.connection_id) == "ok"
    assert [shop_id for shop_id, _ in broken_tasks(services)] == [b.shop_id]

    lose_key(services, a.connection_id)
    with pytest.raises(Exception, match="2 connection secrets cannot be decrypted"):
        require_usable_secrets(services)
