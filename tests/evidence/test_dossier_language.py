"""The dossier speaks the shop's language: a French shop's (what its owner hands to a French
lawyer) has French headings, labels, dates ("1er juin 2026") and amounts ("120,00 €"); an
English shop's stays English."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from connector.actions.dossier import dossier
from connector.mail.outbox import OutboxTransport
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice, Shop
from tests.engine.test_letters import pdf_text
from tests.support.builders import add_invoices, normalized, paris


def _dossier_text(services: Services, shop: Shop, locale: str) -> str:
    shop.locale = locale  # the fixture's row is merged back by add_invoices
    with write_session(services.sessions) as s:
        s.merge(shop)
    add_invoices(
        services, shop, [normalized("F-7", email="marie@client.example", due_on=date(2026, 6, 1))]
    )
    services.runner(transport=OutboxTransport(services.settings.outbox_dir)).tick(
        paris(date(2026, 6, 2))
    )
    with services.sessions() as s:
        invoice_id = s.scalar(select(Invoice.id).where(Invoice.number == "F-7"))
        assert invoice_id is not None
    pdf = dossier(services, shop.id, invoice_id=invoice_id)
    return " ".join(pdf_text(pdf.content).replace("\u202f", " ").replace("\xa0", " ").split())


def test_a_french_shops_dossier_is_in_french(services: Services, shop: Shop) -> None:
    text = _dossier_text(services, shop, "fr")
    for words in (
        "Dossier de preuves — facture F-7",
        "Échéance",
        "1er juin 2026",
        "Reste dû",
        "120,00 €",
        "impayée",
        "Créancier",
        "Chronologie",
        "2 juin 2026 à 10:00 (CEST) — Message au client",
        "destinataire: marie@client.example",
        "Messages tels qu'envoyés",
        "Client particulier : ni pénalités de retard",
        "Aucun courrier n'a été établi pour cette facture.",
    ):
        assert words in text, words
    for english in ("Evidence dossier", "Chronology", "Due on", "Still due", "June"):
        assert english not in text, english


def test_an_english_shops_dossier_stays_english(services: Services, shop: Shop) -> None:
    text = _dossier_text(services, shop, "en")
    for words in (
        "Evidence dossier — invoice F-7",
        "Due on",
        "1 June 2026",
        "Still due",
        "€120.00",
        "Chronology",
        "2026-06-02 10:00 CEST — reminder_1 sent to marie@client.example",
        "No letter was made for this invoice.",
    ):
        assert words in text, words
    for french in ("Chronologie", "Échéance", "Reste dû", "Créancier"):  # the email is in French
        assert french not in text, french
