"""Phase 2 for a statement step: the customer's statement of account of the day, claimed by
the tick (a Message of kind ``statement``, unique per customer and local day, that the
statement-step reminders of that customer's invoices point to), goes out exactly once.

The deliverer's steps, with the statement's wording (connector.dunning.statements):
1. re-check with the platform, apply the deliveries stored but not applied (a payment we
   had not heard of is known before anything is written);
2. one short transaction: take the message if it is still ours and CLAIMED, lock its
   invoices, cancel the reminders no longer owed, read the statement (every open invoice of
   the customer: a paid one is not listed) and mark SENDING with that evidence. The wording is
   plain formatting, no owner template: it is made under the lock, so what is marked is what
   is true (no render-then-recheck rounds);
3. the mail call, outside any transaction;
4. one transaction: the outcome on the message and its reminders, and the statement named on
   the timeline of every invoice it lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.crypto import SecretError
from connector.dunning.claims import Outcome
from connector.dunning.deliver import (
    _RESULT_STATE,
    Deliverer,
    _cancel,
    _has_waiting_deliveries,
    _not_sendable,
    _PaymentWaiting,
)
from connector.dunning.settle import (
    mark_sending,
    open_outcome_task,
    outgoing_mail,
    settle_message,
)
from connector.dunning.statements import (
    Statement,
    StatementOutcome,
    name_on_timelines,
    statement_mail,
    statement_of,
)
from connector.ledger import lock_invoice
from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Reminder,
    ReminderState,
    Shop,
)

NOT_LISTED = "nothing due on it any more: not on the statement"


@dataclass(frozen=True, slots=True)
class _Prepared:
    mail: OutgoingMail
    statement: Statement
    reminders: dict[int, int]  # invoice → its statement-step reminder on this message
    step_keys: dict[int, str]  # reminder → its step key
    numbers: dict[int, str]  # reminder → its invoice number


def deliver_statement(d: Deliverer, message_id: int, now: datetime) -> list[Outcome]:
    """Send one claimed statement message of ``d``'s worker (nothing if it is not ours)."""
    try:
        d._recheck_platform(message_id, now)
    except SecretError as exc:
        return d._fail_unverifiable(message_id, str(exc), now)
    outcomes: list[Outcome] = []
    check_waiting = d.waiting_payments is not None
    try:
        prepared = _prepare(d, message_id, now, outcomes, check_waiting=check_waiting)
    except _PaymentWaiting as waiting:
        assert d.waiting_payments is not None
        d.waiting_payments(waiting.invoices, now)  # outside any transaction, then decide again
        prepared = _prepare(d, message_id, now, outcomes, check_waiting=False)
    if prepared is None:
        return outcomes
    try:
        result = d.transport.send(prepared.mail)
    except Exception as exc:  # the transport did not say what happened: never resent
        result = DeliveryResult(DeliveryOutcome.UNKNOWN, error=f"{type(exc).__name__}: {exc}")
    _record(d, message_id, prepared, result, now, outcomes)
    return outcomes


