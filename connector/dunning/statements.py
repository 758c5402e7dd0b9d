"""A customer's statement of account — all their open invoices with the total — as one value,
its email wording (French or English, amounts in their currency) and its record on each listed
invoice's timeline. The one code path of both ways a statement goes out: on the owner's request
(connector.actions.statement) and as a sequence step (connector.dunning.statement_step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.domain.dates import BABEL_LOCALES, local_date, long_date
from connector.domain.money import Money
from connector.dunning.compose import message_locale
from connector.dunning.rendering import RenderedMessage
from connector.ledger import add_timeline
from connector.platform import InvoiceStatus
from connector.store.models import Customer, Invoice, MessageState, Shop, TimelineKind

OWED = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)


@dataclass(frozen=True, slots=True)
class StatementLine:
    invoice_id: int
    number: str
    issued_on: date
    due_on: date
    days_late: int
    amount_due: Money


@dataclass(frozen=True, slots=True)
class Zone:
    """The shop's time zone and language, for the owner's page (filters.ShopZone)."""

    timezone: str
    locale: str


@dataclass(frozen=True, slots=True)
class Statement:
    shop_name: str
    shop_zone: Zone
    locale: str  # the customer's language
    made_on: date
    customer_id: int
    customer_name: str | None
    customer_email: str | None
    lines: tuple[StatementLine, ...]
    totals: tuple[Money, ...]  # one per currency


TEXT = {
    "fr": {
        "subject": "Relevé de compte — {shop}",
        "hello": "Bonjour {name},",
        "intro": "Voici le relevé de vos factures restant à régler au {day} :",
        "line": "– facture {number}, échue le {due} : {amount}",
        "total": "Total restant dû : {total}",
        "pay": "Pour régler : {how}",
        "bye": "Nous restons à votre disposition pour toute question.",
        "title": "Relevé de compte",
        "total_label": "Total restant dû",
    },
    "en": {
        "subject": "Statement of account — {shop}",
        "hello": "Hello {name},",
        "intro": "Here are your invoices still to be paid as of {day}:",
        "line": "– invoice {number}, due {due}: {amount}",
        "total": "Total still due: {total}",
        "pay": "How to pay: {how}",
        "bye": "Do not hesitate to contact us with any question.",
        "title": "Statement of account",
        "total_label": "Total still due",
    },
}


def money_text(amount: Money, locale: str) -> str:
    return amount.format(BABEL_LOCALES.get(locale, locale))


def statement_of(s: Session, shop: Shop, customer: Customer, now: datetime) -> Statement:
    """The customer's open invoices (something still due), oldest due first, and their total
    per currency, as of ``now`` in the shop's time zone. A paid invoice is never listed."""
    rows = s.execute(
        select(
            Invoice.id,
            Invoice.number,
            Invoice.issued_at,
            Invoice.due_at,
            Invoice.amount_due_minor,
            Invoice.currency,
        )
        .where(
            Invoice.shop_id == shop.id,
            Invoice.customer_id == customer.id,
            Invoice.status.in_(OWED),
            Invoice.amount_due_minor > 0,
        )
        .order_by(Invoice.due_at, Invoice.id)
    ).all()
    today = local_date(now, shop.timezone)
    lines = tuple(
        StatementLine(
            r.id,
            r.number,
            local_date(r.issued_at, shop.timezone),
            local_date(r.due_at, shop.timezone),
            max(0, (today - local_date(r.due_at, shop.timezone)).days),
            Money.from_minor(r.amount_due_minor, r.currency),
        )
        for r in rows
    )
    totals: dict[str, Money] = {}
    for line in lines:
        cur = line.amount_due.currency
        totals[cur] = totals[cur] + line.amount_due if cur in totals else line.amount_due
    return Statement(
        shop_name=shop.legal_name or shop.name,
        shop_zone=Zone(shop.timezone, shop.locale),
        locale=message_locale(shop, customer),
        made_on=today,
        customer_id=customer.id,
        customer_name=customer.company or customer.name,
        customer_email=customer.email,
        lines=lines,
        totals=tuple(totals[c] for c in sorted(totals)),
    )


def statement_mail(statement: Statement, how_to_pay: str | None) -> RenderedMessage:
    """The email: subject, plain text and HTML, in the customer's language."""
    words, lang = TEXT.get(statement.locale, TEXT["en"]), statement.locale
    name = statement.customer_name or ""
    items = [
        words["line"].format(
            number=line.number,
            due=long_date(line.due_on, lang),
            amount=money_text(line.amount_due, lang),
        )
        for line in statement.lines
    ]
    totals = [words["total"].format(total=money_text(t, lang)) for t in statement.totals]
    paragraphs = [
        words["hello"].format(name=name).replace(" ,", ","),
        words["intro"].format(day=long_date(statement.made_on, lang)),
        "\n".join(items),
        "\n".join(totals),
    ]
    if how_to_pay:
        paragraphs.append(words["pay"].format(how=how_to_pay))
    paragraphs += [words["bye"], statement.shop_name]
    text = "\n\n".join(paragraphs)
    html = "".join(
        f"<p>{'<br>'.join(str(escape(x)) for x in p.splitlines())}</p>" for p in paragraphs
    )
    return RenderedMessage(words["subject"].format(shop=statement.shop_name), text, html)


@dataclass(frozen=True, slots=True)
class StatementOutcome:
    """What became of one statement email, as each listed invoice's timeline tells it."""

    message_id: int
    state: MessageState
    recipient: str
    subject: str
    provider_message_id: str | None


def name_on_timelines(
    s: Session,
    shop_id: int,
    statement: Statement,
    outcome: StatementOutcome,
    now: datetime,
    *,
    by: str,
    reminders: Mapping[int, int] | None = None,
) -> None:
    """A ``statement_sent`` entry on every invoice the statement lists (with the step's
    reminder, for the invoices whose statement step it was: ``reminders`` invoice → row)."""
    reminders = reminders or {}
    total = ", ".join(money_text(t, statement.locale) for t in statement.totals)
    invoices = s.scalars(
        select(Invoice).where(
            Invoice.shop_id == shop_id,
            Invoice.id.in_([line.invoice_id for line in statement.lines]),
        )
    )
    for inv in invoices:
        add_timeline(
            s,
            inv,
            now,
            TimelineKind.STATEMENT_SENT,
            f"statement of account {outcome.state.value} to {outcome.recipient} by {by} "
            f"({len(statement.lines)} open invoices, {total})",
            reminder_id=reminders.get(inv.id),
            data={
                "message_id": outcome.message_id,
                "state": outcome.state.value,
                "recipient": outcome.recipient,
                "subject": outcome.subject,
                "provider_message_id": outcome.provider_message_id,
            },
        )
