"""The dossier's words, per language: what an owner hands to a lawyer is in the shop's language.

A catalogue keyed by language (English when the shop's language has none); each field is one
label, heading or sentence of the PDF. The chronology's headlines come from the entry's kind,
its title and reasons said in the same language (connector.domain.phrases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connector.actions.timeline import TimelineKind
from connector.domain.dates import in_zone, instant_label, language_of, long_date
from connector.domain.terms import TermsMode
from connector.platform import InvoiceStatus


@dataclass(frozen=True, slots=True)
class DossierWords:
    language: str
    title: str  # {number}
    made_on: str  # {shop} {day}
    invoice: str
    number: str
    issued_on: str
    due_on: str
    total: str
    paid: str
    still_due: str
    status: str
    payment_link: str
    creditor: str
    name: str
    legal_form: str
    siren: str
    registered_office: str
    customer: str
    erased: str
    company: str
    email: str
    postal_address: str
    kind: str
    business: str
    consumer: str
    terms: str
    payment_terms: str  # {mode} {days}
    b2b_interest: str  # {ecb} {margin} {rate}
    indemnity: str  # {amount}
    consumer_interest: str  # {rate}
    no_interest: str
    chronology: str
    messages: str
    no_message: str
    not_sent: str
    to: str
    subject: str
    provider_id: str
    letters: str
    no_letter: str
    posted: str  # {day} {tracking}
    not_posted: str
    made: str  # {filename} {at} {posted}
    amount: str
    by: str
    statuses: dict[InvoiceStatus, str]
    kinds: dict[TimelineKind, str]
    details: dict[str, str] = field(default_factory=dict)  # timeline detail key → label
    terms_modes: dict[TermsMode, str] = field(default_factory=dict)  # {days}; none: the code
    # "at" ({day} {time} {zone}); None: the ISO-like wall clock label
    instant: str | None = None

    def when(self, at: datetime, timezone: str) -> str:
        """An instant on the shop's wall clock, written the way this language writes dates."""
        if self.instant is None:
            return instant_label(at, timezone)
        local = in_zone(at, timezone)
        return self.instant.format(
            day=long_date(local.date(), self.language),
            time=local.strftime("%H:%M"),
            zone=local.strftime("%Z"),
        )


EN = DossierWords(
    language="en",
    title="Evidence dossier — invoice {number}",
    made_on="{shop} — made on {day}",
    invoice="Invoice",
    number="Number",
    issued_on="Issued on",
    due_on="Due on",
    total="Total",
    paid="Paid",
    still_due="Still due",
    status="Status",
    payment_link="Payment link",
    creditor="Creditor",
    name="Name",
    legal_form="Legal form",
    siren="SIREN / RCS",
    registered_office="Registered office",
    customer="Customer",
    erased="(erased)",
    company="Company",
    email="Email",
    postal_address="Postal address",
    kind="Kind",
    business="business (B2B)",
    consumer="consumer",
    terms="Terms",
    payment_terms="Payment terms: {mode}",
    b2b_interest=(
        "Late interest: ECB rate {ecb} % + {margin} points = {rate} % a year"
        " (L441-10 Code de commerce)"
    ),
    indemnity="Recovery indemnity: {amount} per invoice (D441-5)",
    consumer_interest="Late interest (consumer): {rate} % a year",
    no_interest="Consumer customer: no late interest, no recovery indemnity",
    chronology="Chronology",
    messages="Messages as sent",
    no_message="No message was sent for this invoice.",
    not_sent="not sent",
    to="to",
    subject="subject",
    provider_id="provider id",
    letters="Letters and proof of dispatch",
    no_letter="No letter was made for this invoice.",
    posted="posted on {day}, tracking number {tracking}",
    not_posted="no posting recorded",
    made="{filename} — made {at}: {posted}",
    amount="amount",
    by="by",
    statuses={s: s.value for s in InvoiceStatus},
    kinds={},  # English keeps the entry's own title
    details={
        "recipient": "to",
        "subject": "subject",
        "provider_message_id": "provider id",
        "state": "state",
        "reason": "reason",
        "filename": "file",
        "posted_on": "posted on",
        "tracking": "tracking number",
        "source": "source",
        "external_id": "reference",
        "event_id": "delivery id",
        "outcome": "outcome",
        "sg_event_id": "provider event id",
    },
    terms_modes={
        TermsMode.NET: "{days} days from the issue date",
        TermsMode.EOM_THEN_DAYS: "{days} days after the end of the issue month",
        TermsMode.DAYS_THEN_EOM: "{days} days from the issue date, then the end of that month",
    },
)

