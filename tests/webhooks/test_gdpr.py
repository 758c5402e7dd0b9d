"""GDPR through Shopify's mandatory compliance topics (app-level route) and the CLI: an export
offered as a task, personal data erased with amounts and dates kept, a shop's data deleted —
never touching another shop's."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.cli import cli
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import (
    Connection,
    Customer,
    Invoice,
    Message,
    Reminder,
    Shop,
    Task,
    TaskKind,
    WebhookEvent,
)
from tests.support.builders import paris
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    shopify_connection,
    shopify_headers,
)
from tests.webhooks.conftest import row_counts

OTHER_DOMAIN = "boutique-martin.myshopify.com"
MARIE = "marie@client.example"


def _setup(services: Services, shop: Shop) -> tuple[int, int, int]:
    """Two shops on the same Shopify app (same secret); Marie is a customer of both."""
    with write_session(services.sessions) as s:
        other_id = create_shop(s, name="Boutique Martin", email="owner@martin.example").id
    conn = shopify_connection(services, shop.id)
    other_conn = shopify_connection(services, other_id, domain=OTHER_DOMAIN)
    seed_invoices(
        services,
        shop.id,
        conn,
        [open_invoice("1001", email=MARIE), open_invoice("1002", email="paul@client.example")],
    )
    seed_invoices(services, other_id, other_conn, [open_invoice("2001", email=MARIE)])
    runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
    assert runner.tick(paris(date(2026, 6, 11))).counts().get("sent") == 3
    return conn, other_id, other_conn


def _compliance(client: FlaskClient, topic: str, event_id: str, domain: str, **body: object):  # type: ignore[no-untyped-def]
    raw = json.dumps({"shop_id": 1, "shop_domain": domain, **body}).encode()
    headers = shopify_headers(raw, topic, event_id, domain=domain)
    return client.post("/webhooks/shopify", data=raw, headers=headers)


def test_data_request_then_redact(services: Services, shop: Shop, client: FlaskClient) -> None:
    _, other_id, _ = _setup(services, shop)
    customer = {"id": 191167, "email": MARIE, "phone": None}

    resp = _compliance(
        client,
        "customers/data_request",
        "dr-1",
        "atelier-dupont.myshopify.com",
        customer=customer,
        orders_requested=[1001],
        data_request={"id": 9},
    )
    assert resp.status_code == 200, resp.get_json()
    with services.sessions() as s:
        [task] = s.scalars(select(Task).where(Task.kind == TaskKind.DATA_REQUEST)).all()
    assert task.shop_id == shop.id and task.attachment_path
    export = json.loads(Path(task.attachment_path).read_text())
    assert [c["email"] for c in export["customers"]] == [MARIE]
    assert [i["external_id"] for i in export["invoices"]] == ["1001"]
    assert len(export["reminders"]) >= 1 and len(export["messages"]) == 1
    assert str(export["invoices"][0]["total_minor"]) == "10800"

    before_other = _shop_snapshot(services, other_id)
    resp = _compliance(
        client,
        "customers/redact",
        "rd-1",
        "atelier-dupont.myshopify.com",
        customer=customer,
        orders_to_redact=[1001],
    )
    assert resp.status_code == 200
    with services.sessions() as s:
        marie = s.scalars(
            select(Customer).where(Customer.shop_id == shop.id, Customer.erased_at.is_not(None))
        ).one()
        paul = s.scalars(
            select(Customer).where(Customer.shop_id == shop.id, Customer.email.is_not(None))
        ).one()
        inv = s.scalars(select(Invoice).where(Invoice.customer_id == marie.id)).one()
        reminders = s.scalars(select(Reminder).where(Reminder.invoice_id == inv.id)).all()
        messages = s.scalars(select(Message).where(Message.customer_id == marie.id)).all()
        bodies = [e.raw_body for e in s.scalars(select(WebhookEvent))]
    assert marie.erased_at is not None and marie.external_id == f"erased-{marie.id}"
    assert (marie.email, marie.name, marie.phone, marie.company, marie.postal_address) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert paul.email == "paul@client.example" and paul.erased_at is None
    # Amounts and dates stay for the accounts.
    assert inv.total_minor == 10800 and inv.due_at is not None and inv.number == "1001"
    assert all(r.recipient is None and r.subject is None and r.body_text is None for r in reminders)
    assert reminders and all(r.sent_at is not None for r in reminders if r.state.value == "sent")
    assert messages and all(
        (m.recipient, m.subject, m.body_text, m.body_html) == (None, None, None, None)
        for m in messages
    )
    assert not any(MARIE.encode() in b for b in bodies)  # stored deliveries scrubbed too
    assert not Path(str(task.attachment_path)).exists()  # the export was a copy: gone too
    # The other shop's Marie is another tenant's customer: untouched.
    assert _shop_snapshot(services, other_id) == before_other


def test_shop_redact_deletes_that_shop_only(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn, other_id, other_conn = _setup(services, shop)
    before_other = _shop_snapshot(services, other_id)
    resp = _compliance(client, "shop/redact", "sr-1", "atelier-dupont.myshopify.com")
    assert resp.status_code == 200
    with services.sessions() as s:
        assert s.get(Connection, conn) is None
        assert s.get(Shop, shop.id) is None
        for model in (Invoice, Customer, Reminder, Message, Task, WebhookEvent):
            rows = s.scalars(select(model).where(model.shop_id == shop.id)).all()  # type: ignore[attr-defined]
            assert rows == [], model
        assert s.get(Connection, other_conn) is not None
    assert _shop_snapshot(services, other_id) == before_other


def test_compliance_for_a_shop_we_do_not_hold_changes_nothing(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    _setup(services, shop)
    before = row_counts(services)
    resp = _compliance(client, "shop/redact", "sr-x", "unknown-shop.myshopify.com")
    assert resp.status_code == 200
    assert row_counts(services) == before


def _shop_snapshot(services: Services, shop_id: int) -> dict[str, object]:
    with services.sessions() as s:
        return {
            "customers": sorted(
                (c.email, c.name, c.erased_at is None)
                for c in s.scalars(select(Customer).where(Customer.shop_id == shop_id))
            ),
            "reminders": sorted(
                (r.recipient or "", r.subject or "")
                for r in s.scalars(select(Reminder).where(Reminder.shop_id == shop_id))
            ),
            "invoices": sorted(
                (i.external_id, i.status.value, i.amount_due_minor)
                for i in s.scalars(select(Invoice).where(Invoice.shop_id == shop_id))
            ),
        }


def test_cli_erase(services: Services, shop: Shop, env: dict[str, str]) -> None:
    _, other_id, _ = _setup(services, shop)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["customers", "erase", MARIE, "--shop", str(shop.id), "--json"], env=env
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["shops"][0]["shop_id"] == shop.id and out["shops"][0]["customers_erased"] == 1
    with services.sessions() as s:
        erased = {
            c.shop_id: c.erased_at is not None
            for c in s.scalars(select(Customer))
            if c.external_id in (MARIE, f"erased-{c.id}")
        }
    assert erased == {shop.id: True, other_id: False}
    # Without --shop: every shop holding that address.
    result = runner.invoke(cli, ["customers", "erase", MARIE], env=env)
    assert result.exit_code == 0 and "erased 1 customer record(s)" in result.stdout
    # Nobody left with that address: a one-line reason, non-zero exit.
    result = runner.invoke(cli, ["customers", "erase", MARIE, "--json"], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stderr) == {"error": f"no customer with email {MARIE}"}
    result = runner.invoke(cli, ["customers", "erase", "not-an-email"], env=env)
    assert result.exit_code == 1 and "not an email address" in result.stderr
