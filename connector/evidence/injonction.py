"""The injonction de payer pack (the French summary payment order): the claim computed to a
date, the facts in the order the request form asks for them, and the documents to join.

The form's order (Cerfa 12948 before the tribunal judiciaire; the tribunal de commerce's request
asks the same): 1. the applicant (creditor), 2. the debtor, 3. the amount claimed — principal,
late interest, recovery indemnity —, 4. the cause of the claim (the facts, in order), 5. the
documents joined, 6. place, date and signature. Written in French: it goes to a French court.

Interest runs on what is still due from the day after the due date to the chosen date (both
included), one line per half-year as the letters show it (connector.domain.penalties)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.numbers import format_decimal

from connector.actions.timeline import TimelineEntry, TimelineKind
from connector.domain.dates import local_date, long_date
from connector.domain.money import Money
from connector.domain.penalties import InterestLine, compute_penalties
from connector.dunning.rules import penalty_policy
from connector.evidence.document import Sheet
from connector.evidence.record import FormalNotice, InvoiceRecord
from connector.store.models import Channel


class NoFormalNotice(ValueError):
    """The pack exists only once the formal notice went out — its letter made and its posting
    recorded (the message says what is missing)."""


@dataclass(frozen=True, slots=True)
class Claim:
    on: date
    principal: Money
    interest: Money | None
    interest_lines: tuple[InterestLine, ...]
    indemnity: Money | None
    total: Money

    def as_dict(self) -> dict[str, object]:
        return {
            "on": self.on.isoformat(),
            "currency": self.principal.currency,
            "principal": str(self.principal.amount),
            "interest": str(self.interest.amount) if self.interest else None,
            "indemnity": str(self.indemnity.amount) if self.indemnity else None,
            "indemnity_currency": self.indemnity.currency if self.indemnity else None,
            "total": str(self.total.amount),
            "interest_lines": [
                {
                    "from": line.first_day.isoformat(),
                    "to": line.last_day.isoformat(),
                    "days": line.days,
                    "rate": str(line.rate),
                    "amount": str(line.amount.amount),
                }
                for line in self.interest_lines
            ],
        }


def claim_on(record: InvoiceRecord, on: date) -> Claim:
    """What the creditor may claim on ``on``: the amount still due, the late interest on it
    and (business customers) the fixed recovery indemnity."""
    if on < record.due_on:
        raise ValueError(f"--on {on.isoformat()}: before the due date ({record.due_on})")
    principal = record.invoice.amount_due
    found = compute_penalties(
        penalty_policy(record.shop),
        principal,
        record.due_on,
        on,
        is_b2b=record.customer.is_b2b,
    )
    return Claim(
        on=on,
        principal=principal,
        interest=found.interest,
        interest_lines=found.interest_lines,
        indemnity=found.indemnity,
        total=found.total_with_penalties,
    )


def _eur(amount: Money) -> str:
    return amount.format("fr_FR")


def injonction_pdf(record: InvoiceRecord, on: date) -> bytes:
    """The pack; NoFormalNotice before the formal notice went out or once nothing is due."""
    notice = record.formal_notice
    if notice is None:
        raise NoFormalNotice(
            f"invoice {record.invoice.number}: no formal notice has gone out yet; the "
            "injonction de payer pack comes after it"
        )
    if notice.letter_posted_on is None:
        raise NoFormalNotice(_unposted(record, notice))
    if not record.invoice.amount_due.is_positive():
        raise NoFormalNotice(f"invoice {record.invoice.number}: nothing is due any more")
    claim = claim_on(record, on)
    shop, cust, inv = record.shop, record.customer, record.invoice
    sheet = Sheet(
        f"Requête en injonction de payer — facture {inv.number}", shop.legal_name or shop.name
    )
    court = (
        "Tribunal de commerce (ou tribunal des activités économiques) du domicile du débiteur"
        if cust.is_b2b
        else "Tribunal judiciaire du domicile du débiteur — formulaire Cerfa n° 12948"
    )
    sheet.row("Juridiction", court)
    sheet.row("Créance arrêtée au", long_date(on, "fr"))

    sheet.section("1. Le demandeur (créancier)")
    sheet.row("Dénomination", shop.legal_name or shop.name)
    sheet.row("Forme juridique", shop.legal_form or "—")
    sheet.row("Immatriculation", f"SIREN {shop.siren} — RCS {shop.rcs_city}" if shop.siren else "—")
    sheet.row("Siège social", shop.registered_office or shop.legal_address or "—")
    signatory = ", ".join(x for x in (shop.signatory_name, shop.signatory_role) if x)
    sheet.row("Représentant légal", signatory or "—")

    sheet.section("2. Le défendeur (débiteur)")
    sheet.row("Nom", cust.name or "—")
    if cust.company:
        sheet.row("Société", cust.company)
    sheet.row("Adresse", cust.postal_address or "—")
    sheet.row("Qualité", "professionnel" if cust.is_b2b else "particulier")

    sheet.section("3. La somme réclamée")
    sheet.row("Principal", _eur(claim.principal))
    for line in claim.interest_lines:
        sheet.row(
            "Intérêts de retard",
            f"du {long_date(line.first_day, 'fr')} au {long_date(line.last_day, 'fr')}, "
            f"{line.days} jours au taux de {_rate(line.rate)} % l'an : {_eur(line.amount)}",
        )
    if claim.interest is not None:
        sheet.row("Total des intérêts", _eur(claim.interest))
    if claim.indemnity is not None:
        sheet.row("Indemnité forfaitaire", f"{_eur(claim.indemnity)} (art. D441-5 C. com.)")
    sheet.row("Total réclamé", _eur(claim.total))

    sheet.section("4. Le fondement de la créance (les faits, dans l'ordre)")
    for fact in _facts(record, on):
        sheet.text(f"– {fact}")

    sheet.section("5. Pièces jointes")
    for index, piece in enumerate(_documents(record), start=1):
        sheet.text(f"{index}. {piece}")

    sheet.section("6. Fait à, le, signature")
    sheet.text(f"Fait à {shop.rcs_city or '…'}, le {long_date(on, 'fr')}")
    sheet.text(signatory or "Signature du représentant légal")
    return sheet.output()


def _unposted(record: InvoiceRecord, notice: FormalNotice) -> str:
    """Why a formal notice made but never posted opens no pack: it was not sent, and its
    deadline runs only from its posting — the owner records the posting first."""
    number = record.invoice.number
    if notice.letter_id is None:
        return (
            f"invoice {number}: its formal notice has no letter; make and post the letter, "
            "record the posting, then make the injonction de payer pack"
        )
    made = (
        long_date(local_date(notice.sent_at, record.shop.timezone), "en") if notice.sent_at else "?"
    )
    return (
        f"invoice {number}: the formal notice letter {notice.letter_filename} (letter "
        f"{notice.letter_id}, made {made}) has no posting recorded — it was not sent and its "
        "deadline has not started. Record the posting first (relance letters posted "
        f"{notice.letter_id} --on YYYY-MM-DD [--tracking NUMBER], or the Tasks page), then make "
        "the injonction de payer pack"
    )


def _facts(record: InvoiceRecord, on: date) -> list[str]:
    inv, tz = record.invoice, record.shop.timezone
    facts = [
        f"Facture n° {inv.number} émise le {long_date(record.issued_on, 'fr')} pour "
        f"{_eur(inv.total)}, échue le {long_date(record.due_on, 'fr')}."
    ]
    for event in record.events:
        fact = _fact(event, tz, record.formal_notice.step if record.formal_notice else None)
        if fact:
            facts.append(fact)
    notice = record.formal_notice
    assert notice is not None
    if notice.deadline_on is not None and notice.deadline_on < on:
        facts.append(
            f"Délai accordé par la mise en demeure expiré le {long_date(notice.deadline_on, 'fr')}."
        )
    elif notice.deadline_on is not None:
        facts.append(
            "Délai accordé par la mise en demeure : jusqu'au "
            f"{long_date(notice.deadline_on, 'fr')}."
        )
    facts.append(f"Au {long_date(on, 'fr')}, reste dû en principal : {_eur(inv.amount_due)}.")
    return facts


def _rate(rate: Decimal) -> str:
    """12.15 → « 12,15 »: a French decimal comma."""
    return format_decimal(rate, locale="fr_FR")


def _fact(event: TimelineEntry, tz: str, notice_step: str | None) -> str | None:
    """The entries a court needs, in French: reminders sent, letters, dispatch, payments."""
    d = event.detail
    day = long_date(local_date(event.at, tz), "fr")
    if event.kind is TimelineKind.MESSAGE and d.get("state") == "sent" and d.get("step"):
        subject = f" « {d['subject']} »" if d.get("subject") else ""
        return f"Courriel{subject} envoyé le {day} à {d.get('recipient') or '—'}."
    if event.kind is TimelineKind.LETTER and d.get("posted_on"):
        posted = long_date(date.fromisoformat(str(d["posted_on"])), "fr")
        return f"Lettre postée le {posted}, n° de suivi {d.get('tracking') or '—'}."
    if event.kind is TimelineKind.LETTER and d.get("step"):
        if d["step"] == notice_step:
            return f"Mise en demeure établie par lettre le {day}."
        return f"Lettre établie le {day}."
    if event.kind is TimelineKind.MESSAGE and d.get("event") == "statement_sent":
        if d.get("state") == "sent":
            return f"Relevé de compte envoyé par courriel le {day} à {d.get('recipient') or '—'}."
        return None
    minor, currency = d.get("amount_minor"), d.get("currency")
    if event.kind is TimelineKind.PAYMENT and isinstance(minor, int) and isinstance(currency, str):
        return f"Paiement partiel reçu le {day} : {_eur(Money.from_minor(minor, currency))}."
    return None


def _documents(record: InvoiceRecord) -> list[str]:
    docs = [f"Facture n° {record.invoice.number}"]
    if record.shop.has_terms_and_conditions:
        docs.append("Conditions générales de vente acceptées par le débiteur")
    sent = [m for m in record.messages if m.sent_at is not None and m.channel is Channel.EMAIL]
    if sent:
        docs.append(
            f"Courriels de relance envoyés ({len(sent)}), avec leurs dates et destinataires"
        )
    for letter in record.letters:
        if letter.posted_on:
            docs.append(
                f"Lettre {letter.filename} et preuve d'envoi (n° de suivi {letter.tracking or '—'})"
            )
    docs.append("Décompte de la créance (le présent document)")
    return docs