FR = DossierWords(
    language="fr",
    title="Dossier de preuves — facture {number}",
    made_on="{shop} — établi le {day}",
    invoice="Facture",
    number="Numéro",
    issued_on="Émise le",
    due_on="Échéance",
    total="Montant total",
    paid="Payé",
    still_due="Reste dû",
    status="Statut",
    payment_link="Lien de paiement",
    creditor="Créancier",
    name="Nom",
    legal_form="Forme juridique",
    siren="SIREN / RCS",
    registered_office="Siège social",
    customer="Client",
    erased="(effacé)",
    company="Société",
    email="E-mail",
    postal_address="Adresse postale",
    kind="Type",
    business="professionnel (B2B)",
    consumer="particulier",
    terms="Conditions",
    payment_terms="Conditions de paiement : {mode}",
    b2b_interest=(
        "Pénalités de retard : taux BCE {ecb} % + {margin} points = {rate} % l'an"
        " (art. L441-10 du Code de commerce)"
    ),
    indemnity="Indemnité forfaitaire pour frais de recouvrement : {amount} par facture (D441-5)",
    consumer_interest="Intérêts de retard (particulier) : {rate} % l'an",
    no_interest="Client particulier : ni pénalités de retard, ni indemnité forfaitaire",
    chronology="Chronologie",
    messages="Messages tels qu'envoyés",
    no_message="Aucun message n'a été envoyé pour cette facture.",
    not_sent="non envoyé",
    to="à",
    subject="objet",
    provider_id="identifiant du prestataire",
    letters="Courriers et preuves d'envoi",
    no_letter="Aucun courrier n'a été établi pour cette facture.",
    posted="posté le {day}, numéro de suivi {tracking}",
    not_posted="aucun envoi enregistré",
    made="{filename} — établi le {at} : {posted}",
    amount="montant",
    by="par",
    statuses={
        InvoiceStatus.OPEN: "impayée",
        InvoiceStatus.PAID: "payée",
        InvoiceStatus.PARTIALLY_PAID: "partiellement payée",
        InvoiceStatus.VOID: "annulée",
        InvoiceStatus.UNCOLLECTIBLE: "irrécouvrable",
        InvoiceStatus.REFUNDED: "remboursée",
        InvoiceStatus.DISPUTED: "contestée",
    },
    kinds={
        TimelineKind.MESSAGE: "Message au client",
        TimelineKind.LETTER: "Courrier",
        TimelineKind.DELIVERY: "Rapport de remise",
        TimelineKind.PAYMENT: "Paiement reçu",
        TimelineKind.WEBHOOK: "Notification de la plateforme",
        TimelineKind.STATUS: "Changement de statut",
        TimelineKind.SYNC: "Facture enregistrée",
        TimelineKind.SKIPPED: "Étape non envoyée",
        TimelineKind.CANCELLED: "Étape annulée",
        TimelineKind.PAUSE: "Relances suspendues",
        TimelineKind.RESUME: "Relances reprises",
        TimelineKind.DISPUTE: "Litige",
        TimelineKind.PLAN: "Échéancier",
        TimelineKind.HANDOFF: "Confié à une personne",
        TimelineKind.NOTE: "Note",
        TimelineKind.ACTION: "Action du commerçant",
    },
    details={
        "recipient": "destinataire",
        "subject": "objet",
        "provider_message_id": "identifiant du prestataire",
        "state": "état",
        "reason": "motif",
        "filename": "fichier",
        "posted_on": "posté le",
        "tracking": "numéro de suivi",
        "source": "source",
        "external_id": "référence",
        "event_id": "identifiant de remise",
        "outcome": "résultat",
        "sg_event_id": "identifiant d'événement du prestataire",
    },
    instant="{day} à {time} ({zone})",
    terms_modes={
        TermsMode.NET: "{days} jours à compter de la date d'émission",
        TermsMode.EOM_THEN_DAYS: "{days} jours après la fin du mois d'émission",
        TermsMode.DAYS_THEN_EOM: "{days} jours fin de mois à compter de la date d'émission",
    },
)

CATALOGUE: dict[str, DossierWords] = {"en": EN, "fr": FR}


def words(locale: str | None) -> DossierWords:
    """The shop's language, English when the catalogue has none for it."""
    return CATALOGUE.get(language_of(locale), EN)
