"""The dossier speaks the shop's language: a French shop's (what its owner hands to a French
lawyer) has French headings, labels, dates ("1er juin 2026") and amounts ("120,00 €"); an
English shop's stays English."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.actions.dossier import dossier
from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.domain.phrases import EN, PHRASES, VALUES, Phrase, Value, parse, say, translate
from connector.evidence.wording import FR
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Invoice,
    MessageState,
    PaymentSource,
    ReminderState,
    Shop,
    WebhookOutcome,
)
from tests.engine.test_letters import pdf_text
from tests.evidence.test_dossier import _chase_to_formal_notice
from tests.support.builders import add_invoices, normalized, paris
from tests.support.webhooks import stripe_headers, stripe_invoice_event


def _dossier_text(services: Services, shop: Shop, locale: str) -> str:
    shop.locale = locale  # the fixture's row is merged back by add_invoices
    with write_session(services.sessions) as s:
        s.merge(shop)
    add_invoices(
        services, shop, [normalized("F-7", email="marie@client.example", due_on=date(2026, 6, 1))]
    )
    dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir)).tick(
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
        "2026-06-02 10:00 CEST — first reminder sent to marie@client.example",
        "No letter was made for this invoice.",
        "Payment terms: 30 days from the issue date",  # the days said once
    ):
        assert words in text, words
    for french in ("Chronologie", "Échéance", "Reste dû", "Créancier"):  # the email is in French
        assert french not in text, french


# What the chronology said in English inside a French dossier before its titles and reasons
# were said from their codes (connector.domain.phrases).
ENGLISH = (
    "sent to",
    "being prepared",
    "letter made",
    "letter posted",
    "tracking 1A",
    "payment received",
    "webhook",
    ": applied",
    "skipped",
    "cancelled",
    "outside window",
    "no longer owed",
    "pending:",
    "invoice paid",
    "synced from",
    "due since",
    "received by",
    "handed to a person",
    "(sent)",
    "state: sent",
    "source: webhook",
    "outcome: applied",
)


def test_a_french_shops_chronology_has_no_english_left(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    """A B2B invoice chased to its formal notice, posted, then paid by a Stripe webhook: every
    title, reason and coded value of the French dossier is French (read back from the PDF)."""
    shop.locale = "fr"
    with write_session(services.sessions) as s:
        s.merge(shop)
    conn = _chase_to_formal_notice(services, shop)
    body = stripe_invoice_event("evt_paid_D1", "in_D1", created=int(time.time()))
    assert (
        client.post(f"/webhooks/stripe/{conn}", data=body, headers=stripe_headers(body)).status_code
        == 200
    )
    with services.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.number == "in_D1"))
        assert inv is not None
        entries = invoice_timeline(s, shop.id, inv.id)
    pdf = dossier(services, shop.id, invoice_id=inv.id)
    text = " ".join(pdf_text(pdf.content).replace("\u202f", " ").replace("\xa0", " ").split())
    assert "Chronologie" in text and "Messages tels qu'envoyés" in text, text
    chronology = text[text.index("Chronologie") : text.index("Messages tels qu'envoyés")]
    for english in ENGLISH:
        assert english not in chronology, english
    for french in (
        "troisième rappel envoyé à dora@client.example",
        "courrier établi : courrier de mise en demeure",
        "courrier posté le 4 juin 2026, numéro de suivi 1A23456789012",
        "numéro de suivi 1A23456789012",
        "paiement reçu (notification de la plateforme)",
        "notification Stripe invoice.paid : appliquée",  # platform names as written
        "facture synchronisée depuis Stripe",
        "Conditions de paiement : 30 jours à compter de la date d'émission Pénalités",
        "statut passé de « impayée » à « payée »",
        "(envoyé)",
    ):
        assert french in text, chronology
    assert {e.kind for e in entries} >= {TimelineKind.MESSAGE, TimelineKind.PAYMENT}
    for entry in entries:  # every title the timeline holds is said in French, none as stored
        assert entry.said("fr") != entry.title or entry.title.isdigit(), entry.title


SHIPPED_KEYS = re.compile(r"\b(courtesy|reminder_[123]|final_warning|formal_notice|thank_you)\b")


def test_a_french_shops_dossier_names_the_steps_as_a_french_sequence_does(
    services: Services, shop: Shop
) -> None:
    """Chased to its formal notice: the chronology and the messages name each step in French
    ("troisième rappel", "courrier de mise en demeure"), never by its key — the files' names
    aside (they name the letters in the zip as stored)."""
    shop.locale = "fr"
    with write_session(services.sessions) as s:
        s.merge(shop)
    _chase_to_formal_notice(services, shop)
    with services.sessions() as s:
        invoice_id = s.scalar(select(Invoice.id).where(Invoice.number == "in_D1"))
        assert invoice_id is not None
    pdf = dossier(services, shop.id, invoice_id=invoice_id)
    text = " ".join(pdf_text(pdf.content).replace("\u202f", " ").replace("\xa0", " ").split())
    words = " ".join(w for w in text.split() if not w.endswith(".pdf"))
    assert SHIPPED_KEYS.findall(words) == [], words
    for named in ("premier rappel", "troisième rappel", "courrier de mise en demeure"):
        assert named in words, named


def test_every_code_has_its_words_in_both_languages() -> None:
    for language in ("en", "fr"):
        assert set(PHRASES[language]) == set(Phrase), language
        fields = {code: set(re.findall(r"\{(\w+)\}", PHRASES[language][code])) for code in Phrase}
        assert fields == {code: set(re.findall(r"\{(\w+)\}", EN[code])) for code in Phrase}
    fr = VALUES["fr"]
    for kind, codes in (
        (Value.STATUS, InvoiceStatus),
        (Value.SOURCE, PaymentSource),
        (Value.STATE, ReminderState),
        (Value.STATE, MessageState),
        (Value.OUTCOME, WebhookOutcome),
    ):
        assert {c.value for c in codes} <= set(fr[kind]), kind
    assert set(FR.kinds) == set(TimelineKind)


@pytest.mark.parametrize("code", list(Phrase))
def test_every_stored_english_sentence_reads_back_as_its_code(code: Phrase) -> None:
    """The engine's rows (old ones included) are English sentences: each reads back as the
    code that says it, so the dossier can say it in French."""
    sample = {
        name: {"step": "reminder_1", "n": "3", "platform": "stripe", "state": "sent"}.get(
            name, f"x{name}"
        )
        for name in re.findall(r"\{(\w+)\}", EN[code])
    }
    sample.update(
        {k: v for k, v in (("status", "paid"), ("old", "open"), ("new", "paid")) if k in sample}
    )
    sample.update(
        {
            k: v
            for k, v in (("seen", "synced"), ("what", "reminder"), ("event", "bounce"))
            if k in sample
        }
    )
    stored = say(code, sample)
    found = parse(stored)
    assert found is not None, stored
    assert say(found[0], found[1]) == stored
    assert translate(stored, "fr") == say(code, sample, "fr")
