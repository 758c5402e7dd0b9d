"""The dossier PDF: invoice facts, terms, then every dated fact in chronological order.

fpdf2 core fonts in Windows-1252 (French accents, €, « ») as the letters use; instants on the
shop's wall clock with their zone, amounts in the invoice's currency."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from connector.actions.timeline import TimelineEntry, TimelineKind
from connector.domain.dates import instant_label, long_date
from connector.domain.money import Money
from connector.dunning.letters import ENCODING, printable
from connector.dunning.rules import penalty_policy
from connector.evidence.record import InvoiceRecord

LINE = 5.0


class Sheet:
    """A4 pages with a title, sections and label/value rows: what both documents are made of."""

    def __init__(self, title: str, author: str) -> None:
        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.core_fonts_encoding = ENCODING
        self.pdf.set_margins(18, 18, 18)
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.set_title(printable(title))
        self.pdf.set_author(printable(author))
        self.pdf.add_page()
        self.pdf.set_font("Helvetica", style="B", size=15)
        self.pdf.multi_cell(0, 8, printable(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(2)

    def section(self, heading: str) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("Helvetica", style="B", size=12)
        self.pdf.multi_cell(0, 7, printable(heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def row(self, label: str, value: str) -> None:
        self.pdf.set_font("Helvetica", style="B", size=9)
        self.pdf.cell(52, LINE, printable(label))
        self.pdf.set_font("Helvetica", size=9)
        self.pdf.multi_cell(0, LINE, printable(value or "—"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def text(self, value: str, *, bold: bool = False, indent: float = 0) -> None:
        self.pdf.set_font("Helvetica", style="B" if bold else "", size=9)
        self.pdf.set_x(self.pdf.l_margin + indent)
        self.pdf.multi_cell(0, LINE, printable(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def lines(self, values: Iterable[str], *, indent: float = 6) -> None:
        for value in values:
            self.text(value, indent=indent)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


# What a lawyer needs of each entry's detail, in this order, with its label.
_DETAIL_LABELS: tuple[tuple[str, str], ...] = (
    ("recipient", "to"),
    ("subject", "subject"),
    ("provider_message_id", "provider id"),
    ("state", "state"),
    ("reason", "reason"),
    ("filename", "file"),
    ("posted_on", "posted on"),
    ("tracking", "tracking number"),
    ("source", "source"),
    ("external_id", "reference"),
    ("event_id", "delivery id"),
    ("outcome", "outcome"),
    ("sg_event_id", "provider event id"),
)


def detail_lines(entry: TimelineEntry, locale: str) -> list[str]:
    """The entry's facts as "label: value" lines (amounts in their currency, who did it)."""
    detail = entry.detail
    lines = [f"{label}: {detail[key]}" for key, label in _DETAIL_LABELS if detail.get(key)]
    minor, currency = detail.get("amount_minor"), detail.get("currency")
    if entry.kind is TimelineKind.PAYMENT and isinstance(minor, int) and isinstance(currency, str):
        lines.insert(0, f"amount: {_money(Money.from_minor(minor, currency), locale)}")
    if entry.actor:
        lines.append(f"by: {entry.actor}")
    return lines


def _money(amount: Money, locale: str) -> str:
    return amount.format("fr_FR" if locale.startswith("fr") else "en_US")


def terms_lines(record: InvoiceRecord) -> list[str]:
    """What the shop's terms say about lateness, for this customer (B2B or consumer)."""
    shop, b2b = record.shop, record.customer.is_b2b
    policy = penalty_policy(shop)
    lines = [f"Payment terms: {shop.terms_mode.value}, {shop.terms_days} days"]
    if b2b:
        rate = policy.ecb_rate + policy.b2b_margin_points
        lines.append(
            f"Late interest: ECB rate {policy.ecb_rate} % + {policy.b2b_margin_points} points"
            f" = {rate} % a year (L441-10 Code de commerce)"
        )
        lines.append(
            f"Recovery indemnity: {_money(policy.indemnity, shop.locale)} per invoice (D441-5)"
        )
    elif policy.consumer_rate is not None:
        lines.append(f"Late interest (consumer): {policy.consumer_rate} % a year")
    else:
        lines.append("Consumer customer: no late interest, no recovery indemnity")
    return lines


def dossier_pdf(record: InvoiceRecord, *, made_on: date) -> bytes:
    """The evidence dossier of one invoice, made on ``made_on`` (the shop's date)."""
    shop, inv, cust = record.shop, record.invoice, record.customer
    tz, locale = shop.timezone, shop.locale
    sheet = Sheet(f"Evidence dossier — invoice {inv.number}", shop.legal_name or shop.name)
    sheet.text(f"{shop.legal_name or shop.name} — made on {long_date(made_on, locale)}")
    sheet.section("Invoice")
    sheet.row("Number", inv.number)
    sheet.row("Issued on", long_date(record.issued_on, locale))
    sheet.row("Due on", long_date(record.due_on, locale))
    sheet.row("Total", _money(inv.total, locale))
    sheet.row("Paid", _money(record.paid, locale))
    sheet.row("Still due", _money(inv.amount_due, locale))
    sheet.row("Status", inv.status.value)
    if inv.payment_url:
        sheet.row("Payment link", inv.payment_url)
    sheet.section("Creditor")
    sheet.row("Name", shop.legal_name or shop.name)
    if shop.legal_form:
        sheet.row("Legal form", shop.legal_form)
    if shop.siren:
        sheet.row("SIREN / RCS", f"{shop.siren} RCS {shop.rcs_city or ''}".strip())
    if shop.registered_office:
        sheet.row("Registered office", shop.registered_office)
    sheet.section("Customer")
    sheet.row("Name", cust.name or ("(erased)" if cust.erased_at else "—"))
    if cust.company:
        sheet.row("Company", cust.company)
    sheet.row("Email", cust.email or "—")
    sheet.row("Postal address", cust.postal_address or "—")
    sheet.row("Kind", "business (B2B)" if cust.is_b2b else "consumer")
    sheet.section("Terms")
    sheet.lines(terms_lines(record), indent=0)
    sheet.section("Chronology")
    for event in record.events:
        sheet.text(f"{instant_label(event.at, tz)} — {event.title}", bold=True)
        sheet.lines(detail_lines(event, locale))
    sheet.section("Messages as sent")
    if not record.messages:
        sheet.text("No message was sent for this invoice.")
    for m in record.messages:
        when = instant_label(m.sent_at, tz) if m.sent_at else "not sent"
        sheet.text(f"{when} — {m.step} ({m.state})", bold=True)
        sheet.lines(
            [
                f"to: {m.recipient or '—'}",
                f"subject: {m.subject or '—'}",
                f"provider id: {m.provider_message_id or '—'}",
            ]
        )
        if m.body_text:
            sheet.lines(m.body_text.splitlines() or [""], indent=10)
        sheet.pdf.ln(2)
    sheet.section("Letters and proof of dispatch")
    if not record.letters:
        sheet.text("No letter was made for this invoice.")
    for letter in record.letters:
        posted = (
            f"posted on {long_date(letter.posted_on, locale)}, tracking number "
            f"{letter.tracking or '—'}"
            if letter.posted_on
            else "no posting recorded"
        )
        sheet.text(f"{letter.filename} — made {instant_label(letter.created_at, tz)}: {posted}")
    return sheet.output()
