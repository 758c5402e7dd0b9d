"""What a reminder template sees. Values are already formatted for the message's locale.

The runner builds these from the store; templates never touch the database or do arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ShopView:
    name: str
    contact_email: str  # the human contact offered in every message
    contact_phone: str | None
    legal_name: str | None  # for letters
    legal_address: str | None  # for letters, may contain newlines
    legal_id: str | None  # SIREN/SIRET/VAT, for letters
    payment_instructions: str | None  # e.g. bank details when there is no payment link
    # The person named in every message; None: the messages name the shop instead.
    contact_name: str | None = None
    signatory_name: str | None = None  # who signs the letters
    signatory_role: str | None = None
    # Cite "our terms and conditions" only when the owner confirmed the shop has them.
    has_terms_and_conditions: bool = False
    consumer_mediator: str | None = None  # L616-1 Code de la consommation, consumers only
    # The contractual late-payment rate for consumers, formatted ("8 %"); None: the legal rate.
    consumer_rate: str | None = None
    # The creditor's identification in every email's footer (R123-237 Code de commerce).
    legal_form: str | None = None
    siren: str | None = None
    rcs: str | None = None
    registered_office: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerView:
    name: str  # greeting name; falls back to the email's local part
    email: str
    company: str | None
    is_b2b: bool
    postal_address: str | None = None  # for letters
    # A company (or a business known by no person's name): greeted « Madame, Monsieur, ».
    is_company: bool = False


@dataclass(frozen=True, slots=True)
class InterestLineView:
    """One half-year of late interest, as the message prints it: basis, period, days, amount."""

    ecb_rate: str | None  # e.g. "2,15 %" (B2B: the half-year's ECB rate); None: a flat rate
    margin_points: str | None  # e.g. "10" (B2B)
    rate: str  # the annual rate applied, e.g. "12,15 %"
    first_day: str  # "2" / "2 mai" / "2 mai 2026": the start as « du … » writes it
    last_day: str  # "8 juin 2026"
    days: int
    amount: str  # formatted money


@dataclass(frozen=True, slots=True)
class InstalmentView:
    """The instalment of a payment plan a reminder is about: the next unpaid one, which the
    sequence counts from. The message asks for it, not for the whole invoice."""

    position: int  # 2 (of ``count``)
    count: int
    amount: str  # what is left to pay on it, formatted
    due_on: str  # its due day, formatted
    days_late: int  # 0 when not yet due
    balance: str  # what is still due on the whole invoice, formatted


@dataclass(frozen=True, slots=True)
class InvoiceView:
    number: str
    amount_due: str  # formatted, e.g. "1 234,50 €"
    total: str
    issued_on: str  # formatted date
    due_on: str  # formatted date
    days_late: int  # 0 when not yet due (negative never shown)
    payment_url: str | None
    # Penalties: None unless the step shows them. Consumers never get an indemnity.
    interest: str | None = None  # late interest accrued to today
    interest_rate: str | None = None  # e.g. "12,15 %"
    indemnity: str | None = None  # the 40 EUR fixed recovery indemnity (B2B only)
    total_with_penalties: str | None = None
    # How ``interest`` is made (one line per half-year) and the day it is computed to.
    interest_lines: tuple[InterestLineView, ...] = ()
    interest_as_of: str | None = None  # "8 juin 2026"
    # This invoice's history: the shop-local dates of its reminders really sent, oldest first.
    reminded_on: tuple[str, ...] = ()
    # Under a payment plan: the instalment this reminder asks for; None: the whole invoice.
    instalment: InstalmentView | None = None


@dataclass(frozen=True, slots=True)
class ReminderContext:
    step: str  # courtesy | reminder_1 | reminder_2 | reminder_3 | final_warning | formal_notice
    tone: str
    locale: str  # "fr" | "en"
    today: str  # formatted date
    shop: ShopView
    customer: CustomerView
    invoices: tuple[InvoiceView, ...]  # one or more (consolidated message)
    new_deadline: str | None = None  # e.g. +5 days (second reminder), +8 days (formal notice)
    new_deadline_days: int | None = None  # the step row's number of days behind new_deadline
    total_due: str = ""  # sum over invoices, formatted
    # What the message may say about the past: the shop-local dates (formatted, oldest first)
    # of reminders really sent for every invoice of the message. Empty: nothing to cite.
    earlier_reminders: tuple[str, ...] = ()
    # From the step row: whether penalties are shown; whether the message asks for payment.
    show_penalties: bool = False
    asks_payment: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    # The owner's templates for this message's step ((name, source) pairs; empty: shipped).
    templates: tuple[tuple[str, str], ...] = ()

    @property
    def invoice_numbers(self) -> str:
        return ", ".join(inv.number for inv in self.invoices)
