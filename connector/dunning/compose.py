"""Build what a template sees (ReminderContext) from the store: formatting happens here, once."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from connector.domain.dates import date_span, language_of, local_date, long_date
from connector.domain.identity import format_siren
from connector.domain.money import Money
from connector.domain.penalties import EcbRateFor, InterestLine, PenaltyPolicy, compute_penalties
from connector.domain.rates import RateTable
from connector.domain.typography import percent
from connector.dunning.context import (
    CustomerView,
    InstalmentView,
    InterestLineView,
    InvoiceView,
    ReminderContext,
    ShopView,
)
from connector.dunning.payment_ways import is_web_url
from connector.dunning.planner import StepSpec, announced_deadline
from connector.dunning.rules import penalty_policy
from connector.store.idset import among
from connector.store.models import (
    Channel,
    Customer,
    Instalment,
    Invoice,
    Reminder,
    ReminderState,
    Shop,
)
from connector.store.rates import ecb_table

SentHistory = Mapping[int, Sequence[datetime]]
"""invoice id → when its reminders really went out (UTC), oldest first."""

SUPPORTED_LOCALES = ("fr", "en")


def message_locale(shop: Shop, customer: Customer) -> str:
    for candidate in (customer.locale, shop.locale):
        if candidate:
            short = candidate.replace("-", "_").split("_")[0].lower()
            if short in SUPPORTED_LOCALES:
                return short
    return "en"


def owner_language(customer: Customer, step: StepSpec) -> str | None:
    """The customer's language when the owner wrote this step in it (one we do not ship)."""
    if not customer.locale:
        return None
    wanted = language_of(customer.locale)
    written = {name.split("/", 1)[0] for name, _ in step.templates}
    return wanted if wanted in written and wanted not in SUPPORTED_LOCALES else None


def greeting_name(customer: Customer) -> str:
    if customer.name:
        return customer.name
    if customer.company:
        return customer.company
    return (customer.email or "").split("@")[0]


def local_due_on(invoice: Invoice, shop: Shop) -> date:
    return local_date(invoice.due_at, shop.timezone)


def schedule_due_on(invoice: Invoice, shop: Shop) -> date:
    """The day the sequence counts from: the invoice's due date, or, while a payment plan
    holds, its next unpaid instalment's (messages still state the invoice's own)."""
    return local_date(invoice.plan_due_at or invoice.due_at, shop.timezone)


def sent_history(
    session: Session, invoice_ids: Collection[int], *, excluding: Collection[int] = ()
) -> dict[int, tuple[datetime, ...]]:
    """When each invoice's reminders really went out, in one query for all of them.

    Only what happened counts: an email SENT (not skipped, failed, unknown or handed to a
    person). A letter is not cited: a PDF made is not a letter posted, and its posting is not
    recorded yet. ``excluding``: the reminders being written right now (a message never cites
    itself).
    """
    if not invoice_ids:
        return {}
    query = (
        select(Reminder.invoice_id, Reminder.sent_at)
        .where(
            among(session, Reminder.invoice_id, invoice_ids),
            Reminder.state == ReminderState.SENT,
            Reminder.sent_at.is_not(None),
            # Older rows may say SENT for a channel nothing carried (sms, task): not cited.
            Reminder.channel == Channel.EMAIL,
        )
        .order_by(Reminder.sent_at, Reminder.id)
    )
    if excluding:
        query = query.where(Reminder.id.not_in(excluding))
    history: dict[int, list[datetime]] = {}
    for invoice_id, sent_at in session.execute(query):
        history.setdefault(invoice_id, []).append(sent_at)
    return {invoice_id: tuple(times) for invoice_id, times in history.items()}


