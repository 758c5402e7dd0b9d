"""`relance demo` on any day and at any hour: one demo shop, reused; its invoices synced from the
local Stripe, Shopify and WooCommerce servers through the real adapters; the engine run over
the next business days at 10:00 Paris in that shop only; one invoice paid by a signed Stripe
webhook POSTed over HTTP to the app, after which it gets nothing; nothing twice on a second run."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.actions.accounts import shops_of_owner, sign_up_first_owner
from connector.actions.connection_status import connection_views, request_sync
from connector.actions.connections import ConnectionsError
from connector.actions.onboarding import load_demo_data
from connector.cli import cli
from connector.demo import DEMO_NAME, DEMO_OWNER, run_demo
from connector.platform import InvoiceStatus
from connector.sandbox.demo import DEMO_INVOICES, PAID_BY_WEBHOOK
from connector.services import Services
from connector.store.models import (
    Connection,
    Invoice,
    Payment,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    WebhookEvent,
)
from connector.sync import platform_connections, reconcile_all, status_checker, sync_due
from connector.web import create_app
from tests.support.builders import add_invoices, normalized
from tests.support.pages import csrf_token

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def outbox_files(svc: Services) -> int:
    folder = svc.settings.outbox_dir
    return len(list(folder.glob("*.json"))) if folder.exists() else 0


def invoices_by_platform(svc: Services, shop_id: int) -> dict[str, set[str]]:
    with svc.sessions() as s:
        rows = s.execute(
            select(Connection.platform, Invoice.number)
            .join(Connection, Connection.id == Invoice.connection_id)
            .where(Invoice.shop_id == shop_id)
        ).all()
    found: dict[str, set[str]] = {}
    for platform, number in rows:
        found.setdefault(platform, set()).add(number)
    return found


@pytest.mark.parametrize(
    "local_now",
    [
        datetime(2026, 6, 7, 3, 0, tzinfo=PARIS),  # a Sunday, 03:00
        datetime(2026, 6, 10, 20, 30, tzinfo=PARIS),  # a Wednesday evening, window closed
    ],
    ids=["sunday-3am", "weekday-evening"],
)
def test_demo_through_the_adapters_and_a_signed_webhook_once_and_in_one_shop(
    services: Services, shop: Shop, local_now: datetime
) -> None:
    # The owner's own shop has an invoice due: the demo must not tick it ahead of time.
    add_invoices(
        services, shop, [normalized("F-1", email="a@client.example", due_on=date(2026, 6, 1))]
    )
    now = local_now.astimezone(UTC)

    first = run_demo(services, create_app(services=services), now)

    # Every platform's invoices came through its adapter, from its own connection.
    expected: dict[str, set[str]] = {}
    for item in DEMO_INVOICES:
        expected.setdefault(item.platform, set()).add(item.number)
    assert invoices_by_platform(services, first.shop_id) == expected
    assert {(s.platform, s.invoices, s.inserted) for s in first.syncs} == {
        (p, len(n), len(n)) for p, n in expected.items()
    }
    with services.sessions() as s:
        conns = list(s.scalars(select(Connection).where(Connection.shop_id == first.shop_id)))
    assert len(conns) == 3 and all(c.active and c.webhook_ids and c.sync_cursor for c in conns)
    assert all(c.last_sync_status == "ok" for c in conns)

    # The days: business days only, from the day the demo runs, each step once.
    assert first.created and first.sends
    assert len(first.days) == 10 and all(d.weekday() < 5 for d in first.days)
    assert first.days[0] >= local_now.date()
    assert {s.step for s in first.sends} >= {"courtesy", "reminder_1", "formal_notice"}
    steps = [(s.invoice, s.step) for s in first.sends]
    assert len(steps) == len(set(steps))
    emails = [s for s in first.sends if s.outcome == "sent"]
    assert all(s.recipient and s.subject and "DEMO-" in s.subject for s in emails)
    assert outbox_files(services) == len(emails)

    # The signed payment webhook, over HTTP, closed DEMO-002: nothing went to it afterwards.
    payment = first.payment
    assert payment is not None and payment.invoice == PAID_BY_WEBHOOK
    assert (payment.http_status, payment.status, payment.already_paid) == (200, "paid", False)
    assert payment.day == first.days[2]
    before = [s for s in first.sends if s.invoice == PAID_BY_WEBHOOK]
    assert [s.step for s in before] == ["reminder_1"] and before[0].day < payment.day
    with services.sessions() as s:
        paid = s.scalar(
            select(Invoice).where(
                Invoice.shop_id == first.shop_id, Invoice.number == PAID_BY_WEBHOOK
            )
        )
        assert paid is not None
        assert paid.status == InvoiceStatus.PAID and paid.next_action_at is None
        sources = list(s.scalars(select(Payment.source).where(Payment.invoice_id == paid.id)))
        assert sources == [PaymentSource.WEBHOOK]
        events = s.scalar(
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.shop_id == first.shop_id)
        )
        assert events == 1
        reminders = list(s.scalars(select(Reminder).where(Reminder.invoice_id == paid.id)))
        sent_to_paid = [r.step_key for r in reminders if r.state == ReminderState.SENT]
        assert sent_to_paid == ["reminder_1"]  # reminder_2 (D+7) fell in the days: never sent
        assert all(
            r.sent_at is None or r.sent_at < paid_at
            for r in reminders
            for paid_at in [
                s.scalar(select(Payment.received_at).where(Payment.invoice_id == paid.id))
            ]
        )
        assert all(r.state in (ReminderState.SENT, ReminderState.SKIPPED) for r in reminders)

        sent_at = {
            r.sent_at.astimezone(PARIS).time()
            for r in s.scalars(select(Reminder).where(Reminder.shop_id == first.shop_id))
            if r.sent_at
        }
        assert sent_at == {time(10, 0)}
        own = s.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.shop_id == shop.id)
        )
    assert own == 0  # the owner's shop was left alone

    # A second `relance demo` is a new process: a new app (whose intake caches connections'
    # secrets for a few seconds, and the re-run's reconnect gave Stripe's endpoint a new one).
    again = run_demo(services, create_app(services=services), now)

    assert (again.shop_id, again.created, again.sends) == (first.shop_id, False, [])
    assert all(sync.inserted == 0 for sync in again.syncs)
    assert again.payment is not None and again.payment.already_paid
    assert again.payment.http_status == 200
    assert outbox_files(services) == len(emails)
    assert invoices_by_platform(services, first.shop_id) == expected
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Shop).where(Shop.name == DEMO_NAME)) == 1
        assert (
            s.scalar(
                select(func.count())
                .select_from(Connection)
                .where(Connection.shop_id == first.shop_id)
            )
            == 3
        )
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
        sent = s.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.state == ReminderState.SENT, Reminder.shop_id == first.shop_id)
        )
    assert sent == len(first.sends)


def test_demo_command_prints_syncs_reminders_the_payment_and_how_to_sign_in(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--days", "4"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("demo shop ") and lines[0].endswith("(created)")
    for platform, count in (("stripe", 2), ("shopify", 2), ("woocommerce", 1)):
        assert any(
            line.split()[0] == platform and f"{count} invoice(s) synced through the adapter" in line
            for line in lines[1:4]
        ), lines
    assert "business days simulated" in lines[4] and "10:00 Europe/Paris" in lines[4]
    assert any("DEMO-002" in line and "compta@lenoir.example" in line for line in lines)
    (paid,) = [line for line in lines if "invoice.paid" in line]
    assert "DEMO-002" in paid and "-> 200" in paid and "sequence closed" in paid
    # Printed in the day's order: after DEMO-002's reminder, before the days that follow.
    assert lines.index(paid) > next(i for i, line in enumerate(lines) if "DEMO-002" in line)
    assert lines[-1].startswith("to open the page: relance owner create --email " + DEMO_OWNER)
    result = runner.invoke(cli, ["demo", "--days", "4", "--json"], env=env)
    data = json.loads(result.stdout)
    assert data["created"] is False and data["sends"] == []
    assert data["payment"]["already_paid"] is True


def test_after_the_demo_the_scheduler_leaves_its_platforms_alone(
    services: Services,
) -> None:
    """The demo's platforms answered only while it ran: the scheduler's syncs skip its
    connections (no error, no broken connection) and the last look before a send is the
    store's, not a call to a server that is gone."""
    report = run_demo(services, create_app(services=services), days=1)
    with services.sessions() as s:
        before = {
            c.id: (c.last_sync_at, c.last_sync_status, c.last_sync_error)
            for c in s.scalars(select(Connection).where(Connection.shop_id == report.shop_id))
        }
        numbers = dict(
            s.execute(
                select(Invoice.connection_id, Invoice.external_id).where(
                    Invoice.shop_id == report.shop_id
                )
            ).all()
        )
    later = datetime.now(UTC) + timedelta(days=2)

    sync_due(services, later)
    reconcile_all(services, later)
    check = status_checker(services)
    looks = [check(connection_id, external_id) for connection_id, external_id in numbers.items()]

    assert looks == [None] * len(numbers)
    assert platform_connections(services) == []
    with services.sessions() as s:
        after = {
            c.id: (c.last_sync_at, c.last_sync_status, c.last_sync_error)
            for c in s.scalars(select(Connection).where(Connection.shop_id == report.shop_id))
        }
    assert after == before and all(status == "ok" for _, status, _ in after.values())


