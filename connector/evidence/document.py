"""The dossier PDF: invoice facts, terms, then every dated fact in chronological order.

fpdf2 core fonts in Windows-1252 (French accents, €, « ») as the letters use; in the shop's
language (connector.evidence.wording): instants on the shop's wall clock with their zone, dates
written out, amounts in the invoice's currency as that language writes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from connector.actions.timeline import TimelineEntry, TimelineKind
from connector.domain import phrases
from connector.domain.dates import long_date
from connector.domain.money import Money
from connector.domain.phrases import Value, translate
from connector.dunning.letters import ENCODING, printable
from connector.dunning.rules import penalty_policy
from connector.evidence.record import InvoiceRecord
from connector.evidence.wording import DossierWords, words

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


# What a lawyer needs of each entry's detail, in this order (labels in the words' language).
_DETAIL_KEYS: tuple[str, ...] = (
    "recipient",
    "subject",
    "provider_message_id",
    "state",
    "reason",
    "filename",
    "posted_on",
    "tracking",
    "source",
    "external_id",
    "event_id",
    "outcome",
    "sg_event_id",
)


_CODED: dict[str, Value] = {
    "state": Value.STATE,
    "source": Value.SOURCE,
    "outcome": Value.OUTCOME,
}
"""Detail values that are codes, said in the dossier's language (a reason is a sentence)."""


def _detail_value(key: str, raw: object, locale: str) -> str:
    if key == "reason":
        return translate(str(raw), locale)
    coded = _CODED.get(key)
    return str(raw) if coded is None else phrases.value(coded, str(raw), locale)


def detail_lines(entry: TimelineEntry, locale: str) -> list[str]:
    """The entry's facts as "label: value" lines (amounts in their currency, who did it)."""
    w = words(locale)
    detail = entry.detail
    lines = [
        f"{w.details[key]}: {_detail_value(key, detail[key], locale)}"
        for key in _DETAIL_KEYS
        if detail.get(key)
    ]
    minor, currency = detail.get("amount_minor"), detail.get("currency")
    if entry.kind is TimelineKind.PAYMENT and isinstance(minor, int) and isinstance(currency, str):
        lines.insert(0, f"{w.amount}: {_money(Money.from_minor(minor, currency), locale)}")
    if entry.actor:
        lines.append(f"{w.by}: {entry.actor}")
    return lines


def _money(amount: Money, locale: str) -> str:
    return amount.format("fr_FR" if locale.startswith("fr") else "en_US")


def terms_lines(record: InvoiceRecord) -> list[str]:
    """What the shop's terms say about lateness, for this customer (B2B or consumer)."""
    shop, b2b = record.shop, record.customer.is_b2b
    w = words(shop.locale)
    policy = penalty_policy(shop)
    mode = w.terms_modes.get(shop.terms_mode, f"{shop.terms_mode.value} {{days}}")
    lines = [w.payment_terms.format(mode=mode.format(days=shop.terms_days))]
    if b2b:
        rate = policy.ecb_rate + policy.b2b_margin_points
        lines.append(
            w.b2b_interest.format(ecb=policy.ecb_rate, margin=policy.b2b_margin_points, rate=rate)
        )
        lines.append(w.indemnity.format(amount=_money(policy.indemnity, shop.locale)))
    elif policy.consumer_rate is not None:
        lines.append(w.consumer_interest.format(rate=policy.consumer_rate))
    else:
        lines.append(w.no_interest)
    return lines


def _headline(w: DossierWords, entry: TimelineEntry) -> tuple[str, str | None]:
    """The chronology line of an entry, and its title when the words name the kind (both in
    the dossier's language: connector.domain.phrases)."""
    named = w.kinds.get(entry.kind)
    title = entry.said(w.language)
    return (title, None) if named is None else (named, title)


def dossier_pdf(record: InvoiceRecord, *, made_on: date) -> bytes:
    """The evidence dossier of one invoice, made on ``made_on`` (the shop's date)."""
    shop, inv, cust = record.shop, record.invoice, record.customer
    tz, locale = shop.timezone, shop.locale
    w = words(locale)
    sheet = Sheet(w.title.format(number=inv.number), shop.legal_name or shop.name)
    sheet.text(w.made_on.format(shop=shop.legal_name or shop.name, day=long_date(made_on, locale)))
    sheet.section(w.invoice)
    sheet.row(w.number, inv.number)
    sheet.row(w.issued_on, long_date(record.issued_on, locale))
    sheet.row(w.due_on, long_date(record.due_on, locale))
    sheet.row(w.total, _money(inv.total, locale))
    sheet.row(w.paid, _money(record.paid, locale))
    sheet.row(w.still_due, _money(inv.amount_due, locale))
    sheet.row(w.status, w.statuses[inv.status])
    if inv.payment_url:
        sheet.row(w.payment_link, inv.payment_url)
    sheet.section(w.creditor)
    sheet.row(w.name, shop.legal_name or shop.name)
    if shop.legal_form:
        sheet.row(w.legal_form, shop.legal_form)
    if shop.siren:
        sheet.row(w.siren, f"{shop.siren} RCS {shop.rcs_city or ''}".strip())
    if shop.registered_office:
        sheet.row(w.registered_office, shop.registered_office)
    sheet.section(w.customer)
    sheet.row(w.name, cust.name or (w.erased if cust.erased_at else "—"))
    if cust.company:
        sheet.row(w.company, cust.company)
    sheet.row(w.email, cust.email or "—")
    sheet.row(w.postal_address, cust.postal_address or "—")
    sheet.row(w.kind, w.business if cust.is_b2b else w.consumer)
    sheet.section(w.terms)
    sheet.lines(terms_lines(record), indent=0)
    sheet.section(w.chronology)
    for event in record.events:
        headline, stored = _headline(w, event)
        sheet.text(f"{w.when(event.at, tz)} — {headline}", bold=True)
        sheet.lines(([stored] if stored else []) + detail_lines(event, locale))
    sheet.section(w.messages)
    if not record.messages:
        sheet.text(w.no_message)
    for m in record.messages:
        when = w.when(m.sent_at, tz) if m.sent_at else w.not_sent
        state = phrases.value(Value.STATE, m.state, locale)
        step = phrases.value(Value.STEP, m.step, locale)
        sheet.text(f"{when} — {step} ({state})", bold=True)
        sheet.lines(
            [
                f"{w.to}: {m.recipient or '—'}",
                f"{w.subject}: {m.subject or '—'}",
                f"{w.provider_id}: {m.provider_message_id or '—'}",
            ]
        )
        if m.body_text:
            sheet.lines(m.body_text.splitlines() or [""], indent=10)
        sheet.pdf.ln(2)
    sheet.section(w.letters)
    if not record.letters:
        sheet.text(w.no_letter)
    for letter in record.letters:
        posted = (
            w.posted.format(
                day=long_date(letter.posted_on, locale), tracking=letter.tracking or "—"
            )
            if letter.posted_on
            else w.not_posted
        )
        made = w.when(letter.created_at, tz)
        sheet.text(w.made.format(filename=letter.filename, at=made, posted=posted))
    return sheet.output()
