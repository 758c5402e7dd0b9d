"""What the timeline says, per language: one table of sentences per language, keyed by code.

The timeline's own titles are built from a code and its values (``say``). The engine and the
owner's actions store English sentences (a reminder's reason, the engine log's summary, an
action's title); ``translate`` reads one back into its code and values — the English table
is the pattern — and says it in the shop's language, rows written before this table existed
included. A sentence no code matches (a mail provider's error, the owner's own words) is
kept as written: it is the record.

Values inside a sentence are words too when they are codes (an invoice status, a payment
source, a reminder state): ``VALUES`` says them per language; a reason inside a sentence is
translated in turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum

from connector.domain.dates import long_date, redate


class Phrase(StrEnum):
    # Built by the timeline (connector.actions.timeline)
    REMINDER_CLAIMED = "reminder.claimed"
    REMINDER_SENDING = "reminder.sending"
    REMINDER_SENT = "reminder.sent"
    REMINDER_FAILED = "reminder.failed"
    REMINDER_UNKNOWN = "reminder.unknown"
    REMINDER_SKIPPED = "reminder.skipped"
    REMINDER_CANCELLED = "reminder.cancelled"
    REMINDER_HANDED_OFF = "reminder.handed_off"
    LETTER_MADE = "letter.made"
    LETTER_MADE_UNPOSTED = "letter.made_unposted"
    LETTER_POSTED = "letter.posted"
    LETTER_POSTED_TRACKED = "letter.posted_tracked"
    LETTER_READY = "letter.ready"
    THANK_YOU = "thank_you"
    THANK_YOU_TO = "thank_you.to"
    PAYMENT_RECEIVED = "payment.received"
    WEBHOOK = "webhook"
    DELIVERED = "delivered"
    NO_REASON = "no_reason"
    # Reasons the engine stores on a reminder (why it did not go out)
    NO_LONGER_OWED = "reason.no_longer_owed"
    CUSTOMER_ERASED = "reason.customer_erased"
    CUSTOMER_EXCLUDED = "reason.customer_excluded"
    PAUSED_AS = "reason.paused_as"
    HANDED_TO_A_PERSON = "reason.handed_to_a_person"
    EMAIL_BLOCKED = "reason.email_blocked"
    CONNECTION_UNUSABLE = "reason.connection_unusable"
    NO_LETTER_MADE = "reason.no_letter_made"
    TASK_STEP = "reason.task_step"
    NO_TRANSPORT = "reason.no_transport"
    PASSED_OVER = "reason.passed_over"
    SUPERSEDED = "reason.superseded"
    PAST_WHEN_IMPORTED = "reason.past_when_imported"
    NO_WAY_TO_PAY = "reason.no_way_to_pay"
    PAUSED_BY_OWNER = "reason.paused_by_owner"
    DISPUTED = "reason.disputed"
    INVOICE_EXCLUDED = "reason.invoice_excluded"
    PLAN_AGREED = "reason.plan_agreed"
    INVOICE_NOW = "reason.invoice_now"
    DISPUTE_OPENED = "reason.dispute_opened"
    CONNECTION_REMOVED = "reason.connection_removed"
    PLAN_ENDED = "reason.plan_ended"
    # The planner's decisions (skips, hand-offs, prescription)
    TIME_BARRED = "plan.time_barred"
    SEQUENCE_FINISHED = "plan.sequence_finished"
    NO_TIME_LEFT = "plan.no_time_left"
    NEXT_STEP_ON = "plan.next_step_on"
    SENT_WITHOUT_PAYMENT = "plan.sent_without_payment"
    ABOVE_THRESHOLD = "plan.above_threshold"
    EMAIL_BOUNCED = "plan.email_bounced"
    OUTSIDE_WINDOW = "plan.outside_window"
    ALREADY_TODAY = "plan.already_today"
    DUE_SINCE = "plan.due_since"
    # The engine log's summaries
    FIRST_SEEN = "log.first_seen"
    STATUS_CHANGE = "log.status_change"
    PENDING_CANCELLED = "log.pending_cancelled"
    STEP_CANCELLED = "log.step_cancelled"
    STEP_OUTCOME = "log.step_outcome"
    CONNECTION_PAUSED = "log.connection_paused"
    CONNECTION_RESUMED = "log.connection_resumed"
    EMAIL_FIXED = "log.email_fixed"
    DISPUTE_OPENED_ON = "log.dispute_opened_on"
    MAIL_OPENED = "log.mail_opened"
    LINK_CLICKED = "log.link_clicked"
    MAIL_REFUSED = "log.mail_refused"
    STATEMENT_SENT = "log.statement_sent"
    # The owner's actions' titles (connector.actions.invoices, send_now)
    PAYMENT_RECORDED = "owner.payment_recorded"
    PAYMENT_RECORDED_PART = "owner.payment_recorded_part"
    PAYMENT_RECORDED_STEP = "owner.payment_recorded_step"
    PAUSED_UNTIL = "owner.paused_until"
    RESUMED_FROM = "owner.resumed_from"
    RESUMED_FROM_WHY = "owner.resumed_from_why"
    EXCLUDED = "owner.excluded"
    EXCLUDED_WHY = "owner.excluded_why"
    INCLUDED = "owner.included"
    CUSTOMER_EXCLUDED_BY = "owner.customer_excluded"
    CUSTOMER_INCLUDED_BY = "owner.customer_included"
    WRITTEN_OFF = "owner.written_off"
    PLAN = "owner.plan"
    PLAN_CANCELLED = "owner.plan_cancelled"
    PLAN_CANCELLED_WHY = "owner.plan_cancelled_why"
    SENT_NOW = "owner.sent_now"
    SENT_NOW_OVERRIDE = "owner.sent_now_override"
    # The engine's tasks' titles (connector.dunning.deliver): a step named in them
    TASK_YOURS = "task.yours"
    TASK_NO_TRANSPORT = "task.no_transport"
    TASK_LETTER = "task.letter"
    TASK_ESCALATION = "task.escalation"


EN: dict[Phrase, str] = {
    Phrase.REMINDER_CLAIMED: "{step} being prepared",
    Phrase.REMINDER_SENDING: "{step} being sent",
    Phrase.REMINDER_SENT: "{step} sent to {to}",
    Phrase.REMINDER_FAILED: "{step} failed: {reason}",
    Phrase.REMINDER_UNKNOWN: "{step}: outcome unknown, never resent ({reason})",
    Phrase.REMINDER_SKIPPED: "{step} skipped: {reason}",
    Phrase.REMINDER_CANCELLED: "{step} cancelled: {reason}",
    Phrase.REMINDER_HANDED_OFF: "{step} handed to a person",
    Phrase.LETTER_MADE: "{step} letter made",
    Phrase.LETTER_MADE_UNPOSTED: "{step} letter made, not posted",
    Phrase.LETTER_POSTED: "letter posted on {day}",
    Phrase.LETTER_POSTED_TRACKED: "letter posted on {day}, tracking {tracking}",
    Phrase.LETTER_READY: "letter ready to post: {filename}",
    Phrase.THANK_YOU: "thank-you {state}",
    Phrase.THANK_YOU_TO: "thank-you {state} to {to}",
    Phrase.PAYMENT_RECEIVED: "payment received ({source})",
    Phrase.WEBHOOK: "{platform} webhook {topic}: {outcome}",
    Phrase.DELIVERED: "delivered to {to}",
    Phrase.NO_REASON: "no reason recorded",
    Phrase.NO_LONGER_OWED: "no longer owed ({status})",
    Phrase.CUSTOMER_ERASED: "customer erased",
    Phrase.CUSTOMER_EXCLUDED: "customer excluded",
    Phrase.PAUSED_AS: "paused ({pause})",
    Phrase.HANDED_TO_A_PERSON: "handed to a person",
    Phrase.EMAIL_BLOCKED: "email address blocked",
    Phrase.CONNECTION_UNUSABLE: "not sent: its platform connection cannot be used ({error})",
    Phrase.NO_LETTER_MADE: "Invoice {number}: no letter made — {missing}",
    Phrase.TASK_STEP: "task step: handed to a person, nothing sent automatically",
    Phrase.NO_TRANSPORT: "step '{step}': channel '{channel}' has no transport; nothing was sent",
    Phrase.PASSED_OVER: "passed over: {step} sent at the owner's request",
    Phrase.SUPERSEDED: "passed while nothing could go out; superseded by {step}",
    Phrase.PAST_WHEN_IMPORTED: "already past when the invoice was imported; superseded by {step}",
    Phrase.NO_WAY_TO_PAY: "no way to pay: no payment link and no payment instructions",
    Phrase.PAUSED_BY_OWNER: "paused: {why}",
    Phrase.DISPUTED: "disputed: {why}",
    Phrase.INVOICE_EXCLUDED: "invoice excluded",
    Phrase.PLAN_AGREED: "payment plan agreed",
    Phrase.INVOICE_NOW: "invoice {status}",
    Phrase.DISPUTE_OPENED: "dispute opened",
    Phrase.CONNECTION_REMOVED: "connection removed",
    Phrase.PLAN_ENDED: "payment plan cancelled",
    Phrase.TIME_BARRED: "prescribed: the claim is time-barred",
    Phrase.SEQUENCE_FINISHED: "sequence finished without payment",
    Phrase.NO_TIME_LEFT: "no allowed sending time left before the due date {day}",
    Phrase.NEXT_STEP_ON: "next step {step} on {day}",
    Phrase.SENT_WITHOUT_PAYMENT: "{n} reminders sent without payment",
    Phrase.ABOVE_THRESHOLD: "amount above the hand-off threshold",
    Phrase.EMAIL_BOUNCED: "the customer's email address bounced",
    Phrase.OUTSIDE_WINDOW: "outside window",
    Phrase.ALREADY_TODAY: "customer already received a message today",
    Phrase.DUE_SINCE: "{step} due since {day}",
    Phrase.FIRST_SEEN: "{seen} from {platform}",
    Phrase.STATUS_CHANGE: "{old} → {new} ({source})",
    Phrase.PENDING_CANCELLED: "{n} pending: {reason}",
    Phrase.STEP_CANCELLED: "{step}: {reason}",
    Phrase.STEP_OUTCOME: "{step} {state} to {to}",
    Phrase.CONNECTION_PAUSED: "{platform} connection {n} {pause}: reminders paused",
    Phrase.CONNECTION_RESUMED: "{platform} connection {n} reconnected: reminders resume",
    Phrase.EMAIL_FIXED: "email address fixed by {actor}: {address}",
    Phrase.DISPUTE_OPENED_ON: "dispute opened on {platform}",
    Phrase.MAIL_OPENED: "{what} opened",
    Phrase.LINK_CLICKED: "link clicked",
    Phrase.MAIL_REFUSED: "{event}: {detail}",
    Phrase.STATEMENT_SENT: (
        "statement of account {state} to {to} by {actor} ({n} open invoices, {amount})"
    ),
    Phrase.PAYMENT_RECORDED: "{amount} received by {source}",
    Phrase.PAYMENT_RECORDED_PART: "{amount} received by {source}; {left} still due",
    Phrase.PAYMENT_RECORDED_STEP: (
        "{amount} received by {source}; planned {name} of {day} cancelled"
    ),
    Phrase.PAUSED_UNTIL: "paused until {day}: {why}",
    Phrase.RESUMED_FROM: "resumed ({pause})",
    Phrase.RESUMED_FROM_WHY: "resumed ({pause}): {why}",
    Phrase.EXCLUDED: "excluded from reminders",
    Phrase.EXCLUDED_WHY: "excluded from reminders: {why}",
    Phrase.INCLUDED: "included in reminders again",
    Phrase.CUSTOMER_EXCLUDED_BY: "customer {who} excluded",
    Phrase.CUSTOMER_INCLUDED_BY: "customer {who} included again",
    Phrase.WRITTEN_OFF: "written off: {amount}",
    Phrase.PLAN: "payment plan in {n} instalments: {days}",
    Phrase.PLAN_CANCELLED: (
        "payment plan cancelled ({unpaid} of {n} instalments unpaid): back to the sequence"
    ),
    Phrase.PLAN_CANCELLED_WHY: (
        "payment plan cancelled ({unpaid} of {n} instalments unpaid): back to the sequence ({why})"
    ),
    Phrase.SENT_NOW: "{name} sent now at the owner's request",
    Phrase.SENT_NOW_OVERRIDE: (
        "{name} sent now at the owner's request (outside the sending window, overridden)"
    ),
    Phrase.TASK_YOURS: "Invoice {number}: {name} is yours to do (contact {to})",
    Phrase.TASK_NO_TRANSPORT: "Invoice {number}: {step} could not go out — change its channel",
    Phrase.TASK_LETTER: "Letter to post: {name} for invoice {number}",
    Phrase.TASK_ESCALATION: "Invoice {number}: {name} sent, over to you",
}

FR: dict[Phrase, str] = {
    Phrase.REMINDER_CLAIMED: "{step} en préparation",
    Phrase.REMINDER_SENDING: "{step} en cours d'envoi",
    Phrase.REMINDER_SENT: "{step} envoyé à {to}",
    Phrase.REMINDER_FAILED: "{step} en échec : {reason}",
    Phrase.REMINDER_UNKNOWN: "{step} : issue inconnue, jamais renvoyé ({reason})",
    Phrase.REMINDER_SKIPPED: "{step} non envoyé : {reason}",
    Phrase.REMINDER_CANCELLED: "{step} annulé : {reason}",
    Phrase.REMINDER_HANDED_OFF: "{step} confié à une personne",
    Phrase.LETTER_MADE: "courrier établi : {step}",
    Phrase.LETTER_MADE_UNPOSTED: "courrier établi, non posté : {step}",
    Phrase.LETTER_POSTED: "courrier posté le {day}",
    Phrase.LETTER_POSTED_TRACKED: "courrier posté le {day}, numéro de suivi {tracking}",
    Phrase.LETTER_READY: "courrier prêt à poster : {filename}",
    Phrase.THANK_YOU: "remerciement {state}",
    Phrase.THANK_YOU_TO: "remerciement {state} à {to}",
    Phrase.PAYMENT_RECEIVED: "paiement reçu ({source})",
    Phrase.WEBHOOK: "notification {platform} {topic} : {outcome}",
    Phrase.DELIVERED: "remis à {to}",
    Phrase.NO_REASON: "aucun motif enregistré",
    Phrase.NO_LONGER_OWED: "n'est plus due ({status})",
    Phrase.CUSTOMER_ERASED: "client effacé",
    Phrase.CUSTOMER_EXCLUDED: "client exclu des relances",
    Phrase.PAUSED_AS: "relances suspendues ({pause})",
    Phrase.HANDED_TO_A_PERSON: "confié à une personne",
    Phrase.EMAIL_BLOCKED: "adresse e-mail bloquée",
    Phrase.CONNECTION_UNUSABLE: (
        "non envoyé : la connexion à la plateforme est inutilisable ({error})"
    ),
    Phrase.NO_LETTER_MADE: "Facture {number} : aucun courrier établi — {missing}",
    Phrase.TASK_STEP: "étape manuelle : confiée à une personne, rien n'est envoyé automatiquement",
    Phrase.NO_TRANSPORT: (
        "étape « {step} » : aucun moyen d'envoi pour le canal « {channel} » ; rien n'a été envoyé"
    ),
    Phrase.PASSED_OVER: "sautée : {step} envoyé à la demande du commerçant",
    Phrase.SUPERSEDED: "échue pendant que rien ne pouvait partir ; remplacée par {step}",
    Phrase.PAST_WHEN_IMPORTED: "déjà passée à l'import de la facture ; remplacée par {step}",
    Phrase.NO_WAY_TO_PAY: (
        "aucun moyen de payer : ni lien de paiement, ni instructions de paiement"
    ),
    Phrase.PAUSED_BY_OWNER: "relances suspendues : {why}",
    Phrase.DISPUTED: "contestée : {why}",
    Phrase.INVOICE_EXCLUDED: "facture exclue des relances",
    Phrase.PLAN_AGREED: "échéancier accordé",
    Phrase.INVOICE_NOW: "facture {status}",
    Phrase.DISPUTE_OPENED: "litige ouvert",
    Phrase.CONNECTION_REMOVED: "connexion supprimée",
    Phrase.PLAN_ENDED: "échéancier annulé",
    Phrase.TIME_BARRED: "prescrite : la créance est prescrite",
    Phrase.SEQUENCE_FINISHED: "séquence terminée sans paiement",
    Phrase.NO_TIME_LEFT: "plus aucun créneau d'envoi autorisé avant l'échéance du {day}",
    Phrase.NEXT_STEP_ON: "prochaine étape : {step}, le {day}",
    Phrase.SENT_WITHOUT_PAYMENT: "{n} relances envoyées sans paiement",
    Phrase.ABOVE_THRESHOLD: "montant au-dessus du seuil de transmission à une personne",
    Phrase.EMAIL_BOUNCED: "l'adresse e-mail du client a été rejetée",
    Phrase.OUTSIDE_WINDOW: "hors des heures d'envoi",
    Phrase.ALREADY_TODAY: "le client a déjà reçu un message aujourd'hui",
    Phrase.DUE_SINCE: "{step} à envoyer depuis le {day}",
    Phrase.FIRST_SEEN: "facture {seen} depuis {platform}",
    Phrase.STATUS_CHANGE: "statut passé de « {old} » à « {new} » ({source})",
    Phrase.PENDING_CANCELLED: "{n} en attente annulée(s) : {reason}",
    Phrase.STEP_CANCELLED: "{step} : {reason}",
    Phrase.STEP_OUTCOME: "{step} {state} à {to}",
    Phrase.CONNECTION_PAUSED: "connexion {platform} {n} {pause} : relances suspendues",
    Phrase.CONNECTION_RESUMED: "connexion {platform} {n} rétablie : les relances reprennent",
    Phrase.EMAIL_FIXED: "adresse e-mail corrigée par {actor} : {address}",
    Phrase.DISPUTE_OPENED_ON: "litige ouvert sur {platform}",
    Phrase.MAIL_OPENED: "{what} ouvert",
    Phrase.LINK_CLICKED: "lien cliqué",
    Phrase.MAIL_REFUSED: "{event} : {detail}",
    Phrase.STATEMENT_SENT: (
        "relevé de compte {state} à {to} par {actor} ({n} factures ouvertes, {amount})"
    ),
    Phrase.PAYMENT_RECORDED: "{amount} reçu par {source}",
    Phrase.PAYMENT_RECORDED_PART: "{amount} reçu par {source} ; reste dû {left}",
    Phrase.PAYMENT_RECORDED_STEP: "{amount} reçu par {source} ; {name} prévu le {day} annulé",
    Phrase.PAUSED_UNTIL: "relances suspendues jusqu'au {day} : {why}",
    Phrase.RESUMED_FROM: "relances reprises ({pause})",
    Phrase.RESUMED_FROM_WHY: "relances reprises ({pause}) : {why}",
    Phrase.EXCLUDED: "exclue des relances",
    Phrase.EXCLUDED_WHY: "exclue des relances : {why}",
    Phrase.INCLUDED: "de nouveau incluse dans les relances",
    Phrase.CUSTOMER_EXCLUDED_BY: "client {who} exclu des relances",
    Phrase.CUSTOMER_INCLUDED_BY: "client {who} de nouveau inclus dans les relances",
    Phrase.WRITTEN_OFF: "passée en perte : {amount}",
    Phrase.PLAN: "échéancier en {n} versements : {days}",
    Phrase.PLAN_CANCELLED: (
        "échéancier annulé (versements impayés : {unpaid} sur {n}) :"
        " retour à la séquence de relances"
    ),
    Phrase.PLAN_CANCELLED_WHY: (
        "échéancier annulé (versements impayés : {unpaid} sur {n}) :"
        " retour à la séquence de relances ({why})"
    ),
    Phrase.SENT_NOW: "{name} envoyé immédiatement à la demande du commerçant",
    Phrase.SENT_NOW_OVERRIDE: (
        "{name} envoyé immédiatement à la demande du commerçant"
        " (hors des heures d'envoi, sur décision expresse)"
    ),
    Phrase.TASK_YOURS: "Facture {number} : {name} à faire par vous (contact {to})",
    Phrase.TASK_NO_TRANSPORT: (
        "Facture {number} : {step} n'a pas pu partir — changez son canal d'envoi"
    ),
    Phrase.TASK_LETTER: "Courrier à poster : {name}, facture {number}",
    Phrase.TASK_ESCALATION: "Facture {number} : {name} envoyé, à vous de prendre le relais",
}

PHRASES: dict[str, dict[Phrase, str]] = {"en": EN, "fr": FR}


class Value(StrEnum):
    """The kinds of codes a sentence carries as values."""

    STATUS = "status"  # an invoice status
    SOURCE = "source"  # where a payment or a status change came from
    STATE = "state"  # a reminder's or a message's state
    OUTCOME = "outcome"  # what became of a platform delivery
    PAUSE = "pause"  # why reminders are paused
    WHAT = "what"  # which kind of email
    EVENT = "event"  # what the mail provider reported
    SEEN = "seen"  # how the invoice came in
    STEP = "step"  # a step of the shipped sequence, by its key (the owner's own keys are names)
    PLATFORM = "platform"  # where an invoice comes from, by its code ("shopify", "csv")


FR_VALUES: dict[Value, dict[str, str]] = {
    Value.STATUS: {
        "open": "impayée",
        "paid": "payée",
        "partially_paid": "partiellement payée",
        "void": "annulée",
        "uncollectible": "irrécouvrable",
        "refunded": "remboursée",
        "disputed": "contestée",
    },
    Value.SOURCE: {
        "webhook": "notification de la plateforme",
        "sync": "synchronisation",
        "manual": "saisie du commerçant",
        "bank transfer": "virement",
        "bank_transfer": "virement",
        "cheque": "chèque",
        "cash": "espèces",
        "import": "import",
        "owner": "commerçant",
    },
    Value.STATE: {
        "pending": "en attente",
        "claimed": "en préparation",
        "sending": "en cours d'envoi",
        "sent": "envoyé",
        "failed": "en échec",
        "unknown": "issue inconnue",
        "cancelled": "annulé",
        "skipped": "non envoyé",
        "handed_off": "confié à une personne",
        "letter_made": "courrier établi, non posté",
        "letter_posted": "courrier posté",
    },
    Value.OUTCOME: {
        "pending": "en attente",
        "applied": "appliquée",
        "ignored": "ignorée",
        "failed": "en échec",
    },
    Value.PAUSE: {
        "manual": "à la main",
        "dispute": "litige",
        "excluded": "exclue",
        "payment_plan": "échéancier",
        "connection removed": "connexion supprimée",
        "removed": "supprimée",
    },
    Value.WHAT: {"reminder": "relance", "thank-you": "remerciement"},
    Value.EVENT: {"bounce": "rejet", "dropped": "non remis"},
    Value.SEEN: {"synced": "synchronisée", "imported": "importée"},
    # The shipped steps as a French sequence names them (masculine nouns: the sentences agree
    # with them — "premier rappel envoyé à …"); a step the owner added keeps the key they gave.
    Value.STEP: {
        "courtesy": "rappel de courtoisie",
        "reminder_1": "premier rappel",
        "reminder_2": "deuxième rappel",
        "reminder_3": "troisième rappel",
        "final_warning": "dernier avis avant mise en demeure",
        "formal_notice": "courrier de mise en demeure",
        "thank_you": "message de remerciement",
    },
}

PLATFORMS: dict[str, str] = {
    "shopify": "Shopify",
    "woocommerce": "WooCommerce",
    "stripe": "Stripe",
    "csv": "CSV",
}
"""Platform names as their makers write them, in every language (codes are lower case)."""

FR_VALUES[Value.PLATFORM] = PLATFORMS

EN_VALUES: dict[Value, dict[str, str]] = {
    Value.PLATFORM: PLATFORMS,
    # The shipped steps as the design names them; a step the owner added keeps its key.
    Value.STEP: {
        "courtesy": "courtesy reminder",
        "reminder_1": "first reminder",
        "reminder_2": "second reminder",
        "reminder_3": "third reminder",
        "final_warning": "final warning",
        "formal_notice": "formal notice",
        "thank_you": "thank-you message",
    },
    # A letter's reminder is "sent" once the letter is made; what it says depends on the
    # posting (connector.actions.timeline.shown_state): never "sent" before it is posted.
    Value.STATE: {"letter_made": "letter made, not posted", "letter_posted": "letter posted"},
}

VALUES: dict[str, dict[Value, dict[str, str]]] = {"en": EN_VALUES, "fr": FR_VALUES}

_VALUE_OF: dict[str, Value] = {
    "status": Value.STATUS,
    "old": Value.STATUS,
    "new": Value.STATUS,
    "source": Value.SOURCE,
    "state": Value.STATE,
    "outcome": Value.OUTCOME,
    "pause": Value.PAUSE,
    "what": Value.WHAT,
    "event": Value.EVENT,
    "seen": Value.SEEN,
    "step": Value.STEP,
    "name": Value.STEP,
    "platform": Value.PLATFORM,
}
"""Which placeholders hold codes (the others are names, dates, amounts: said as they are)."""

_DAYS = frozenset({"day", "days"})
"""Placeholders holding dates as a sentence was stored with them: said as the language writes
a date (a French shop's older rows wrote "1er juin 2026" inside an English sentence)."""

_NESTED = frozenset({"reason"})
"""Placeholders holding a sentence of their own (a reason inside a title)."""

_STEP_KEY_OF: dict[str, str] = {name: key for key, name in EN_VALUES[Value.STEP].items()}
"""A shipped step's English name back to its key: English sentences say a step by its name."""

_STEP_SHAPE = "(?:" + "|".join(map(re.escape, _STEP_KEY_OF)) + r"|[\w-]+)"

_SHAPES: dict[str, str] = {
    "step": _STEP_SHAPE,
    "n": r"\d+",
    "status": r"[\w ]+",
    "old": r"[\w ]+",
    "new": r"[\w ]+",
    "platform": r"\w+",
    "seen": r"synced|imported",
    "what": r"reminder|thank-you",
    "event": r"bounce|dropped",
    "state": r"[\w]+",
}
_FIELD = re.compile(r"\{(\w+)\}")


def _pattern(template: str) -> re.Pattern[str]:
    parts, at = [], 0
    for m in _FIELD.finditer(template):
        parts.append(re.escape(template[at : m.start()]))
        parts.append(f"(?P<{m.group(1)}>{_SHAPES.get(m.group(1), '.+?')})")
        at = m.end()
    parts.append(re.escape(template[at:]))
    return re.compile("".join(parts), re.DOTALL)


_CLOSED = frozenset({"seen", "what", "event"})
"""Fields with a closed list of values."""


def _precedence(code: Phrase) -> tuple[int, int]:
    """The most words fixed first, then the most fields with a closed list of values."""
    template = EN[code]
    closed = sum(f in _CLOSED for f in _FIELD.findall(template))
    return -len(_FIELD.sub("", template)), -closed


_PATTERNS: list[tuple[Phrase, re.Pattern[str]]] = [
    (code, _pattern(EN[code])) for code in sorted(EN, key=_precedence)
]


def language(locale: str | None) -> str:
    """The table for this locale ("fr_FR" → "fr"); English when there is none."""
    lang = (locale or "en").replace("-", "_").split("_")[0].lower()
    return lang if lang in PHRASES else "en"


def parse(text: str) -> tuple[Phrase, dict[str, str]] | None:
    """A stored English sentence as its code and values; None when no code says it."""
    for code, pattern in _PATTERNS:
        m = pattern.fullmatch(text)
        if m is not None:
            values = m.groupdict()
            for name in ("step", "name"):
                if name in values:
                    values[name] = _STEP_KEY_OF.get(values[name], values[name])
            return code, values
    return None


def say(code: Phrase, values: Mapping[str, object], locale: str | None = "en") -> str:
    """The sentence of ``code`` in the locale's language, its coded values in words too."""
    lang = language(locale)
    words = VALUES[lang]
    said: dict[str, str] = {}
    for name, value in values.items():
        text = long_date(value, lang) if isinstance(value, date) else str(value)
        kind = _VALUE_OF.get(name)
        if name in _NESTED:
            text = translate(text, lang)
        elif name in _DAYS:
            text = redate(text, lang)
        elif kind is Value.STEP:
            text = step_name(text, lang)
        elif kind is not None:
            text = words.get(kind, {}).get(text, text)
        said[name] = text
    return PHRASES[lang][code].format(**said)


def translate(text: str | None, locale: str | None) -> str:
    """A sentence as stored (English), said in the locale's language; as written when no code
    matches it (a provider's error, the owner's own words)."""
    if not text:
        return ""
    found = parse(text)
    if found is None:
        return text
    return say(found[0], found[1], locale)


def value(kind: Value, code: str, locale: str | None) -> str:
    """One coded value in words (a state, a source…), as it is when the table has no word."""
    return VALUES[language(locale)].get(kind, {}).get(code, code)


def step_name(key: str, locale: str | None) -> str:
    """A step as people read it: a shipped step by its name in the locale's language ("first
    reminder", "premier rappel"), an owner's step by the key they gave it. Older sentences
    wrote a key with spaces ("reminder 1"): it is the same step."""
    names = VALUES[language(locale)][Value.STEP]
    return names.get(key) or names.get(key.replace(" ", "_"), key)