def build_context(
    shop: Shop,
    customer: Customer,
    items: Sequence[tuple[Invoice, StepSpec]],
    now: datetime,
    history: SentHistory | None = None,
    *,
    locale: str | None = None,
    plans: PlanFacts | None = None,
    ecb: RateTable | None = None,
    shop_views: ShopViews | None = None,
) -> ReminderContext:
    """One message for one customer covering one or more invoices, each at its own step.

    The message speaks with the voice of its most advanced step (the highest offset). What it
    says about the past comes from ``history`` (see :func:`sent_history`) only: the dates it
    may cite are those on which every one of its invoices was really reminded. ``locale``:
    write it in this language rather than the customer's (a letter's French version).
    ``plans``: the current instalment of the invoices under a payment plan (see
    :func:`current_instalments`); None: read in the session that loaded the invoices.
    ``ecb``: the shop's ECB table, read beforehand when :func:`reads_ecb` (a batch reads it
    once per shop, in the session that read its rows); None: read in the shop's session.
    ``shop_views``: where the shop's words come from (:func:`shop_view` by default; a batch
    passes one that makes each shop's once per language, see :class:`ShopViewMemo`).
    """
    if not items:
        raise ValueError("a message needs at least one invoice")
    lead = max((step for _, step in items), key=lambda s: s.offset_days)
    locale = locale or owner_language(customer, lead) or message_locale(shop, customer)
    today = local_date(now, shop.timezone)
    table = _ecb_table(shop, customer, items, ecb)
    policy = penalty_policy(shop, table.rate_for(today) if table is not None else None)
    ecb_rate_for = table.rate_for if table is not None else None
    views = []
    total_due: Money | None = None
    common: set[date] | None = None
    if plans is None:
        session = object_session(items[0][0])
        plans = current_instalments(session, (i for i, _ in items)) if session else {}
    for invoice, step in items:
        days = {local_date(sent, shop.timezone) for sent in (history or {}).get(invoice.id, ())}
        common = days if common is None else common & days
        current = plans.get(invoice.id)
        instalment = _instalment_view(invoice, current, shop, today, locale) if current else None
        views.append(
            _invoice_view(
                invoice,
                step,
                shop,
                customer,
                today,
                locale,
                policy,
                ecb_rate_for,
                reminded_on=_long_dates(days, locale),
                instalment=instalment,
            )
        )
        total_due = invoice.amount_due if total_due is None else _add(total_due, invoice)
    deadline_on = message_deadline(shop, (step for _, step in items), now)
    deadline = long_date(deadline_on, locale) if deadline_on is not None else None
    return ReminderContext(
        step=lead.key,
        tone=lead.tone,
        locale=locale,
        today=long_date(today, locale),
        shop=(shop_views or shop_view)(shop, locale),
        customer=CustomerView(
            name=greeting_name(customer),
            email=customer.email or "",
            company=customer.company,
            is_b2b=customer.is_b2b,
            postal_address=customer.postal_address,
            is_company=bool(customer.company) or (customer.is_b2b and not customer.name),
        ),
        invoices=tuple(views),
        new_deadline=deadline,
        new_deadline_days=lead.new_deadline_days,
        total_due=total_due.format(locale) if total_due is not None else "",
        earlier_reminders=_long_dates(common or set(), locale),
        show_penalties=lead.show_penalties,
        asks_payment=lead.asks_payment,
        templates=lead.templates,
    )


ShopViews = Callable[[Shop, str], ShopView]
"""Makes what a message says of its shop, in a language (:func:`shop_view`, or a memo of it)."""


def shop_view(shop: Shop, locale: str) -> ShopView:
    """What every message of ``shop`` written in ``locale`` says of the shop: its row's
    columns and the language only."""
    return ShopView(
        name=shop.name,
        contact_email=shop.contact_email or shop.owner_email,
        contact_phone=shop.contact_phone,
        legal_name=shop.legal_name,
        legal_address=shop.legal_address,
        legal_id=shop.legal_id,
        payment_instructions=shop.payment_instructions,
        contact_name=shop.contact_name,
        signatory_name=shop.signatory_name,
        signatory_role=shop.signatory_role,
        has_terms_and_conditions=shop.has_terms_and_conditions,
        consumer_mediator=shop.consumer_mediator,
        consumer_rate=_percent(shop.consumer_rate_bp, locale),
        # The creditor's identification (R123-237 Code de commerce), also on every email.
        legal_form=shop.legal_form,
        siren=f"SIREN {format_siren(shop.siren)}" if shop.siren else shop.legal_id,
        rcs=f"RCS {shop.rcs_city}" if shop.rcs_city else None,
        registered_office=shop.registered_office or shop.legal_address,
    )


