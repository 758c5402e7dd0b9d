"""`relance tick --dry-run` and the next-business-day preview plan and render what would go out
and write nothing: the store is the same, row for row, before and after."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select, text

from connector.actions.sequence_preview import next_business_day
from connector.actions.sequences import StepInput, update_step
from connector.cli import cli
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.base import Base
from connector.store.models import Shop, Step
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, normalized, paris

DUE = date(2026, 6, 10)


def _dump(services: Services) -> dict[str, list[tuple[object, ...]]]:
    with services.sessions() as s:
        return {
            table.name: [
                tuple(row) for row in s.execute(text(f'SELECT * FROM "{table.name}" ORDER BY 1'))
            ]
            for table in Base.metadata.sorted_tables
        }


def test_a_dry_run_plans_renders_and_writes_nothing(
    services: Services, shop: Shop, env: dict[str, str]
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized("F-1", email="marie@client.example", due_on=DUE),
            normalized("F-2", email="paul@client.example", due_on=DUE - timedelta(days=7)),
        ],
    )
    before = _dump(services)
    now = paris(DUE + timedelta(days=1)).isoformat()

    result = CliRunner().invoke(
        cli, ["tick", "--dry-run", "--now", now, "--json"], env=env, catch_exceptions=False
    )

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    planned = {m["invoices"][0]["invoice"]: m for m in report["messages"]}
    assert set(planned) == {"F-1", "F-2"}
    assert planned["F-1"]["invoices"][0]["step"] == "reminder_1"
    assert planned["F-2"]["invoices"][0]["step"] == "reminder_2"
    assert "F-1" in planned["F-1"]["subject"] and planned["F-1"]["recipient"] == (
        "marie@client.example"
    )
    assert _dump(services) == before  # row for row
    assert outbox_messages(services) == []
    # The real tick then sends just that.
    sent = dunning_runner(services).tick(datetime.fromisoformat(now))
    assert sorted(o.invoice for o in sent.outcomes if o.outcome == "sent") == ["F-1", "F-2"]


def test_the_next_business_day_follows_a_step_edit(services: Services, shop: Shop) -> None:
    # Friday 5 June: the next business day is Monday 8, the courtesy's day (D-2 of Wed 10).
    add_invoices(services, shop, [normalized("F-1", email="marie@client.example", due_on=DUE)])
    friday = datetime(2026, 6, 5, 14, tzinfo=UTC)
    monday = next_business_day(services, shop.id, friday)
    assert [(m.items[0].invoice, m.items[0].step) for m in monday.messages] == [("F-1", "courtesy")]
    assert monday.now == paris(date(2026, 6, 8), 9)  # the window's opening
    with services.sessions() as s:
        courtesy = s.scalar(select(Step).where(Step.key == "courtesy"))
        assert courtesy is not None
    update_step(services, shop.id, courtesy.id, StepInput(offset_days=-1, tone="friendly"))
    changed = _dump(services)
    assert next_business_day(services, shop.id, friday).messages == []  # now on Tuesday
    assert _dump(services) == changed
