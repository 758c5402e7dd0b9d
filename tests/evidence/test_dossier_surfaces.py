"""The dossier's surfaces: the download routes under the invoice (the signed-in shop's only)
and `relance invoices dossier NUMBER [--zip|--injonction --on DAY] [--out FILE] [--json]`."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from connector.cli import cli
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, Shop
from tests.engine.test_letters import pdf_text
from tests.evidence.test_dossier import _chase_to_formal_notice
from tests.support.builders import add_invoices, normalized
from tests.support.owner import signed_in


def _ids(services: Services) -> dict[str, int]:
    with services.sessions() as s:
        return {inv.number: inv.id for inv in s.scalars(select(Invoice))}


def test_the_owner_downloads_the_dossier_zip_and_pack(
    app: Flask, services: Services, shop: Shop
) -> None:
    _chase_to_formal_notice(services, shop, amount="1200.00", currency="EUR")
    add_invoices(
        services, shop, [normalized("F-NEW", email="n@c.example", due_on=date(2026, 9, 1))]
    )
    ids = _ids(services)
    client = signed_in(app, services, shop.id, "owner@dupont.example")

    resp = client.get(f"/invoices/{ids['in_D1']}/dossier.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert 'filename="dossier-in_D1.pdf"' in resp.headers["Content-Disposition"]
    assert "Dossier de preuves" in pdf_text(resp.data)  # the shop is French

    resp = client.get(f"/invoices/{ids['in_D1']}/dossier.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"

    resp = client.get(f"/invoices/{ids['in_D1']}/injonction.pdf?on=2026-07-15")
    assert resp.status_code == 200
    assert "3. La somme réclamée" in pdf_text(resp.data)

    bad = client.get(f"/invoices/{ids['in_D1']}/injonction.pdf?on=15/07/2026")
    assert bad.status_code == 400 and "is not a date" in bad.get_data(as_text=True)
    early = client.get(f"/invoices/{ids['in_D1']}/injonction.pdf?on=2026-04-01")
    assert early.status_code == 409 and "before the due date" in early.get_data(as_text=True)
    none_yet = client.get(f"/invoices/{ids['F-NEW']}/injonction.pdf")
    assert none_yet.status_code == 409
    assert "no formal notice has gone out yet" in none_yet.get_data(as_text=True)


def test_another_shops_invoice_is_404_on_every_download(
    app: Flask, services: Services, shop: Shop
) -> None:
    _chase_to_formal_notice(services, shop)
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example").id
    client = signed_in(app, services, other, "b@lenoir.example")
    inv = _ids(services)["in_D1"]
    for what in ("dossier.pdf", "dossier.zip", "injonction.pdf"):
        resp = client.get(f"/invoices/{inv}/{what}")
        assert resp.status_code == 404, what
        assert b"in_D1" not in resp.data


def test_cli_writes_the_dossier_the_zip_and_the_pack(
    services: Services, shop: Shop, env: dict[str, str], tmp_path: Path
) -> None:
    _chase_to_formal_notice(services, shop, amount="1200.00", currency="EUR")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    out = tmp_path / "d.pdf"
    code, stdout, _ = run("invoices", "dossier", "in_D1", "--out", str(out), "--json")
    assert code == 0 and json.loads(stdout)["file"] == str(out)
    assert "Dossier de preuves" in pdf_text(out.read_bytes())

    out = tmp_path / "d.zip"
    assert run("invoices", "dossier", "in_D1", "--zip", "--out", str(out))[0] == 0
    assert "dossier-in_D1.pdf" in zipfile.ZipFile(out).namelist()

    out = tmp_path / "pack.pdf"
    code, stdout, _ = run(
        "invoices",
        "dossier",
        "in_D1",
        "--injonction",
        "--on",
        "2026-07-15",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0
    # 1,200.00 x 12.15 % for 74 days (3 May–15 July): 23.57 + 5.99 = 29.56; + 40.00.
    assert json.loads(stdout)["claim"]["total"] == "1269.56"

    code, _, stderr = run("invoices", "dossier", "F-NOPE", "--out", str(out))
    assert code != 0 and "no invoice 'F-NOPE'" in stderr
    code, _, stderr = run("invoices", "dossier", "in_D1", "--on", "2026-07-15")
    assert code != 0 and "--on: only with --injonction" in stderr
