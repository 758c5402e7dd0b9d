"""The CLI as an owner's script uses it: --json everywhere, one-line errors, non-zero exits."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.cli import cli
from connector.config import Settings
from connector.services import Services
from connector.store.models import Customer, Invoice, TimelineEntry
from tests.conftest import make_env, scratch_postgres

DESIGN_COMMANDS = {
    "db",
    "serve",
    "web",
    "worker",
    "shop",
    "connect",
    "sync",
    "invoices",
    "tick",
    "customers",
    "demo",
    "connections",
    "letters",
}

HEADER = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
GOOD = (
    "F-001,marie@client.example,Marie Curie,120.00,EUR,2026-05-11,2026-06-10,false,fr\n"
    "F-002,acme@client.example,ACME SAS,1500,JPY,2026-05-11T09:00:00+02:00,2026-06-10,true,en\n"
    "F-003,zoe@client.example,,99.90,eur,2026-05-11,,no,\n"
)


@pytest.fixture
def run(env: dict[str, str]):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    code, _, err = invoke("db", "upgrade")
    assert code == 0, err
    code, out, err = invoke(
        "shop", "create", "--name", "Atelier Dupont", "--email", "compta@dupont.example", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["name"] == "Atelier Dupont"
    return invoke


def count_invoices(env: dict[str, str]) -> tuple[int, int]:
    svc = Services.build(Settings.from_env(env))
    with svc.sessions() as s:
        result = (
            s.scalar(select(func.count()).select_from(Invoice)) or 0,
            s.scalar(select(func.count()).select_from(TimelineEntry)) or 0,
        )
    svc.close()
    return result


def test_help_lists_every_design_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "connector", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    assert listed >= DESIGN_COMMANDS


def test_import_list_show_tick(run, tmp_path: Path, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "invoices.csv"
    csv_file.write_text(HEADER + GOOD)
    # A CSV has no payment links: without instructions no reminder could say how to pay.
    assert run("shop", "set", "1", "--payment-instructions", "IBAN FR76 3000 6000 0112")[0] == 0
    code, out, err = run("invoices", "import", str(csv_file), "--json")
    assert code == 0, err
    assert json.loads(out)["inserted"] == 3
    # Re-importing the same file changes nothing.
    code, out, _ = run("invoices", "import", str(csv_file), "--json")
    assert json.loads(out) | {} == json.loads(out) and json.loads(out)["inserted"] == 0
    assert count_invoices(env)[0] == 3
    code, out, _ = run("invoices", "list", "--status", "open", "--json")
    rows = json.loads(out)
    assert [r["number"] for r in rows] == ["F-001", "F-002", "F-003"]
    jpy = next(r for r in rows if r["number"] == "F-002")
    assert (jpy["amount_due"], jpy["currency"]) == ("1500", "JPY")
    f3 = next(r for r in rows if r["number"] == "F-003")
    assert f3["due_on"] == "2026-06-10"  # net 30 from 11 May, the shop's day
    assert f3["due_at"] == "2026-06-10T00:00:00+02:00"  # Paris midnight, with its offset
    code, out, err = run("tick", "--now", "2026-06-11T10:00:00+02:00", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["counts"]["sent"] >= 1
    assert any(o["outcome"] == "skipped" and o["reason"] for o in report["outcomes"])
    code, out, _ = run("invoices", "show", "F-001", "--json")
    shown = json.loads(out)
    assert {r["step"] for r in shown["reminders"]} == {"courtesy", "reminder_1"}
    assert any("imported" in t["title"] for t in shown["timeline"] if t["kind"] == "sync")


@pytest.mark.parametrize(
    ("row", "where"),
    [
        (
            "F-9,x@client.example,X,10.00,EUR,2026-13-01,2026-06-10,false,fr\n",
            "line 3, field issued_at",
        ),
        (
            "F-9,x@client.example,X,10.00,EUX,2026-05-01,2026-06-10,false,fr\n",
            "line 3, field currency",
        ),
        (
            "F-9,x@client.example,X,-10.00,EUR,2026-05-01,2026-06-10,false,fr\n",
            "line 3, field amount",
        ),
        ("F-9,,X,10.00,EUR,2026-05-01,2026-06-10,false,fr\n", "line 3, field customer_email"),
        (  # SendGrid answers 400 for a non-ASCII local part: refused here, not at send time
            "F-9,jéan@exemple.fr,X,10.00,EUR,2026-05-01,2026-06-10,false,fr\n",
            "line 3, field customer_email: 'jéan@exemple.fr' is refused by the mail provider",
        ),
        (
            "F-9,x@client.example,X,10.001,EUR,2026-05-01,2026-06-10,false,fr\n",
            "line 3, field amount",
        ),
        ("F-9,x@client.example,X,10.00,EUR,2026-05-01,2026-06-10,maybe,fr\n", "line 3, field b2b"),
        (
            "F-001,x@client.example,X,10.00,EUR,2026-05-01,2026-06-10,false,fr\n",
            "line 3, field number",
        ),
    ],
)
def test_bad_row_names_line_and_field_and_writes_nothing(
    run,
    tmp_path: Path,
    env: dict[str, str],
    row: str,
    where: str,  # type: ignore[no-untyped-def]
) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(HEADER + GOOD.splitlines(keepends=True)[0] + row)
    code, _out, err = run("invoices", "import", str(csv_file))
    assert code != 0
    assert where in err
    assert "nothing was imported" in err
    assert count_invoices(env) == (0, 0)


def test_import_fills_the_postal_address(run, tmp_path: Path, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    fixture = Path(__file__).parents[1] / "fixtures" / "csv" / "invoices_with_address.csv"
    code, _out, err = run("invoices", "import", str(fixture), "--json")
    assert code == 0, err
    svc = Services.build(Settings.from_env(env))
    with svc.sessions() as s:
        rows = s.execute(select(Customer.email, Customer.postal_address)).all()
    addresses = {email: address for email, address in rows}
    svc.close()
    assert addresses == {
        "marie@curie.example": "11 rue Pierre et Marie Curie\nBâtiment B\n75005 Paris\nFR",
        "albert@example.org": None,  # no address columns filled: none
    }
    # A town without a street is refused, naming the row and the field; nothing imported.
    bad = tmp_path / "bad.csv"
    lines = fixture.read_text().splitlines()
    bad.write_text(lines[0] + "\n" + "F-103;x@example.org;X;10;EUR;2026-05-01;;;;;75005;Paris;FR\n")
    code, _out, err = run("invoices", "import", str(bad))
    assert code != 0 and "field address_line1: must not be empty" in err and "line 2" in err


def test_missing_header_is_named(run, tmp_path: Path, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("number,amount,currency,issued_at\nF-1,10,EUR,2026-05-01\n")
    code, _out, err = run("invoices", "import", str(csv_file))
    assert code != 0 and "field customer_email: required column missing" in err
    assert count_invoices(env) == (0, 0)


def test_semicolons_and_decimal_commas(run, tmp_path: Path, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "fr.csv"
    csv_file.write_text(
        "\ufeffnumber;customer_email;amount;currency;issued_at;due_at\n"
        "F-1;a@client.example;1 234,50;EUR;2026-05-01;2026-06-10\n",
        encoding="utf-8",
    )
    code, out, err = run("invoices", "import", str(csv_file), "--json")
    assert code == 0, err
    code, out, _ = run("invoices", "list", "--json")
    assert json.loads(out)[0]["amount_due"] == "1234.50"


def test_bad_now_is_a_one_line_error(run) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = run("tick", "--now", "yesterday")
    assert code != 0 and err.strip().count("\n") == 0 and "--now" in err


def test_thank_you_is_off_by_default_and_set_per_shop(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("shop", "set", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["thank_you"] is False
    code, out, err = run("shop", "set", "1", "--thank-you", "--json")
    assert (code, json.loads(out)["thank_you"]) == (0, True)
    code, out, _ = run("shop", "set", "1", "--json")
    assert json.loads(out)["thank_you"] is True  # kept: only what is given changes
    code, out, _ = run("shop", "set", "1", "--no-thank-you", "--json")
    assert json.loads(out)["thank_you"] is False
    code, out, err = run(
        "shop", "create", "--name", "B", "--email", "b@b.example", "--thank-you", "--json"
    )
    assert (code, json.loads(out)["thank_you"]) == (0, True)
    code, _, err = run("shop", "set", "99", "--thank-you")
    assert code != 0 and "shop 99" in err


def test_shop_set_takes_what_every_message_says(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("shop", "set", "1", "--json")
    assert code == 0, err
    before = json.loads(out)
    assert before["payment_instructions"] is None and before["terms_and_conditions"] is False
    code, out, err = run(
        "shop", "set", "1",
        "--payment-instructions", "Virement : IBAN FR76 3000 6000 0112 3456 7890 189",
        "--contact-name", "Claire Dubois",
        "--contact-phone", "+33 1 23 45 67 89",
        "--signatory-name", "Claire Dubois",
        "--signatory-role", "Gérante",
        "--terms-and-conditions",
        "--consumer-mediator", "CM2C, www.cm2c.net",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["payment_instructions"] == "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"
    assert (data["contact_name"], data["contact_phone"]) == ("Claire Dubois", "+33 1 23 45 67 89")
    assert (data["signatory_name"], data["signatory_role"]) == ("Claire Dubois", "Gérante")
    assert data["terms_and_conditions"] is True
    assert data["consumer_mediator"] == "CM2C, www.cm2c.net"
    code, out, _ = run(
        "shop", "set", "1", "--no-terms-and-conditions", "--contact-name", "", "--json"
    )
    data = json.loads(out)
    assert (data["terms_and_conditions"], data["contact_name"]) == (False, None)
    assert data["signatory_role"] == "Gérante"  # kept: only what is given changes
    code, _, err = run("shop", "set", "1", "--contact-name", "x" * 300)
    assert code != 0 and err.strip().count("\n") == 0 and "--contact-name" in err


def test_shop_set_takes_the_identification_letters_need(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        "shop", "set", "1",
        "--legal-name", "Atelier Dupont SARL",
        "--legal-form", "SARL au capital de 10 000 €",
        "--siren", "732 829 320",
        "--rcs-city", "Paris",
        "--address", "12 rue des Lilas\\n75011 Paris",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert (data["siren"], data["rcs_city"]) == ("732829320", "Paris")
    assert data["registered_office"] == "12 rue des Lilas\n75011 Paris"
    assert data["legal_form"] == "SARL au capital de 10 000 €"
    # Bad input: one line naming the field, and nothing written (the good fields neither).
    for args, field in (
        (("--siren", "732829321"), "siren: '732829321' fails the SIREN check digit"),
        (("--siren", "12345"), "siren: must be 9 digits"),
        (("--address", "12 rue des Lilas"), "address: give at least a street line"),
        (("--address", "12 rue des Lilas\\nParis"), "address: no line starts with a postal code"),
        (("--legal-name", "x" * 300), "--legal-name: one line of at most 255 characters"),
    ):
        code, out, err = run("shop", "set", "1", "--rcs-city", "Lyon", *args)
        assert code != 0 and field in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
    code, out, _ = run("shop", "set", "1", "--json")
    assert (json.loads(out)["siren"], json.loads(out)["rcs_city"]) == ("732829320", "Paris")


def test_shop_list_gives_the_ids(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("shop", "list", "--json")
    assert code == 0, err
    assert [(s["id"], s["name"]) for s in json.loads(out)] == [(1, "Atelier Dupont")]
    run("shop", "create", "--name", "Deux", "--email", "d@deux.example")
    code, out, _ = run("shop", "list")
    assert "Atelier Dupont" in out and "Deux" in out and out.lstrip().startswith("1")


def readme_walkthrough() -> list[list[str]]:
    """The `relance …` lines of the README's "Using it" section, as an owner would paste them."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    return [
        shlex.split(line, comments=True)[1:]
        for line in section.splitlines()
        if line.startswith(".venv/bin/relance ")
    ]


