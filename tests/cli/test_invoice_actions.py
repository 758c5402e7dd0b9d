"""`relance invoices pay|pause|resume|dispute|plan|plan-cancel|exclude|include|send-now|
write-off`: the owner's actions from a script — the same functions as the invoice page, --json
everywhere, one line naming the option on bad input, nothing written then; `show` carries the
timeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli import cli

HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
ROWS = (
    "F-001,marie@client.example,Marie Curie,120.00,EUR,2026-05-11,2026-06-10,false,fr\n"
    "F-002,paul@client.example,Paul,80.00,EUR,2026-05-11,2026-06-10,false,fr\n"
    "F-003,zoe@client.example,Zoé,99.90,EUR,2026-05-11,2026-06-10,false,fr\n"
)
IN_WINDOW = "2026-06-11T10:00:00+02:00"
EVENING = "2026-06-11T21:00:00+02:00"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(env: dict[str, str], tmp_path: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert invoke("db", "upgrade")[0] == 0
    assert invoke("shop", "create", "--name", "Atelier", "--email", "compta@dupont.example")[0] == 0
    assert invoke("shop", "set", "1", "--payment-instructions", "IBAN FR76 3000 6000 0112")[0] == 0
    csv_file = tmp_path / "invoices.csv"
    csv_file.write_text(HEADER + ROWS)
    code, _, err = invoke("invoices", "import", str(csv_file))
    assert code == 0, err
    return invoke


def shown(run: Run, number: str) -> dict[str, Any]:
    code, out, err = run("invoices", "show", number, "--json")
    assert code == 0, err
    return json.loads(out)


def test_pay_partially_then_in_full_by_cheque(run: Run) -> None:
    code, out, err = run(
        "invoices",
        "pay",
        "F-001",
        "--source",
        "cheque",
        "--amount",
        "20.00",
        "--actor",
        "claire",
        "--now",
        IN_WINDOW,
        "--json",
    )
    assert code == 0, err
    first = json.loads(out)
    assert (first["action"], first["amount_minor"], first["amount_due_minor"]) == (
        "partial_payment",
        2000,
        10000,
    )
    assert shown(run, "F-001")["status"] == "partially_paid"
    code, out, err = run("invoices", "pay", "F-001", "--now", IN_WINDOW, "--actor", "claire")
    assert code == 0, err
    assert "received by bank transfer" in out
    data = shown(run, "F-001")
    assert (data["status"], data["amount_due"]) == ("paid", "0.00")
    payments = [t for t in data["timeline"] if t["kind"] == "payment"]
    assert [(p["actor"], p["detail"]["source"]) for p in payments] == [
        ("claire", "cheque"),
        ("claire", "bank_transfer"),
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("pay", "F-001", "--amount", "abc"), "amount: not an amount: 'abc'"),
        (("pay", "F-001", "--amount", "500"), "amount: more than what is due"),
        (("pay", "F-001", "--on", "yesterday"), "--on: not a date (YYYY-MM-DD): 'yesterday'"),
        (
            ("pause", "F-001", "--until", "2026-06-01", "--reason", "x"),
            "until: 2026-06-01 is not after today",
        ),
        (("dispute", "F-001", "--reason", " "), "reason: say why"),
        (("plan", "F-001", "--instalment", "2026-07-01"), "--instalment 1: DAY:AMOUNT"),
        (("plan", "F-001", "--instalment", "2026-07-01:100"), "The instalments add up to"),
        (("resume", "F-001"), "invoice F-001 is not paused"),
        (("plan-cancel", "F-001"), "invoice F-001 has no payment plan"),
        (("include", "F-001"), "invoice F-001 is not excluded"),
        (("send-now", "F-001", "--now", EVENING), "outside the shop's sending window"),
        (("write-off", "F-404"), "no invoice 'F-404' in shop 1"),
    ],
)
def test_bad_input_is_one_line_naming_the_option_and_writes_nothing(
    run: Run, args: tuple[str, ...], says: str
) -> None:
    before = shown(run, "F-001")
    now = () if "--now" in args else ("--now", IN_WINDOW)
    code, out, err = run("invoices", *args, *now)
    assert code == 1
    assert out == ""
    assert err.startswith("relance: ") and len(err.strip().splitlines()) == 1
    assert says in err
    assert shown(run, "F-001") == before
    code, _, err = run("invoices", *args, *now, "--json")
    assert code == 1 and says in json.loads(err)["error"]


def test_pause_dispute_resume_plan_exclude_write_off_send_now(run: Run) -> None:
    def ok(*args: str) -> dict[str, Any]:
        code, out, err = run("invoices", *args, "--now", IN_WINDOW, "--actor", "ops", "--json")
        assert code == 0, err
        return json.loads(out)

    assert ok("pause", "F-001", "--until", "2026-06-20", "--reason", "holiday")["until"] == (
        "2026-06-20"
    )
    assert ok("resume", "F-001")["was"] == "manual"
    assert ok("dispute", "F-002", "--reason", "wrong size")["action"] == "dispute"
    assert shown(run, "F-002")["paused"] == "dispute"
    assert ok("resume", "F-002")["was"] == "dispute"
    plan = ok("plan", "F-002", "--instalment", "2026-07-01:40", "--instalment", "2026-08-01:40.00")
    assert [i["amount_minor"] for i in plan["instalments"]] == [4000, 4000]
    assert ok("exclude", "F-003", "--customer")["action"] == "exclude_customer"
    assert ok("include", "F-003", "--customer")["action"] == "include_customer"
    sent = ok("send-now", "F-001")
    assert (sent["step"], sent["outcome"]) == ("reminder_1", "sent")
    assert ok("write-off", "F-003", "--reason", "closed")["action"] == "write_off"
    assert shown(run, "F-003")["status"] == "uncollectible"
    code, out, _ = run("invoices", "show", "F-002")
    assert code == 0
    assert "(by ops)" in out and "payment plan in 2 instalments" in out


def test_plan_cancel_puts_the_invoice_back_on_its_sequence(run: Run) -> None:
    def ok(*args: str) -> dict[str, Any]:
        code, out, err = run("invoices", *args, "--now", IN_WINDOW, "--actor", "ops", "--json")
        assert code == 0, err
        return json.loads(out)

    ok("plan", "F-002", "--instalment", "2026-07-01:40", "--instalment", "2026-08-01:40.00")
    done = ok("plan-cancel", "F-002", "--reason", "customer asked")
    assert (done["action"], done["reason"], done["reminders_cancelled"]) == (
        "plan_cancel",
        "customer asked",
        0,
    )
    assert [(i["due_on"], i["paid_minor"]) for i in done["instalments"]] == [
        ("2026-07-01", 0),
        ("2026-08-01", 0),
    ]
    code, out, _ = run("invoices", "show", "F-002")
    assert code == 0
    assert "payment plan cancelled (2 of 2 instalments unpaid)" in out and "(by ops)" in out
    code, out, err = run("invoices", "plan-cancel", "F-002", "--now", IN_WINDOW)
    assert code == 1 and "invoice F-002 has no payment plan" in err
