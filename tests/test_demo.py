"""`relance demo` on any day and at any hour: one demo shop, reused; the engine run over the
next business days at 10:00 Paris in that shop only; nothing sent twice on a second run."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.cli import cli
from connector.demo import DEMO_NAME, run_demo
from connector.services import Services
from connector.store.models import Reminder, ReminderState, Shop
from tests.support.builders import add_invoices, normalized

PARIS = ZoneInfo("Europe/Paris")


def outbox_files(svc: Services) -> int:
    folder = svc.settings.outbox_dir
    return len(list(folder.glob("*.json"))) if folder.exists() else 0


@pytest.mark.parametrize(
    "local_now",
    [
        datetime(2026, 6, 7, 3, 0, tzinfo=PARIS),  # a Sunday, 03:00
        datetime(2026, 6, 10, 20, 30, tzinfo=PARIS),  # a Wednesday evening, window closed
    ],
    ids=["sunday-3am", "weekday-evening"],
)
def test_demo_sends_on_any_day_and_hour_once_and_in_one_shop(
    services: Services, shop: Shop, local_now: datetime
) -> None:
    # The owner's own shop has an invoice due: the demo must not tick it ahead of time.
    add_invoices(
        services, shop, [normalized("F-1", email="a@client.example", due_on=date(2026, 6, 1))]
    )
    now = local_now.astimezone(UTC)

    first = run_demo(services, now)

    assert first.created and first.sends
    assert len(first.days) == 10 and all(d.weekday() < 5 for d in first.days)
    assert first.days[0] >= local_now.date()
    assert {s.step for s in first.sends} >= {"courtesy", "reminder_1", "formal_notice"}
    emails = [s for s in first.sends if s.outcome == "sent"]
    assert all(s.recipient and s.subject and "DEMO-" in s.subject for s in emails)
    assert outbox_files(services) == len(emails)
    with services.sessions() as s:
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

    again = run_demo(services, now)

    assert (again.shop_id, again.created, again.sends) == (first.shop_id, False, [])
    assert outbox_files(services) == len(emails)
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Shop).where(Shop.name == DEMO_NAME)) == 1
        sent = s.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.state == ReminderState.SENT, Reminder.shop_id == first.shop_id)
        )
    assert sent == len(first.sends)


def test_demo_command_prints_each_reminder(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--days", "3"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "business days simulated" in lines[0] and "10:00 Europe/Paris" in lines[0]
    assert any("DEMO-002" in line and "compta@lenoir.example" in line for line in lines)
    result = runner.invoke(cli, ["demo", "--days", "3", "--json"], env=env)
    data = json.loads(result.stdout)
    assert data["created"] is False and data["sends"] == []
