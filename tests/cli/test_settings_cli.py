"""`relance shop set` for every setting, through the same functions as the pages: --json shows
what is stored; a bad value exits non-zero with one line naming the option, and nothing of the
command is written."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from connector.cli import cli


@pytest.fixture
def run(env: dict[str, str]):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert invoke("db", "upgrade")[0] == 0
    code, _, err = invoke("shop", "create", "--name", "Atelier", "--email", "o@atelier.example")
    assert code == 0, err
    return invoke


def test_every_setting_from_the_command_line(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        "shop", "set", "1",
        "--terms", "eom_then_days", "--terms-days", "45", "--customers", "b2b",
        "--penalty", "contractual", "--contractual-rate", "12", "--indemnity", "40",
        "--consumer-rate", "", "--no-prescription", "--ecb-rate", "2026-H2=2.40",
        "--window", "08:30-17:00", "--timezone", "Europe/Paris", "--every-day",
        "--holidays", "FR-57", "--escalate-after", "4", "--escalate-above", "1500",
        "--thank-you", "--from-name", "Atelier Dupont", "--reply-to", "compta@atelier.example",
        "--payment-instructions", "IBAN FR76 3000 6000 0112 3456 7890 189",
        "--siren", "732 829 320", "--now", "2026-03-10T10:00:00+01:00", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert (data["terms_mode"], data["terms_days"], data["customers"]) == (
        "eom_then_days",
        "45",
        "b2b",
    )
    assert (data["penalty"], data["contractual_rate"], data["prescription"]) == (
        "contractual",
        "12",
        "off",
    )
    assert (data["window_start"], data["window_end"], data["business_days"]) == (
        "08:30",
        "17:00",
        "off",
    )
    assert (data["holiday_country"], data["holiday_subdiv"]) == ("FR", "57")
    assert (data["escalate_after"], data["escalate_above"]) == ("4", "1500.00")
    assert data["ecb_rates"]["2026-H2"] == "2.40" and data["siren"] == "732829320"
    assert data["reply_to"] == "compta@atelier.example" and data["thank_you"] is True


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--customers", "b2b", "--terms-days", "90"), "--terms-days: B2B payment term of 90"),
        (("--window", "18:00-09:00"), "--window: must be after the start (18:00)"),
        (("--window", "9h"), "--window: write it as 09:00-18:00"),
        (("--timezone", "Mars/Olympus"), "--timezone: unknown time zone"),
        (("--holidays", "FR-Bretagne"), "--holidays: FR has no subdivision 'Bretagne'"),
        (("--indemnity", "-40"), "--indemnity: cannot be negative"),
        (("--escalate-above", "-1"), "--escalate-above: cannot be negative"),
        (("--ecb-rate", "2026-H2"), "--ecb-rate: write it as YYYY-H1=2.15"),
        (("--penalty", "contractual", "--contractual-rate", "3"), "--contractual-rate: 3.00 %"),
        (("--siren", "123"), "--siren: must be 9 digits"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option_and_nothing_changes(  # type: ignore[no-untyped-def]
    run, args: tuple[str, ...], says: str
) -> None:
    _, before, _ = run("shop", "set", "1", "--json")
    code, _, err = run("shop", "set", "1", "--payment-instructions", "IBAN", *args)
    assert code != 0 and says in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    _, after, _ = run("shop", "set", "1", "--json")
    assert json.loads(after) == json.loads(before)


def test_the_line_says_what_changed_or_that_nothing_did(run) -> None:  # type: ignore[no-untyped-def]
    """It used to echo the same line ("thank-you off, letters arrive 2 day(s)…") whatever the
    options changed, and after a command that changed nothing."""
    code, out, err = run("shop", "set", "1", "--posting-delay", "3", "--window", "08:30-18:00")
    assert code == 0, err
    assert out.strip() == (
        "shop 1: changed window start: '09:00' → '08:30'; posting delay: '2' → '3'"
    )
    code, out, _ = run("shop", "set", "1", "--posting-delay", "3")
    assert out.strip() == "shop 1: nothing changed (the values given were already set)"
    code, out, _ = run("shop", "set", "1", "--payment-instructions", "IBAN FR76", "--json")
    assert json.loads(out)["changed"] == {"payment_instructions": {"from": "", "to": "IBAN FR76"}}
    code, out, _ = run("shop", "set", "1", "--payment-instructions", "")
    assert out.strip() == "shop 1: changed payment instructions: 'IBAN FR76' → (none)"
