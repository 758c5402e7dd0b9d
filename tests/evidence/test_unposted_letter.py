"""A letter made but never posted was not sent: every surface says "letter made, not posted"
(never "sent"), and the injonction pack, whose facts start from the formal notice and its
deadline (which runs only from the posting), is refused until the posting is recorded."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from connector.actions.dossier import NoFormalNotice, dossier, injonction
from connector.actions.letters import record_posting
from connector.actions.timeline import invoice_reminders, invoice_timeline
from connector.cli import cli
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice, LetterDocument, Reminder, Shop
from tests.engine.test_letters import pdf_text
from tests.evidence.test_dossier import _chase_to_formal_notice
from tests.support.owner import signed_in


def _unposted(services: Services, shop: Shop, locale: str) -> tuple[int, int]:
    """The invoice chased to its formal notice letter, never posted: (invoice id, letter id)."""
    shop.locale = locale
    with write_session(services.sessions) as s:
        s.merge(shop)
    _chase_to_formal_notice(services, shop, amount="1200.00", currency="EUR", post=False)
    with services.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.number == "in_D1"))
        assert inv is not None
        letter_id = s.scalar(select(Reminder.letter_id).where(Reminder.step_key == "formal_notice"))
        assert letter_id is not None
        return inv.id, letter_id


def _text(content: bytes) -> str:
    return " ".join(pdf_text(content).replace("\u202f", " ").replace("\xa0", " ").split())


def test_a_french_dossier_never_calls_an_unposted_letter_sent(
    services: Services, shop: Shop
) -> None:
    invoice_id, _ = _unposted(services, shop, "fr")
    text = _text(dossier(services, shop.id, invoice_id=invoice_id).content)
    assert "courrier de mise en demeure (courrier établi, non posté)" in text, text
    assert "état: courrier établi, non posté" in text
    assert "courrier de mise en demeure (envoyé)" not in text
    assert "aucun envoi enregistré" in text


def test_an_english_dossier_says_letter_made_not_posted(services: Services, shop: Shop) -> None:
    invoice_id, letter_id = _unposted(services, shop, "en")
    text = _text(dossier(services, shop.id, invoice_id=invoice_id).content)
    assert "formal notice letter made, not posted" in text, text
    assert "formal notice (letter made, not posted)" in text
    assert "formal notice (sent)" not in text
    # Once posted, the same letter is said posted.
    with services.sessions() as s:
        made = s.get(LetterDocument, letter_id)
        assert made is not None
        made_at = made.created_at
    record_posting(services, shop.id, letter_id, made_at.date(), "1A999", now=made_at)
    text = _text(dossier(services, shop.id, invoice_id=invoice_id).content)
    assert "(letter posted)" in text and "letter made, not posted" not in text


def test_the_injonction_pack_is_refused_until_the_notice_is_posted(
    services: Services, shop: Shop
) -> None:
    invoice_id, letter_id = _unposted(services, shop, "fr")
    with pytest.raises(NoFormalNotice) as refused:
        injonction(services, shop.id, invoice_id=invoice_id, on=date(2026, 11, 30))
    message = str(refused.value)
    assert "no posting recorded" in message and "Record the posting first" in message
    assert f"relance letters posted {letter_id}" in message
    with services.sessions() as s:
        made = s.get(LetterDocument, letter_id)
        assert made is not None
        made_at = made.created_at
    record_posting(services, shop.id, letter_id, made_at.date(), "1A999", now=made_at)
    pack, _ = injonction(services, shop.id, invoice_id=invoice_id, on=date(2026, 11, 30))
    text = _text(pack.content)
    assert "Lettre postée le" in text and "Délai accordé par la mise en demeure expiré" in text


def test_the_timeline_and_the_reminders_list_say_made_not_sent(
    services: Services, shop: Shop
) -> None:
    invoice_id, _ = _unposted(services, shop, "en")
    with services.sessions() as s:
        entries = invoice_timeline(s, shop.id, invoice_id)
        lines = invoice_reminders(s, shop.id, invoice_id)
    made = [e for e in entries if e.detail.get("step") == "formal_notice"]
    assert [(e.title, e.detail["state"]) for e in made] == [
        ("formal notice letter made, not posted", "letter_made")
    ]
    assert made[0].said("fr") == "courrier établi, non posté : courrier de mise en demeure"
    assert [ln.state for ln in lines if ln.step == "formal_notice"] == ["letter_made"]


def test_the_invoice_page_and_the_pack_link_say_the_letter_is_not_posted(
    app: Flask, services: Services, shop: Shop
) -> None:
    invoice_id, _ = _unposted(services, shop, "en")
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    html = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert "formal notice letter made, not posted" in html
    refused = client.get(f"/invoices/{invoice_id}/injonction.pdf?on=2026-11-30")
    assert refused.status_code == 409
    assert "Record the posting first" in refused.get_data(as_text=True)


def test_cli_invoices_show_says_made_not_posted(
    services: Services, shop: Shop, env: dict[str, str]
) -> None:
    _unposted(services, shop, "en")
    result = CliRunner().invoke(
        cli, ["invoices", "show", "in_D1", "--json"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    states = {r["step"]: r["state"] for r in data["reminders"]}
    assert states["formal_notice"] == "letter_made"
    made = [t for t in data["timeline"] if t["detail"].get("step") == "formal_notice"]
    assert [t["title"] for t in made] == ["formal notice letter made, not posted"]
    text = CliRunner().invoke(cli, ["invoices", "show", "in_D1"], env=env).stdout
    assert re.search(r"formal notice +letter_made", text), text
