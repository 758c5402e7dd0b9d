"""Letters to post (final warning, formal notice): the step's message laid out as a PDF.

The letter says exactly what the email said — same template, same context — with what a
posted letter needs: the creditor's identification (legal name, form, SIREN/RCS, registered
office — R123-237 Code de commerce), the addressee's postal address, place and date
(« Paris, le 1er juillet 2026 »), one subject line and a named signatory. Without the
identification or the addressee's address no letter is made (:func:`missing_for_letter`).

fpdf2 is pure Python and its core fonts need no font file, so a fresh machine renders letters
as it is. Core fonts cover Windows-1252 (French accents, €, « », –); anything else is
transliterated.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from fpdf import FPDF

from connector.domain.dates import long_date
from connector.domain.identity import is_in_france
from connector.dunning.compose import SentHistory
from connector.dunning.context import ReminderContext
from connector.dunning.letter_parties import LetterParty, creditor_of, debtor_of
from connector.dunning.planner import StepSpec
from connector.dunning.posting import letter_context
from connector.dunning.rendering import Paragraph, ReminderRenderer, language, split_paragraphs
from connector.store.models import Customer, Invoice, Shop

ENCODING = "cp1252"
_SPACES = {"\u202f": "\u00a0", "\u2009": " ", "\u2007": " "}  # Babel's narrow spaces

_LABELS = {
    "fr": {
        "final_warning": "Dernier avertissement avant mise en demeure",
        "formal_notice": "Mise en demeure de payer",
        "registered": "Lettre recommandée avec accusé de réception",
        "invoice": "facture",
        "invoices": "factures",
        "subject": "Objet : {title} — {noun} {numbers}",
        "place_date": "{place}, le {date}",
        "french_version": "Version française",
        "office": "Siège social : {address}",
    },
    "en": {
        "final_warning": "Final warning before formal notice",
        "formal_notice": "Formal notice to pay",
        "registered": "Registered letter with acknowledgement of receipt",
        "invoice": "invoice",
        "invoices": "invoices",
        "subject": "Subject: {title} — {noun} {numbers}",
        "place_date": "{place}, {date}",
        "french_version": "French version",
        "office": "Registered office: {address}",
    },
}


def printable(text: str) -> str:
    """Text the PDF core fonts can encode: narrow spaces widened, the rest transliterated."""
    text = "".join(_SPACES.get(ch, ch) for ch in text)
    out: list[str] = []
    for ch in text:
        try:
            ch.encode(ENCODING)
            out.append(ch)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(plain or "?")
    return "".join(out)


def render_letter(
    ctx: ReminderContext,
    renderer: ReminderRenderer,
    *,
    creditor: LetterParty,
    debtor: LetterParty,
    letter_date: date,
    french_version: ReminderContext | None = None,
) -> bytes:
    """The PDF bytes of the letter for this context (raises TemplateError like an email).

    ``letter_date``: the day the letter is dated (the day it is posted). ``french_version``:
    the same message in French, printed after the letter (an English notice to a customer in
    France comes with its French text).
    """
    pdf = FPDF(format="A4", unit="mm")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_author(printable(creditor.name))
    title = _page(pdf, ctx, renderer, creditor, debtor, letter_date)
    pdf.set_title(printable(title))
    if french_version is not None:
        _page(pdf, french_version, renderer, creditor, debtor, letter_date, heading=True)
    return bytes(pdf.output())


def _page(
    pdf: FPDF,
    ctx: ReminderContext,
    renderer: ReminderRenderer,
    creditor: LetterParty,
    debtor: LetterParty,
    letter_date: date,
    *,
    heading: bool = False,
) -> str:
    message = renderer.render(ctx)
    lang = language(ctx.locale)
    labels = _LABELS.get(lang, _LABELS["en"])
    numbers = tuple(inv.number for inv in ctx.invoices)
    pdf.add_page()
    if heading:
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.multi_cell(0, 6, printable(labels["french_version"].upper()))
        pdf.ln(4)
    _block(pdf, [creditor.name, *creditor.address, *creditor.identification], bold_first=True)
    pdf.ln(8)
    with pdf.local_context():
        _block(pdf, [debtor.name, *debtor.address], x=110)
    pdf.ln(8)
    pdf.set_font("Helvetica", size=10)
    place_date = labels["place_date"].format(
        place=creditor.place or "", date=long_date(letter_date, lang)
    )
    pdf.cell(0, 5, printable(place_date.lstrip(", ")), align="R")
    pdf.ln(10)
    if ctx.step == "formal_notice":
        pdf.set_font("Helvetica", style="B", size=10)
        pdf.multi_cell(0, 5, printable(labels["registered"].upper()))
        pdf.ln(2)
    subject = labels["subject"].format(
        title=labels.get(ctx.step, message.subject),
        noun=labels["invoices" if len(numbers) > 1 else "invoice"],
        numbers=", ".join(numbers),
    )
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.multi_cell(0, 5, printable(subject))
    pdf.ln(4)
    for para in split_paragraphs(message.text, numbers):
        _paragraph(pdf, para)
    signatory = [line for line in (creditor.signatory_name, creditor.signatory_role) if line]
    if signatory:
        pdf.ln(2)
        _block(pdf, signatory, x=110)
    return subject


def _block(
    pdf: FPDF, lines: list[str], *, x: float | None = None, bold_first: bool = False
) -> None:
    for index, line in enumerate(lines):
        pdf.set_font("Helvetica", style="B" if bold_first and index == 0 else "", size=10)
        if x is not None:
            pdf.set_x(x)
        pdf.cell(0, 5, printable(line))
        pdf.ln(5)


def _paragraph(pdf: FPDF, para: Paragraph) -> None:
    pdf.set_font("Helvetica", style="B" if para.kind == "invoices" else "", size=10)
    for line in para.lines:
        indent = 5 if para.kind != "text" else 0
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(0, 5, printable(line))
    pdf.ln(3)


def letter_pdf(
    shop: Shop,
    customer: Customer,
    invoice: Invoice,
    step: StepSpec,
    history: SentHistory,
    dated: date,
    deadline: date | None,
    renderer: ReminderRenderer,
) -> bytes:
    """The letter of ``step`` for ``invoice``, dated ``dated`` (its posting, planned or
    recorded) with the deadline it announces: what the deliverer stores when the step goes out
    and what recording the posting stores again. An English letter to a customer in France
    carries its French version."""
    ctx = letter_context(shop, customer, invoice, step, history, dated, deadline)
    french = None
    if ctx.locale != "fr" and is_in_france(
        customer.postal_address, shop_country=shop.holiday_country
    ):
        french = letter_context(
            shop, customer, invoice, step, history, dated, deadline, locale="fr"
        )
    return render_letter(
        ctx,
        renderer,
        creditor=creditor_of(shop),
        debtor=debtor_of(customer),
        letter_date=dated,
        french_version=french,
    )