def test_load_demo_data_on_the_web_is_the_same_loading_and_reuses_the_owners_demo_shop(
    services: Services,
) -> None:
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password="correct horse battery", now=NOW
    )

    first = load_demo_data(services, owner.id, NOW)
    again = load_demo_data(services, owner.id, NOW)

    assert again.id == first.id
    assert [s.id for s in shops_of_owner(services.sessions, owner.id)] == [first.id]
    expected: dict[str, set[str]] = {}
    for item in DEMO_INVOICES:
        expected.setdefault(item.platform, set()).add(item.number)
    assert invoices_by_platform(services, first.id) == expected
    with services.sessions() as s:
        shops = list(s.scalars(select(Shop).where(Shop.name == DEMO_NAME)))
        assert [(x.id, x.owner_email) for x in shops] == [(first.id, "o@shop.example")]
        assert s.scalar(select(func.count()).select_from(Reminder)) == 0  # the web never ticks


def test_the_demos_connections_offer_no_sync_now_and_refuse_one(services: Services) -> None:
    """Its platforms are gone once loaded: a "sync now" would only fail and show a connection
    that "needs attention". The page says how to refresh instead, and the action refuses."""
    owner = sign_up_first_owner(
        services.sessions, email="o@shop.example", password="correct horse battery", now=NOW
    )
    demo = load_demo_data(services, owner.id, NOW)

    views = connection_views(services, demo.id)
    assert len(views) == 3 and all(v.demo and v.active for v in views)
    with pytest.raises(ConnectionsError, match="load the demo data again"):
        request_sync(services, demo.id, views[0].id, NOW)
    with services.sessions() as s:
        assert s.scalar(select(func.count()).where(Connection.sync_requested_at.is_not(None))) == 0

    client = create_app(services=services).test_client()
    page = client.post(
        "/signin",
        data={
            "csrf_token": csrf_token(client.get("/signin").get_data(as_text=True)),
            "email": "o@shop.example",
            "password": "correct horse battery",
        },
        follow_redirects=True,
    )
    assert page.status_code == 200
    html = client.get("/connections").get_data(as_text=True)
    assert "Sync now" not in html and html.count("Load the demo data again") == 3