class ShopViewMemo:
    """:func:`shop_view` made once per shop row and language, for the contexts built from one
    read (a batch's messages share a few shops; reading the ~20 columns again for each message
    was a good part of its context). Keyed by the row object itself: one read holds one object
    per shop, and a memo lives no longer than that read's contexts."""

    def __init__(self) -> None:
        self._views: dict[tuple[int, str], tuple[Shop, ShopView]] = {}

    def __call__(self, shop: Shop, locale: str) -> ShopView:
        kept = self._views.get((id(shop), locale))
        if kept is not None and kept[0] is shop:
            return kept[1]
        view = shop_view(shop, locale)
        self._views[(id(shop), locale)] = (shop, view)
        return view


@dataclass(frozen=True, slots=True)
class CurrentInstalment:
    """The instalment of a payment plan its reminders ask for: the next unpaid one (the one the
    sequence counts from). A plain value: it outlives the session that read it."""

    position: int
    count: int
    left_minor: int  # what is left to pay on it
    due_at: datetime


PlanFacts = Mapping[int, CurrentInstalment]
"""invoice id → its current instalment, for the invoices under a payment plan."""


def current_instalments(
    session: Session, invoices: Iterable[Invoice]
) -> dict[int, CurrentInstalment]:
    """The current instalment of each invoice under a payment plan, in one query for all of
    them (none when no invoice has a plan)."""
    planned = {inv.id for inv in invoices if inv.plan_due_at is not None}
    if not planned:
        return {}
    rows: dict[int, list[Instalment]] = {}
    for row in session.scalars(
        select(Instalment)
        .where(among(session, Instalment.invoice_id, planned))
        .order_by(Instalment.invoice_id, Instalment.position)
    ):
        rows.setdefault(row.invoice_id, []).append(row)
    found: dict[int, CurrentInstalment] = {}
    for invoice_id, plan in rows.items():
        current = next((r for r in plan if r.paid_minor < r.amount_minor), None)
        if current is not None:
            found[invoice_id] = CurrentInstalment(
                current.position,
                len(plan),
                current.amount_minor - current.paid_minor,
                current.due_at,
            )
    return found


def _instalment_view(
    invoice: Invoice, current: CurrentInstalment, shop: Shop, today: date, locale: str
) -> InstalmentView:
    due_on = local_date(current.due_at, shop.timezone)
    return InstalmentView(
        position=current.position,
        count=current.count,
        amount=Money.from_minor(current.left_minor, invoice.currency).format(locale),
        due_on=long_date(due_on, locale),
        days_late=max(0, (today - due_on).days),
        balance=invoice.amount_due.format(locale),
    )


def reads_ecb(shop: Shop, customer: Customer, steps: Iterable[StepSpec]) -> bool:
    """A message of these steps shows ECB-based interest (B2B, no contractual rate): its
    context reads the shop's ECB table."""
    if not customer.is_b2b or shop.contractual_rate_bp is not None:
        return False
    return any(step.show_penalties for step in steps)


def _ecb_table(
    shop: Shop,
    customer: Customer,
    items: Sequence[tuple[Invoice, StepSpec]],
    given: RateTable | None = None,
) -> RateTable | None:
    """The shop's ECB table by half-year (L441-10 II), only when a B2B message shows
    ECB-based interest: ``given``, or one query in the session that loaded the shop (every
    other caller builds the context inside one). A half-year missing from it uses the last
    known rate (the tick opens a task for the owner to add it)."""
    if not reads_ecb(shop, customer, (step for _, step in items)):
        return None
    if given is None:
        session = object_session(shop)
        if session is None:
            return None
        given = ecb_table(session, shop.id)
    return given if given.rates else None


