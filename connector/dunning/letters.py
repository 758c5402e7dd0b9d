"""Letters to post (final warning, formal notice): the step's message laid out as a PDF.

The letter says exactly what the email said — same template, same context — with the
letterhead, the addressee block, place and date that a posted letter needs. fpdf2 is pure
Python and its core fonts need no font file, so a fresh machine renders letters as it is.
Core fonts cover Windows-1252 (French accents, €, « », –); anything else is transliterated.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF

from connector.dunning.context import ReminderContext
from connector.dunning.rendering import Paragraph, ReminderRenderer, language, split_paragraphs

ENCODING = "cp1252"
_SPACES = {"\u202f": "\u00a0", "\u2009": " ", "\u2007": " "}  # Babel's narrow spaces

_HEADINGS = {
    "fr": {
        "final_warning": "Dernier avertissement avant mise en demeure",
        "formal_notice": "Lettre recommandée avec accusé de réception",
        "subject": "Objet",
        "date": "Le {today}",
    },
    "en": {
        "final_warning": "Final warning before formal notice",
        "formal_notice": "Registered letter with acknowledgement of receipt",
        "subject": "Subject",
        "date": "{today}",
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


def render_letter(ctx: ReminderContext, renderer: ReminderRenderer) -> bytes:
    """The PDF bytes of the letter for this context (raises TemplateError like an email)."""
    message = renderer.render(ctx)
    labels = _HEADINGS.get(language(ctx.locale), _HEADINGS["en"])
    numbers = tuple(inv.number for inv in ctx.invoices)

    pdf = FPDF(format="A4", unit="mm")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(printable(message.subject))
    pdf.set_author(printable(ctx.shop.legal_name or ctx.shop.name))
    pdf.add_page()

    _block(pdf, _sender_lines(ctx), bold_first=True)
    pdf.ln(8)
    with pdf.local_context():
        pdf.set_x(110)
        _block(pdf, _addressee_lines(ctx), x=110)
    pdf.ln(8)
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 5, printable(labels["date"].format(today=ctx.today)), align="R")
    pdf.ln(10)
    heading = labels.get(ctx.step)
    if heading:
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.multi_cell(0, 6, printable(heading.upper()))
        pdf.ln(2)
    pdf.set_font("Helvetica", style="B", size=10)
    pdf.multi_cell(0, 5, printable(f"{labels['subject']} : {message.subject}"))
    pdf.ln(4)
    for para in split_paragraphs(message.text, numbers):
        _paragraph(pdf, para)
    return bytes(pdf.output())


def _sender_lines(ctx: ReminderContext) -> list[str]:
    shop = ctx.shop
    lines = [shop.legal_name or shop.name]
    if shop.legal_address:
        lines += shop.legal_address.splitlines()
    if shop.legal_id:
        lines.append(shop.legal_id)
    lines.append(shop.contact_email)
    if shop.contact_phone:
        lines.append(shop.contact_phone)
    return lines


def _addressee_lines(ctx: ReminderContext) -> list[str]:
    customer = ctx.customer
    lines = [customer.company] if customer.company else []
    lines.append(customer.name)
    if customer.postal_address:
        lines += customer.postal_address.splitlines()
    return lines


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
