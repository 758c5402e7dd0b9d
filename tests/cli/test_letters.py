"""Letters to post live in the store (a deploy wipes a worker's disk): listed and fetched by the
CLI, per shop, and erased with the customer's other personal data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from connector.cli import cli
from connector.config import Settings
from connector.services import Services
from connector.store.models import LetterDocument

CSV = (
    "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale,"
    "address_line1,postal_code,city\n"
    "F-100,lea@client.example,Léa Dubois,150.00,EUR,2026-04-01,2026-05-01,true,fr,"
    "5 rue Verte,13001,Marseille\n"
)


@pytest.fixture
def run(env: dict[str, str]):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert invoke("db", "upgrade")[0] == 0
    return invoke


def letter_rows(env: dict[str, str]) -> int:
    svc = Services.build(Settings.from_env(env))
    with svc.sessions() as s:
        count = s.scalar(select(func.count()).select_from(LetterDocument)) or 0
    svc.close()
    return count


def test_formal_notice_is_stored_listed_fetched_and_erased(
    run, tmp_path: Path, env: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    for name, email in (("Atelier", "a@shop.example"), ("Other", "o@shop.example")):
        code, _, err = run("shop", "create", "--name", name, "--email", email)
        assert code == 0, err
    identity = ("--legal-name", "Atelier SARL", "--legal-form", "SARL", "--siren", "732829320")
    office = ("--rcs-city", "Paris", "--address", "12 rue des Lilas\n75011 Paris")
    office += ("--signatory-name", "Léa Martin", "--signatory-role", "Gérante")
    code, _, err = run("shop", "set", "1", *identity, *office)
    assert code == 0, err
    # A CSV has no payment links: without instructions no reminder could say how to pay.
    assert run("shop", "set", "1", "--payment-instructions", "IBAN FR76 3000 6000 0112")[0] == 0
    csv_file = tmp_path / "invoices.csv"
    csv_file.write_text(CSV)
    code, _, err = run("invoices", "import", str(csv_file), "--shop", "1")
    assert code == 0, err
    code, out, err = run("tick", "--now", "2026-06-02T10:00:00+02:00", "--json")
    assert code == 0, err
    assert any(o["outcome"] == "letter" for o in json.loads(out)["outcomes"])

    code, out, err = run("letters", "list", "--shop", "1", "--json")
    assert code == 0, err
    (letter,) = json.loads(out)
    assert letter["invoice"] == "F-100" and letter["filename"].endswith(".pdf")
    assert not Settings.from_env(env).letters_dir.exists()  # nothing on the worker's disk
    assert letter["step"] == "formal_notice"  # the JSON names the step by its key

    # Made at 08:00 UTC: listed on the shop's clock with its zone, the step by its name.
    code, out, err = run("letters", "list", "--shop", "1")
    assert code == 0, err
    assert "2 June 2026, 10:00 CEST" in out and "08:00" not in out
    assert "formal notice" in out

    target = tmp_path / "notice.pdf"
    code, out, err = run("letters", "get", str(letter["id"]), "--shop", "1", "-o", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(b"%PDF-")
    assert target.stat().st_size == letter["bytes"]

    # Another shop's letter is not found: one line, nothing written.
    other = tmp_path / "other.pdf"
    code, _, err = run("letters", "get", str(letter["id"]), "--shop", "2", "-o", str(other))
    assert code == 1 and f"no letter {letter['id']} in shop 2" in err and not other.exists()
    assert err.strip().count("\n") == 0

    code, _, err = run("customers", "erase", "lea@client.example")
    assert code == 0, err
    assert letter_rows(env) == 0  # the letter addressed her: gone with the rest