def test_the_readme_walkthrough_works_as_written(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a fresh store, in the repository (the example CSV is there), every command of the
    README succeeds, and what it shows is what the README says."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    env = make_env(database_url, tmp_path / "var")
    commands = readme_walkthrough()
    first = [c[:2] for c in commands][:3]
    assert first == [["db", "upgrade"], ["shop", "create"], ["shop", "list"]]
    assert ["demo"] in commands
    outputs: dict[str, str] = {}
    for args in commands:
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"{args}: {result.stderr}"
        outputs[" ".join(args[:2])] = result.stdout
    assert "5 rows: 5 new" in outputs["invoices import"]
    # Steps by their names, never their keys (the keys stay in files and JSON).
    assert re.search(r"first reminder\s+sent", outputs["invoices show"])
    assert "reminder_1" not in outputs["invoices show"]
    assert re.search(r"formal notice\s+\S+formal_notice\.pdf", outputs["letters list"])
    assert "reminder(s); emails written to" in outputs["demo"]


def test_dates_are_the_shops_days_and_instants_carry_their_zone(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    """Due 1 June in Paris is stored as 31 May 22:00 UTC: never shown as 31 May."""
    csv_file = tmp_path / "june.csv"
    csv_file.write_text(
        HEADER + "F-601,marie@client.example,Marie,10.00,EUR,2026-05-02,2026-06-01,false,fr\n"
    )
    code, _, err = run("invoices", "import", str(csv_file))
    assert code == 0, err
    code, out, _ = run("invoices", "list")
    # The CLI speaks English: a French shop's days read "1 June 2026", not "1er juin 2026".
    assert "due 1 June 2026" in out and "05-31" not in out and "31 May" not in out
    assert "juin" not in out
    code, out, _ = run("invoices", "list", "--json")
    [row] = json.loads(out)
    assert (row["due_on"], row["issued_on"]) == ("2026-06-01", "2026-05-02")
    assert row["due_at"] == "2026-06-01T00:00:00+02:00"
    assert row["next_action_at"].endswith("+02:00")
    code, out, _ = run("invoices", "show", "F-601")
    assert "due 1 June 2026" in out and "juin" not in out
    [timeline] = [line for line in out.splitlines() if "imported" in line]
    # The instant as a day written out, then the shop's wall clock with its zone.
    assert re.search(r" \d{1,2} [A-Z][a-z]+ 20\d\d, \d\d:\d\d CES?T ", timeline)
    code, out, _ = run("invoices", "show", "F-601", "--json")
    [entry] = json.loads(out)["timeline"]
    assert entry["at"][-6:] in {"+01:00", "+02:00"}


def test_shop_address_the_provider_refuses_is_named(run) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = run("shop", "create", "--name", "B", "--email", "jéan@exemple.fr")
    assert code != 0
    assert "email: 'jéan@exemple.fr' is refused by the mail provider: non-ASCII" in err


FIRST_GOOD = GOOD.splitlines(keepends=True)[0]
HOSTILE = {
    "10 MB field": (
        HEADER + FIRST_GOOD + f"F-9,x@client.example,{'X' * 10_000_000},10.00,EUR,2026-05-01,,,\n",
        "line 3, field customer_name: unreadable CSV (field larger than field limit",
    ),
    "amount of 1e17": (
        HEADER + FIRST_GOOD + "F-9,x@client.example,X,100000000000000000,EUR,2026-05-01,,,\n",
        "line 3, field amount: 100000000000000000 is too large",
    ),
    "amount in exponent notation": (
        HEADER + FIRST_GOOD + "F-9,x@client.example,X,1e17,EUR,2026-05-01,,,\n",
        "line 3, field amount: 1e17 is too large",
    ),
    "year 1": (
        HEADER + FIRST_GOOD + "F-9,x@client.example,X,10.00,EUR,0001-01-01,,,\n",
        "line 3, field issued_at: 0001-01-01 is out of range",
    ),
    "year 9999 and the terms on top": (
        HEADER + FIRST_GOOD + "F-9,x@client.example,X,10.00,EUR,9999-12-20,,,\n",
        "line 3, field issued_at: 9999-12-20 is out of range",
    ),
    "due date beyond the range through the terms": (
        HEADER + FIRST_GOOD + "F-9,x@client.example,X,10.00,EUR,2999-12-20,,,\n",
        "line 3, field issued_at: with the shop's 30-day terms the due date is out of range",
    ),
    "100k-character number": (
        HEADER + FIRST_GOOD + f"F-9,x@client.example,X,{'1' * 100_000},EUR,2026-05-01,,,\n",
        "line 3, field amount: longer than 255 characters (100000)",
    ),
    "NUL in the invoice number": (
        HEADER + FIRST_GOOD + "F-\x009,x@client.example,X,10.00,EUR,2026-05-01,,,\n",
        "line 3, field number: contains a NUL byte",
    ),
    "duplicated header column": (
        "number,customer_email,amount,currency,issued_at,amount\n"
        "F-9,x@client.example,10.00,EUR,2026-05-01,20.00\n",
        "line 1, field amount: appears twice in the header (columns 3 and 6)",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_file_is_one_line_naming_line_and_field_and_writes_nothing(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, env: dict[str, str], case: str
) -> None:
    content, where = HOSTILE[case]
    csv_file = tmp_path / "hostile.csv"
    csv_file.write_text(content, encoding="utf-8")
    code, out, err = run("invoices", "import", str(csv_file))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("relance: "), err[:500]
    assert where in err and "nothing was imported" in err
    assert out == ""
    assert count_invoices(env) == (0, 0)
    code, out, err = run("invoices", "import", str(csv_file), "--json")
    assert code == 1 and out == ""
    assert err.count("\n") == 1, err[:500]
    error = json.loads(err)
    assert where in error["error"] and where in error["errors"][0]
    assert count_invoices(env) == (0, 0)


NAME = "Dupont; Fils; et; Cie; " + ";" * 20


def test_semicolons_in_the_rows_of_a_comma_file_do_not_fool_it(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    rows = "".join(
        f'F-{i},c{i}@client.example,"{NAME}",10.00,EUR,2026-05-01,,,\n' for i in range(5)
    )
    csv_file = tmp_path / "commas.csv"
    csv_file.write_text(HEADER + rows)
    code, out, err = run("invoices", "import", str(csv_file), "--json")
    assert code == 0, err
    assert json.loads(out)["inserted"] == 5
    code, out, _ = run("invoices", "list", "--json")
    assert {r["customer_name"] for r in json.loads(out)} == {NAME}


def test_errors_under_json_are_json(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("tick", "--now", "yesterday", "--json")
    assert (code, out) == (1, "")
    assert "--now" in json.loads(err)["error"]
    code, out, err = run("invoices", "show", "F-404", "--json")
    assert (code, out) == (1, "")
    assert json.loads(err) == {"error": "no invoice 'F-404' in shop 1"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def never_upgraded_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store nobody ran `relance db upgrade` on: no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with scratch_postgres("relance_noinit") as url:
        yield url


@pytest.mark.parametrize(
    "command",
    [("invoices", "list"), ("invoices", "show", "F-1"), ("tick",), ("shop", "set", "1")],
)
def test_a_store_never_upgraded_says_how_to_fix_it(
    never_upgraded_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = make_env(never_upgraded_url, tmp_path / "var")
    runner = CliRunner()
    result = runner.invoke(cli, list(command), env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "is not initialised: run `relance db upgrade`" in result.stderr
    assert result.stderr.startswith("relance: the store at ")
    result = runner.invoke(cli, [*command, "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "run `relance db upgrade`" in json.loads(result.stderr)["error"]
    result = runner.invoke(cli, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr


def test_usage_errors_under_json_are_json(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("invoices", "list", "--status", "bogus", "--json")
    assert (code, out) == (2, "")
    assert "'bogus' is not one of" in json.loads(err)["error"]
    code, _, err = run("invoices", "list", "--status", "bogus")
    assert code == 2 and "Usage:" in err  # without --json, click's usual help
