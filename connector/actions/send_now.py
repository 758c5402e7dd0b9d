"""Send an invoice's next step now, at the owner's request — with the engine's guarantees: the
step is claimed in the database exactly as a tick claims it (the unique reminder per step, the
unique reminder message per customer and day), then handed to the engine's own deliverer, which
re-reads the invoice under lock right before sending (never after a payment). Outside the
shop's sending window only when the owner explicitly overrides it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.actions.errors import ActionError
from connector.actions.invoice_base import (
    ActionResult,
    clean_actor,
    locked_invoice,
    record,
    require_owed,
    the_shop,
)
from connector.actions.schedule import Schedule, schedule_of
from connector.domain.calendar import SendingWindow
from connector.dunning.claims import Outcome
from connector.dunning.payment_ways import can_be_paid
from connector.dunning.planner import InvoiceFacts, StepSpec, behind, earliest_day, step_day
from connector.dunning.rules import sending_window
from connector.dunning.statement_step import deliver_statement
from connector.ledger import customer_unreachable
from connector.mail.base import MailTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    OwnerAction,
    Reminder,
    ReminderState,
    StepContent,
)

#: The message a step's email is: the customer's reminder of the day, or their statement of
#: account of the day (each with its own daily key).
_MESSAGE_KIND = {
    StepContent.REMINDER: MessageKind.REMINDER,
    StepContent.STATEMENT: MessageKind.STATEMENT,
}


def send_now(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    actor: str,
    override_window: bool = False,
    now: datetime | None = None,
    transport: MailTransport | None = None,
) -> ActionResult:
    """Claim and send the invoice's next step now (the latest due one if several are due: the
    ones it passes are skipped, as a tick would). ActionError says why it cannot go: not owed,
    paused, the customer cannot be reached, outside the window, already emailed today…"""
    now = now or datetime.now(UTC)
    actor = clean_actor(actor)
    worker = f"send-now:{uuid.uuid4().hex[:12]}"
    runner = dunning_runner(svc, transport=transport)
    lease_until = datetime.now(UTC) + runner.options.claim_lease
    with write_session(svc.sessions) as s:
        shop = the_shop(s, shop_id)
        inv = locked_invoice(s, shop.id, invoice_id)
        require_owed(inv, "send")
        customer = inv.customer
        sched = schedule_of(s, shop, inv, customer, now)
        facts = sched.facts
        if facts.paused and (facts.paused_until is None or facts.paused_until > now):
            raise ActionError(f"invoice {inv.number} is paused ({inv.pause_reason}): resume it")
        if facts.handed_off:
            raise ActionError(
                f"Invoice {inv.number} was handed to a person: nothing more is sent to the"
                " customer."
            )
        window = sending_window(shop)
        outside = not window.contains(now)
        if outside and not override_window:
            opens = window.next_opening(now).astimezone(window.tz).strftime("%Y-%m-%d %H:%M")
            raise ActionError(
                f"override_window: {now.astimezone(window.tz):%H:%M} is outside the shop's "
                f"sending window (next opening {opens}); override it explicitly to send anyway"
            )
        step, passed = _next(sched, window)
        if step.channel is Channel.EMAIL:
            unreachable = customer_unreachable(customer)
            if unreachable is not None:
                raise ActionError(f"customer: {unreachable}")
        elif customer.erased_at is not None or customer.excluded:
            raise ActionError("customer: excluded or erased")
        if step.asks_payment and not can_be_paid(inv.payment_url, shop.payment_instructions):
            raise ActionError(
                "payment_instructions: the message cannot say how to pay (no payment link); "
                "add the shop's payment instructions first"
            )
        today = sched.today
        if step.channel is Channel.EMAIL and _emailed_today(s, customer.id, today):
            raise ActionError(
                f"customer: already sent a reminder today ({today.isoformat()}); "
                "at most one a day — try again tomorrow"
            )
        try:
            with s.begin_nested():
                for p in passed:
                    _reminder(
                        s, inv, p, facts, ReminderState.SKIPPED
                    ).reason = f"passed over: {step.key} sent at the owner's request"
                reminder = _reminder(s, inv, step, facts, ReminderState.CLAIMED)
                message: Message | None = None
                if step.channel is Channel.EMAIL:
                    message = Message(
                        shop_id=shop.id,
                        customer_id=customer.id,
                        kind=_MESSAGE_KIND[step.content],
                        channel=Channel.EMAIL,
                        local_day=today,
                        state=MessageState.CLAIMED,
                        lease_owner=worker,
                        lease_until=lease_until,
                        recipient=customer.email,
                    )
                    s.add(message)
                    reminder.message = message
                s.flush()
        except IntegrityError as exc:
            raise ActionError(
                f"invoice {inv.number}: {step.key} is already being sent (or a "
                f"{_MESSAGE_KIND[step.content].value} went to this customer today)"
            ) from exc
        inv.next_action_at = now  # the engine plans the step after this one
        title = f"{step.key.replace('_', ' ')} sent now at the owner's request"
        if outside:
            title += " (outside the sending window, overridden)"
        event = record(
            s,
            shop.id,
            actor,
            OwnerAction.SEND_NOW,
            now,
            title,
            invoice=inv,
            step=step.key,
            skipped=[p.key for p in passed],
            override_window=outside,
        )
        detail = dict(event.detail)
        message_id = message.id if message is not None else None
        reminder_id = reminder.id
        number = inv.number
    deliverer = runner.deliverer(worker)
    by_kind: dict[StepContent, Callable[[int, datetime], list[Outcome]]] = {
        StepContent.REMINDER: deliverer.deliver_message,
        StepContent.STATEMENT: partial(deliver_statement, deliverer),
    }
    outcomes: list[Outcome] = (
        by_kind[step.content](message_id, now)
        if message_id is not None
        else deliverer.deliver_letter(reminder_id, now)
    )
    mine = [o for o in outcomes if o.step == step.key] or outcomes
    detail["outcome"] = mine[0].outcome if mine else "pending"
    if mine and mine[0].reason:
        detail["outcome_reason"] = mine[0].reason
    return ActionResult(invoice_id, number, OwnerAction.SEND_NOW, title, detail)


def _next(sched: Schedule, window: SendingWindow) -> tuple[StepSpec, tuple[StepSpec, ...]]:
    """The step to send now: the latest of those already due (the others are passed over, as
    after downtime), else the next one of the sequence, ahead of its day."""
    remaining = sorted(
        (st for st in sched.steps if not behind(st, sched.history)),
        key=lambda st: st.offset_days,
    )
    if not remaining:
        raise ActionError("step: the sequence is finished, there is no next step to send")
    due = [
        st
        for st in remaining
        if earliest_day(sched.facts, st, sched.history, window) <= sched.today
    ]
    if due:
        return due[-1], tuple(due[:-1])
    return remaining[0], ()


def _emailed_today(s: Session, customer_id: int, today: date) -> bool:
    return (
        s.scalar(
            select(Message.id)
            .where(
                Message.customer_id == customer_id,
                Message.channel == Channel.EMAIL,
                Message.local_day == today,
                Message.kind == MessageKind.REMINDER,
            )
            .limit(1)
        )
        is not None
    )


def _reminder(
    s: Session, inv: Invoice, step: StepSpec, facts: InvoiceFacts, state: ReminderState
) -> Reminder:
    """A reminder row as a tick's claim writes it."""
    reminder = Reminder(
        shop_id=inv.shop_id,
        invoice_id=inv.id,
        step_id=step.id,
        step_key=step.key,
        channel=step.channel,
        state=state,
        due_on=step_day(facts, step),
        counted_from=facts.due_on,
        amount_due_minor=inv.amount_due_minor,
    )
    s.add(reminder)
    return reminder
