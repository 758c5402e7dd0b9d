"""A customer's statement of account: all their open invoices with the total, as a PDF for the
owner and as an email sent on request through the mail transport. The email is kept as a
Message (kind ``statement``: what went out, to whom, the provider's id) and named on each
invoice's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.actions.errors import ActionError, NotFound
from connector.domain.dates import BABEL_LOCALES, local_date, long_date
from connector.domain.money import Money
from connector.dunning.compose import message_locale
from connector.evidence.document import Sheet
from connector.ledger import add_timeline, customer_unreachable
from connector.mail.base import DeliveryOutcome, MailTransport, OutgoingMail
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Shop,
    TimelineKind,
)

OWED = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)


class CustomerNotFound(NotFound):
    """No such customer in this shop."""


class StatementError(ActionError):
    """Nothing to state, or nobody to send it to (the message says which)."""


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


_TEXT = {
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


def _money(amount: Money, locale: str) -> str:
    return amount.format(BABEL_LOCALES.get(locale, locale))


def customer_statement(
    svc: Services, shop_id: int, customer_id: int, *, now: datetime | None = None
) -> Statement:
    """The customer's open invoices, oldest due first, and their total per currency."""
    now = now or datetime.now(UTC)
    with svc.sessions() as s:
        shop = s.get(Shop, shop_id)
        customer = s.scalar(
            select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop_id)
        )
        if shop is None or customer is None:
            raise CustomerNotFound(f"no customer {customer_id} in this shop")
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
                Invoice.shop_id == shop_id,
                Invoice.customer_id == customer_id,
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


def statement_pdf(statement: Statement) -> bytes:
    words, lang = _TEXT.get(statement.locale, _TEXT["en"]), statement.locale
    sheet = Sheet(f"{words['title']} — {statement.customer_name or ''}", statement.shop_name)
    sheet.text(f"{statement.shop_name} — {long_date(statement.made_on, lang)}")
    sheet.section(words["title"])
    for line in statement.lines:
        sheet.row(
            line.number,
            f"{long_date(line.due_on, lang)} — {_money(line.amount_due, lang)}"
            + (f" ({line.days_late} j)" if lang == "fr" and line.days_late else "")
            + (f" ({line.days_late} days late)" if lang != "fr" and line.days_late else ""),
        )
    for total in statement.totals:
        sheet.row(words["total_label"], _money(total, lang))
    return sheet.output()


def _bodies(statement: Statement, how_to_pay: str | None) -> tuple[str, str, str]:
    words, lang = _TEXT.get(statement.locale, _TEXT["en"]), statement.locale
    name = statement.customer_name or ""
    items = [
        words["line"].format(
            number=line.number,
            due=long_date(line.due_on, lang),
            amount=_money(line.amount_due, lang),
        )
        for line in statement.lines
    ]
    totals = [words["total"].format(total=_money(t, lang)) for t in statement.totals]
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
    return words["subject"].format(shop=statement.shop_name), text, html


@dataclass(frozen=True, slots=True)
class StatementSent:
    message_id: int
    state: MessageState
    recipient: str
    invoices: int


def send_statement(
    svc: Services,
    shop_id: int,
    customer_id: int,
    *,
    actor: str,
    transport: MailTransport | None = None,
    now: datetime | None = None,
) -> StatementSent:
    """Email the customer their statement now; recorded as a Message and on each invoice's
    timeline (with the outcome: sent, failed, or unknown when the provider's answer was lost)."""
    now = now or datetime.now(UTC)
    statement = customer_statement(svc, shop_id, customer_id, now=now)
    if not statement.lines:
        raise StatementError("this customer has no open invoice: nothing to send")
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id)
        customer = s.scalar(
            select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop_id)
        )
        assert shop is not None and customer is not None
        why = customer_unreachable(customer)
        if why is not None:
            raise StatementError(f"cannot email this customer: {why}")
        assert customer.email is not None
        subject, text, html = _bodies(statement, shop.payment_instructions)
        msg = Message(
            shop_id=shop_id,
            customer_id=customer_id,
            kind=MessageKind.STATEMENT,
            channel=Channel.EMAIL,
            local_day=statement.made_on,
            state=MessageState.SENDING,
            recipient=customer.email,
            subject=subject,
            body_text=text,
            body_html=html,
            attempts=1,
        )
        s.add(msg)
        try:
            s.flush()
        except IntegrityError as exc:  # the (customer, local day) statement key: one a day
            raise StatementError(
                "a statement was already sent to this customer today: one a day"
            ) from exc
        mail = OutgoingMail(
            message_id=msg.id,
            to_email=customer.email,
            to_name=customer.name,
            from_email=shop.sender_email or shop.owner_email,
            from_name=shop.sender_name or shop.name,
            reply_to=shop.contact_email or shop.owner_email,
            subject=subject,
            text=text,
            html=html,
            step="statement",
            invoice_numbers=tuple(line.number for line in statement.lines),
            reminder_ids=(),
        )
        message_id = msg.id
    result = (transport or svc.transport()).send(mail)
    state = {
        DeliveryOutcome.SENT: MessageState.SENT,
        DeliveryOutcome.FAILED: MessageState.FAILED,
    }.get(result.outcome, MessageState.UNKNOWN)
    with write_session(svc.sessions) as s:
        row = s.get(Message, message_id)
        assert row is not None
        row.state = state
        row.provider_message_id = result.provider_message_id
        row.last_error = result.error
        row.sent_at = now if state is MessageState.SENT else None
        total = ", ".join(_money(t, statement.locale) for t in statement.totals)
        for inv in s.scalars(
            select(Invoice).where(
                Invoice.shop_id == shop_id,
                Invoice.id.in_([line.invoice_id for line in statement.lines]),
            )
        ):
            add_timeline(
                s,
                inv,
                now,
                TimelineKind.STATEMENT_SENT,
                f"statement of account {state.value} to {mail.to_email} by {actor} "
                f"({len(statement.lines)} open invoices, {total})",
                data={
                    "message_id": message_id,
                    "state": state.value,
                    "recipient": mail.to_email,
                    "subject": subject,
                    "provider_message_id": result.provider_message_id,
                },
            )
    return StatementSent(message_id, state, mail.to_email, len(statement.lines))
