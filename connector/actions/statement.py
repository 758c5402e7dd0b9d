"""A customer's statement of account: all their open invoices with the total, as a PDF for the
owner and as an email sent on request through the mail transport. The email is kept as a
Message (kind ``statement``: what went out, to whom, the provider's id) and named on each
invoice's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.actions.errors import ActionError, NotFound
from connector.domain.dates import long_date
from connector.dunning.statements import (
    TEXT,
    Statement,
    StatementLine,
    StatementOutcome,
    Zone,
    money_text,
    name_on_timelines,
    statement_mail,
    statement_of,
)
from connector.evidence.document import Sheet
from connector.ledger import customer_unreachable
from connector.mail.base import DeliveryOutcome, MailTransport, OutgoingMail
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Customer,
    Message,
    MessageKind,
    MessageState,
    Shop,
)

__all__ = [
    "CustomerNotFound",
    "Statement",
    "StatementError",
    "StatementLine",
    "StatementSent",
    "Zone",
    "customer_statement",
    "send_statement",
    "statement_pdf",
]


class CustomerNotFound(NotFound):
    """No such customer in this shop."""


class StatementError(ActionError):
    """Nothing to state, or nobody to send it to (the message says which)."""


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
        return statement_of(s, shop, customer, now)


def statement_pdf(statement: Statement) -> bytes:
    words, lang = TEXT.get(statement.locale, TEXT["en"]), statement.locale
    sheet = Sheet(f"{words['title']} — {statement.customer_name or ''}", statement.shop_name)
    sheet.text(f"{statement.shop_name} — {long_date(statement.made_on, lang)}")
    sheet.section(words["title"])
    for line in statement.lines:
        sheet.row(
            line.number,
            f"{long_date(line.due_on, lang)} — {money_text(line.amount_due, lang)}"
            + (f" ({line.days_late} j)" if lang == "fr" and line.days_late else "")
            + (f" ({line.days_late} days late)" if lang != "fr" and line.days_late else ""),
        )
    for total in statement.totals:
        sheet.row(words["total_label"], money_text(total, lang))
    return sheet.output()


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
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id)
        customer = s.scalar(
            select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop_id)
        )
        if shop is None or customer is None:
            raise CustomerNotFound(f"no customer {customer_id} in this shop")
        # Read under the write lock: a payment applied meanwhile is not listed.
        statement = statement_of(s, shop, customer, now)
        if not statement.lines:
            raise StatementError("this customer has no open invoice: nothing to send")
        why = customer_unreachable(customer)
        if why is not None:
            raise StatementError(f"cannot email this customer: {why}")
        assert customer.email is not None
        mail_text = statement_mail(statement, shop.payment_instructions)
        subject, text, html = mail_text.subject, mail_text.text, mail_text.html
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
        outcome = StatementOutcome(
            message_id, state, mail.to_email, subject, result.provider_message_id
        )
        name_on_timelines(s, shop_id, statement, outcome, now, by=actor)
    return StatementSent(message_id, state, mail.to_email, len(statement.lines))
