"""`relance tasks list|close`: the tasks page's actions from the command line, with --json."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.cli import cli
from connector.services import Services
from connector.store.models import Shop, Task, TaskKind, TaskState
from tests.evidence.test_dossier import _chase_to_formal_notice


def test_list_then_close_a_letter_task_with_its_tracking_number(
    services: Services, shop: Shop, env: dict[str, str]
) -> None:
    _chase_to_formal_notice(services, shop, amount="1200.00", currency="EUR")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    code, out, _ = run("tasks", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    letter = next(r for r in rows if r["kind"] == TaskKind.LETTER_TO_POST.value)
    assert letter["invoice"] == "in_D1"

    code, _, err = run("tasks", "close", str(letter["id"]), "--tracking", "X1")
    assert code != 0 and "--tracking: only with --posted-on" in err
    code, _, err = run("tasks", "close", str(letter["id"]), "--posted-on", "2099-01-01")
    assert code != 0 and "in the future" in err
    code, out, _ = run(
        "tasks",
        "close",
        str(letter["id"]),
        "--posted-on",
        "2026-05-26",
        "--tracking",
        "1A55544433322",
        "--json",
    )
    assert code == 0 and json.loads(out)["closed"] is True
    with services.sessions() as s:
        task = s.get(Task, letter["id"])
        assert task is not None and task.state is TaskState.DONE and task.invoice_id
        proof = [
            e
            for e in invoice_timeline(s, shop.id, task.invoice_id)
            if e.kind is TimelineKind.LETTER and e.detail.get("tracking") == "1A55544433322"
        ]
    assert proof and proof[0].detail["posted_on"] == "2026-05-26"
    code, _, err = run("tasks", "close", str(letter["id"]))
    assert code != 0 and "already closed" in err
    code, _, err = run("tasks", "close", "999999")
    assert code != 0 and "no task 999999" in err
    code, out, _ = run("tasks", "list", "--done", "--json")
    assert letter["id"] in [r["id"] for r in json.loads(out)]
    with services.sessions() as s:
        assert s.scalar(select(Task.id).where(Task.id == letter["id"])) is not None
