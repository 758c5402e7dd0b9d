"""Letters to post: the PDF says what the email says, with letterhead and addressee."""

from __future__ import annotations

import contextlib
import re
import zlib
from datetime import date

import pytest

from connector.dunning.context import ReminderContext
from connector.dunning.letter_parties import (
    LetterParty,
    creditor_of,
    debtor_of,
    missing_for_letter,
)
from connector.dunning.letters import printable, render_letter
from connector.dunning.rendering import ReminderRenderer, TemplateError, sample_context
from connector.store.models import Customer, Shop

POSTED_ON = date(2026, 7, 1)


def identified_shop(**changes: str | None) -> Shop:
    """A shop with everything a posted letter needs (R123-237 Code de commerce)."""
    shop = Shop(id=1, name="Atelier Lumière", owner_email="owner@atelier.example")
    shop.sender_name = "Claire Dubois"
    shop.signatory_name, shop.signatory_role = "Claire Dubois", "Gérante"
    shop.legal_name = "Atelier Lumière SARL"
    shop.legal_form = "SARL au capital de 10 000 €"
    shop.siren = "732829320"
    shop.rcs_city = "Paris"
    shop.registered_office = "12 rue des Lilas\n75011 Paris"
    for field, value in changes.items():
        setattr(shop, field, value)
    return shop


def customer(address: str | None = "3 avenue Foch\n69006 Lyon\nFR", **kw: str) -> Customer:
    return Customer(
        name=kw.get("name", "Camille Martin"),
        company=kw.get("company"),
        email="camille@example.org",
        postal_address=address,
    )


def letter(ctx: ReminderContext, shop: Shop | None = None, **kw: object) -> bytes:
    return render_letter(
        ctx,
        ReminderRenderer(),
        creditor=creditor_of(shop or identified_shop()),
        debtor=debtor_of(customer()),
        letter_date=POSTED_ON,
        **kw,  # type: ignore[arg-type]
    )


def pdf_text(data: bytes) -> str:
    """The text drawn by the PDF's content streams (fpdf2 compresses them with Flate)."""
    chunks: list[str] = []
    # fpdf2 ends a stream's data with "\n" before "endstream": a compressed stream whose last
    # byte is "\r" must keep it (an optional "\r" in the pattern would eat it, the stream
    # would not inflate and its page's text would silently be missing).
    for match in re.finditer(rb"stream\r?\n(.*?)\nendstream", data, re.S):
        raw = match.group(1)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        for text in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", raw, re.S):
            chunks.append(text.replace(rb"\(", b"(").replace(rb"\)", b")").decode("cp1252"))
    return "\n".join(chunks)


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("b2b", [True, False])
def test_formal_notice_letter_carries_the_message(locale: str, b2b: bool) -> None:
    ctx = sample_context("formal_notice", locale, b2b=b2b, invoices=2)
    data = letter(ctx)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for inv in ctx.invoices:
        assert inv.number in text
        assert printable(inv.amount_due).replace("\u00a0", " ") in text.replace("\u00a0", " ")
    assert "Atelier Lumière SARL" in text  # letterhead: the shop's legal name
    assert "RCS Paris 732 829 320" in text
    assert "Camille Martin" in text and "69006 Lyon" in text  # the addressee block
    heading = "LETTRE RECOMMANDÉE" if locale == "fr" else "REGISTERED LETTER"
    assert heading in text
    assert ("Mise en demeure" if locale == "fr" else "formal notice") in text
    assert ("40,00" in text or "40.00" in text) is b2b  # never an indemnity for a consumer


def test_a_broken_owner_template_fails_the_letter_like_the_email() -> None:
    renderer = ReminderRenderer(
        {
            "fr/final_warning": "{% block subject %}{{ ctx.nope }}{% endblock %}{% block body %}x"
            "{% endblock %}"
        }
    )
    with pytest.raises(TemplateError, match="fr/final_warning"):
        render_letter(
            sample_context("final_warning", "fr"),
            renderer,
            creditor=LetterParty(name="A", address=()),
            debtor=LetterParty(name="B", address=()),
            letter_date=POSTED_ON,
        )


def test_printable_keeps_french_and_euro_and_transliterates_the_rest() -> None:
    assert printable("1\u202f234,50\u00a0€ – « échéance »") == "1\u00a0234,50\u00a0€ – « échéance »"
    assert printable("Erdős Łódź") == "Erdos ?ódz"  # decomposed where it can, else "?"
    assert printable("😀") == "?"


@pytest.mark.parametrize(
    ("locale", "place_date", "subject"),
    [
        (
            "fr",
            "Paris, le 1er juillet 2026",
            "Objet : Mise en demeure de payer — facture F-2025-0042",
        ),
        ("en", "Paris, 1 July 2026", "Subject: Formal notice to pay — invoice F-2025-0042"),
    ],
)
def test_a_letter_can_be_posted(locale: str, place_date: str, subject: str) -> None:
    text = pdf_text(letter(sample_context("formal_notice", locale)))
    # The creditor: legal name, form, RCS and SIREN, registered office.
    for line in ("Atelier Lumière SARL", "SARL au capital de 10", "RCS Paris 732 829 320"):
        assert line in text
    assert "12 rue des Lilas" in text and "75011 Paris" in text
    # The debtor's postal address; place and date (the letter's date, not the day it was made).
    assert "Camille Martin" in text and "3 avenue Foch" in text and "69006 Lyon" in text
    assert place_date in text
    # One subject line, no doubled colon; the signatory.
    assert text.count(subject) == 1
    assert text.count("Objet" if locale == "fr" else "Subject:") == 1
    assert "Claire Dubois" in text


def test_the_english_notice_is_sent_pursuant_to_article_1344() -> None:
    for b2b in (True, False):
        text = ReminderRenderer().render(sample_context("formal_notice", "en", b2b=b2b)).text
        assert "is sent pursuant to Article 1344 of the French Civil Code" in text
        assert "served" not in text


def test_an_english_notice_comes_with_its_french_version() -> None:
    english = sample_context("formal_notice", "en")
    french = sample_context("formal_notice", "fr")
    text = pdf_text(letter(english, french_version=french))
    assert "Formal notice to pay" in text
    assert "VERSION FRANÇAISE" in text
    assert "Objet : Mise en demeure de payer — facture F-2025-0042" in text
    assert "Paris, le 1er juillet 2026" in text
    assert "VERSION FRAN" not in pdf_text(letter(english))


def test_what_stops_a_letter_is_named() -> None:
    assert missing_for_letter(identified_shop(), customer()) == []
    bare = identified_shop(siren=None, registered_office=None)
    assert missing_for_letter(bare, customer(address=None, name="Marie Curie")) == [
        "your SIREN and registered office",
        "Marie Curie's postal address",
    ]
    assert missing_for_letter(
        identified_shop(legal_form=None, rcs_city=None, siren=None), customer()
    ) == ["your legal form, SIREN and RCS city"]
    # A letter is signed by a named person with their role.
    unsigned = identified_shop(signatory_name=None, sender_name=None, signatory_role=None)
    assert missing_for_letter(unsigned, customer()) == [
        "your signatory's name and signatory's role"
    ]