def _prepare(
    d: Deliverer, message_id: int, now: datetime, outcomes: list[Outcome], *, check_waiting: bool
) -> _Prepared | None:
    with write_session(d.sessions) as s:
        msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
        if (
            msg is None
            or msg.kind is not MessageKind.STATEMENT
            or msg.state is not MessageState.CLAIMED
            or msg.lease_owner != d.worker
        ):
            return None  # someone else has it, or it is settled
        shop = s.get(Shop, msg.shop_id)
        customer = s.get(Customer, msg.customer_id)
        assert shop is not None and customer is not None
        reminders = s.scalars(
            select(Reminder)
            .where(Reminder.message_id == msg.id, Reminder.state == ReminderState.CLAIMED)
            .order_by(Reminder.id)
        ).all()
        claimed: list[tuple[Invoice, Reminder, str | None]] = []
        for rem in reminders:
            inv = lock_invoice(s, rem.invoice_id)
            assert inv is not None
            claimed.append((inv, rem, _not_sendable(inv, customer, shop, now)))
        if check_waiting:
            refs = [(inv.connection_id, inv.external_id) for inv, _, why in claimed if why is None]
            if refs and _has_waiting_deliveries(s, refs):
                raise _PaymentWaiting(refs)  # rolls this transaction back: nothing changed
        statement = statement_of(s, shop, customer, now)
        listed = {line.invoice_id for line in statement.lines}
        live: list[tuple[Invoice, Reminder]] = []
        for inv, rem, why in claimed:
            reason = why or (None if inv.id in listed else NOT_LISTED)
            if reason is not None:
                _cancel(s, rem, inv, reason, now)
                outcomes.append(Outcome(inv.number, rem.step_key, "cancelled", reason))
            else:
                live.append((inv, rem))
        if not live:  # all paid (or paused, excluded…) since the claim: nothing goes
            msg.state = MessageState.CANCELLED
            msg.lease_until = None
            return None
        rendered = statement_mail(statement, shop.payment_instructions)
        mark_sending(msg, customer, rendered, d.clock() + d.send_lease)
        for inv, rem in live:
            rem.state = ReminderState.SENDING
            rem.recipient = customer.email
            rem.subject = rendered.subject
            rem.body_text = rendered.text
            rem.amount_due_minor = inv.amount_due_minor
        mail = outgoing_mail(
            msg,
            shop,
            customer,
            rendered,
            step=live[0][1].step_key,
            invoice_numbers=tuple(line.number for line in statement.lines),
            reminder_ids=tuple(rem.id for _, rem in live),
        )
        return _Prepared(
            mail,
            statement,
            {inv.id: rem.id for inv, rem in live},
            {rem.id: rem.step_key for _, rem in live},
            {rem.id: inv.number for inv, rem in live},
        )


def _record(
    d: Deliverer,
    message_id: int,
    prepared: _Prepared,
    result: DeliveryResult,
    now: datetime,
    outcomes: list[Outcome],
) -> None:
    msg_state, rem_state, _ = _RESULT_STATE[result.outcome]
    recipient = prepared.mail.to_email
    with write_session(d.sessions) as s:
        msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
        assert msg is not None
        settle_message(msg, msg_state, result, now)
        _settle_reminders(s, prepared, rem_state, result.provider_message_id, result.error, now)
        keys = ", ".join(sorted(set(prepared.step_keys.values())))
        name_on_timelines(
            s,
            msg.shop_id,
            prepared.statement,
            StatementOutcome(
                message_id, msg_state, recipient, prepared.mail.subject, result.provider_message_id
            ),
            now,
            by=f"the sequence ({keys})",
            reminders=prepared.reminders,
        )
        numbers = ", ".join(prepared.mail.invoice_numbers)
        title = (
            f"Did the statement of account ({numbers}) reach {recipient}? Its outcome was lost; "
            "it will not be sent again automatically"
            if result.outcome is DeliveryOutcome.UNKNOWN
            else f"The statement of account ({numbers}) to {recipient} could not be sent"
        )
        open_outcome_task(s, msg, result, title)
    outcomes += [
        Outcome(
            prepared.numbers[rem_id],
            prepared.step_keys[rem_id],
            result.outcome.value,
            result.error or "",
            recipient,
        )
        for rem_id in prepared.reminders.values()
    ]


def _settle_reminders(
    s: Session,
    prepared: _Prepared,
    state: ReminderState,
    provider_message_id: str | None,
    error: str | None,
    now: datetime,
) -> None:
    for rem in s.scalars(
        select(Reminder).where(Reminder.id.in_(list(prepared.reminders.values())))
    ):
        rem.state = state
        rem.provider_message_id = provider_message_id
        if state is ReminderState.SENT:
            rem.sent_at = now
        else:
            rem.reason = error