def message_deadline(shop: Shop, steps: Iterable[StepSpec], now: datetime) -> date | None:
    """The deadline a message of these steps, written at ``now``, announces (its lead step's);
    the date it prints and the date the store keeps for the schedule (Reminder.deadline_on)."""
    lead = max(steps, key=lambda s: s.offset_days)
    return announced_deadline(local_date(now, shop.timezone), lead.new_deadline_days)


def _percent(basis_points: int | None, locale: str) -> str | None:
    """A rate in basis points as the locale writes it ("8 %" in French, "8%" in English)."""
    if basis_points is None:
        return None
    return percent(Decimal(basis_points) / 100, locale)


def _long_dates(days: Collection[date], locale: str) -> tuple[str, ...]:
    return tuple(long_date(day, locale) for day in sorted(days))


def _add(total: Money, invoice: Invoice) -> Money:
    # Mixed currencies in one message: the total is only meaningful in one currency.
    return total + invoice.amount_due if total.currency == invoice.currency else total


def _invoice_view(
    invoice: Invoice,
    step: StepSpec,
    shop: Shop,
    customer: Customer,
    today: date,
    locale: str,
    policy: PenaltyPolicy,
    ecb_rate_for: EcbRateFor | None = None,
    *,
    reminded_on: tuple[str, ...] = (),
    instalment: InstalmentView | None = None,
) -> InvoiceView:
    due_on = local_due_on(invoice, shop)
    issued_on = local_date(invoice.issued_at, shop.timezone)
    interest = rate = indemnity = with_penalties = as_of = None
    lines: tuple[InterestLineView, ...] = ()
    if step.show_penalties:
        pen = compute_penalties(
            policy,
            invoice.amount_due,
            due_on,
            today,
            is_b2b=customer.is_b2b,
            ecb_rate_for=ecb_rate_for,
        )
        if pen.interest is not None and pen.rate is not None and pen.interest.is_positive():
            interest = pen.interest.format(locale)
            rate = percent(pen.rate, locale)
            lines = tuple(interest_line_view(line, policy, locale) for line in pen.interest_lines)
            as_of = long_date(today, locale)
        if customer.is_b2b and pen.indemnity is not None:
            indemnity = pen.indemnity.format(locale)
        if interest or indemnity:
            with_penalties = pen.total_with_penalties.format(locale)
    return InvoiceView(
        number=invoice.number,
        amount_due=invoice.amount_due.format(locale),
        total=invoice.total.format(locale),
        issued_on=long_date(issued_on, locale),
        due_on=long_date(due_on, locale),
        days_late=max(0, (today - due_on).days),
        # Only a web link is a way to pay (never "javascript:" and the like).
        payment_url=invoice.payment_url if is_web_url(invoice.payment_url) else None,
        interest=interest,
        interest_rate=rate,
        indemnity=indemnity,
        total_with_penalties=with_penalties,
        interest_lines=lines,
        interest_as_of=as_of,
        reminded_on=reminded_on,
        instalment=instalment,
    )


def interest_line_view(line: InterestLine, policy: PenaltyPolicy, locale: str) -> InterestLineView:
    first, last = date_span(line.first_day, line.last_day, locale)
    b2b = line.ecb_rate is not None
    return InterestLineView(
        ecb_rate=percent(line.ecb_rate, locale) if line.ecb_rate is not None else None,
        margin_points=format_decimal(policy.b2b_margin_points, locale=locale) if b2b else None,
        rate=percent(line.rate, locale),
        first_day=first,
        last_day=last,
        days=line.days,
        amount=line.amount.format(locale),
    )
