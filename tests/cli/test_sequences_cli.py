"""`relance sequences list|show|export|import`: a sequence with its steps and the owner's wording
as one JSON document; an import is checked whole (errors name the field) and all-or-nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.actions.sequences import get_template, list_sequences, save_template
from connector.cli import cli
from connector.config import Settings
from connector.services import Services

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert invoke("db", "upgrade")[0] == 0
    code, _, err = invoke("shop", "create", "--name", "Atelier", "--email", "o@atelier.example")
    assert code == 0, err
    return invoke


def _services(env: dict[str, str]) -> Services:
    return Services.build(Settings.from_env(env))


def test_list_show_export_and_import_round_trip(
    run: Run, env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = run("sequences", "list", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [s["name"] for s in listed["sequences"]] == ["default"]
    default_id = listed["sequences"][0]["id"]
    svc = _services(env)
    try:
        step = next(s for s in list_sequences(svc, None)[0].steps if s.key == "reminder_1")
        shipped = get_template(svc, None, step.id, "fr")
        save_template(svc, None, step.id, "fr", shipped.subject, "Cher client,\n" + shipped.body)
    finally:
        svc.close()

    target = tmp_path / "seq.json"
    code, _, err = run("sequences", "export", str(default_id), "-o", str(target))
    assert code == 0, err
    doc = json.loads(target.read_text())
    assert [s["offset_days"] for s in doc["steps"]] == [-2, 1, 7, 14, 21, 30]
    assert doc["steps"][1]["templates"]["fr"]["body"].startswith("Cher client,")

    code, out, err = run("sequences", "import", str(target), "--name", "copy", "--json")
    assert code == 0, err
    imported = json.loads(out)
    assert imported["name"] == "copy"
    assert [s["key"] for s in imported["steps"]] == [s["key"] for s in doc["steps"]]
    assert imported["steps"][1]["custom_templates"] == ["fr"]
    code, out, _ = run("sequences", "show", str(imported["id"]))
    assert code == 0 and "D+7" in out and "reminder_2" in out


def _bad_import(run: Run, tmp_path: Path, doc: dict[str, object]) -> str:
    target = tmp_path / "bad.json"
    target.write_text(json.dumps(doc))
    code, out, err = run("sequences", "import", str(target), "--json")
    assert code != 0 and out == ""
    code, listed, _ = run("sequences", "list", "--json")
    assert [s["name"] for s in json.loads(listed)["sequences"]] == ["default"]  # nothing written
    return str(json.loads(err)["error"])


def test_an_import_names_the_wrong_field_and_writes_nothing(run: Run, tmp_path: Path) -> None:
    steps = [
        {"key": "first", "offset_days": 1, "channel": "email"},
        {"key": "early", "offset_days": -90, "channel": "email"},
    ]
    error = _bad_import(run, tmp_path, {"name": "bad", "steps": steps})
    assert error.startswith("steps[1].offset_days") and "planner" in error
    steps[1] = {"key": "sms", "offset_days": 5, "channel": "sms"}
    error = _bad_import(run, tmp_path, {"name": "bad", "steps": steps})
    assert error.startswith("steps[1].channel") and "no transport" in error
    steps[1] = {"key": "late", "offset_days": "ten"}
    assert _bad_import(run, tmp_path, {"name": "bad", "steps": steps}).startswith(
        "steps[1].offset_days: expected int"
    )


def test_an_import_with_a_template_missing_the_amount_is_refused(run: Run, tmp_path: Path) -> None:
    body = (
        "Bonjour {{ customer.name }},\n\nLa facture {{ ctx.invoices[0].number }} était due le "
        "{{ ctx.invoices[0].due_on }}.\n\n{{ m.how_to_pay(ctx) }}\n\n{{ m.contact(ctx) }}\n"
    )
    subject = "Facture {{ ctx.invoice_numbers }} – {{ shop.name }}"
    steps = [
        {
            "key": "reminder_1",
            "offset_days": 1,
            "templates": {"fr": {"subject": subject, "body": body}},
        }
    ]
    error = _bad_import(run, tmp_path, {"name": "bad", "steps": steps})
    assert error.startswith("steps[0].templates.fr") and "amount due" in error


def test_an_import_with_wording_for_a_statement_step_is_refused_naming_it(
    run: Run, tmp_path: Path
) -> None:
    """A statement step has no wording of its own: the CLI says so in one line, nothing
    written (the page refuses its editor with the same words)."""
    steps = [
        {
            "key": "stmt",
            "offset_days": 10,
            "content": "statement",
            "templates": {"fr": {"subject": "Relevé", "body": "{{ shop.name }}"}},
        }
    ]
    error = _bad_import(run, tmp_path, {"name": "bad", "steps": steps})
    assert error.startswith("steps[0].templates: step 'stmt' sends the statement of account")
