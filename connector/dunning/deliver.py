"""Phase 2 of a tick: turn each claimed message (or letter) into something sent, exactly once.

For an email:
1. re-check with the platform where the adapter can (outside any transaction);
2. one transaction: take the message if it is still ours and CLAIMED, re-read every invoice
   under lock, cancel what is no longer owed, render, mark SENDING (a crash from here on
   leaves the outcome unknown, so it is never sent again blindly);
3. the mail call, outside any transaction;
4. one transaction: record the outcome, the evidence, the timeline, letters and tasks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from connector.crypto import SecretError
from connector.dunning.claims import Outcome, facts_for
from connector.dunning.compose import build_context, sent_history
from connector.dunning.context import ReminderContext
from connector.dunning.planner import StepSpec
from connector.dunning.rendering import ReminderRenderer, TemplateError
from connector.dunning.sequence import spec_of
from connector.dunning.settle import open_outcome_task, settle_message
from connector.ledger import add_timeline, apply_platform_state, lock_invoice
from connector.mail.base import DeliveryOutcome, DeliveryResult, MailTransport, OutgoingMail
from connector.platform import AdapterError, NormalizedInvoice
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    LetterDocument,
    Message,
    MessageKind,
    MessageState,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    Step,
    TaskKind,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.tasks import open_task

log = logging.getLogger(__name__)

StatusChecker = Callable[[int, str], NormalizedInvoice | None]
"""(connection id, external id) → the platform's current view, or None if it cannot tell."""

Clock = Callable[[], datetime]

WaitingPayments = Callable[[list[tuple[int, str]], datetime], object]
"""(connection id, external id) pairs → apply the deliveries stored for them, not yet applied."""

_RESULT_STATE = {
    DeliveryOutcome.SENT: (MessageState.SENT, ReminderState.SENT, TimelineKind.REMINDER_SENT),
    DeliveryOutcome.FAILED: (
        MessageState.FAILED,
        ReminderState.FAILED,
        TimelineKind.REMINDER_FAILED,
    ),
    DeliveryOutcome.UNKNOWN: (
        MessageState.UNKNOWN,
        ReminderState.UNKNOWN,
        TimelineKind.REMINDER_UNKNOWN,
    ),
}


_StepHandler = Callable[
    [Session, Shop, Customer, Invoice, Reminder, StepSpec, datetime, list[Outcome]], None
]


@dataclass(frozen=True, slots=True)
class _Prepared:
    mail: OutgoingMail
    reminder_ids: tuple[int, ...]


class Deliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: MailTransport,
        renderer: ReminderRenderer,
        *,
        letters_dir: Path,
        worker: str,
        send_lease: timedelta,
        clock: Clock,
        status_checker: StatusChecker | None = None,
        waiting_payments: WaitingPayments | None = None,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.renderer = renderer
        self.waiting_payments = waiting_payments
        self.letters_dir = letters_dir
        self.worker = worker
        self.send_lease = send_lease
        self.clock = clock
        self.status_checker = status_checker
        self._specs: dict[int, StepSpec] = {}  # one tick's view of the sequence steps
        # Steps without email, by channel (with email: a Message). Any other channel has no
        # transport: sequence.check_step refuses it, and an older row fails (_no_transport).
        self._without_email: dict[Channel, _StepHandler] = {
            Channel.LETTER: self._post_letter,
            Channel.TASK: self._hand_to_person,
        }

    def _spec(self, s: Session, step_id: int) -> StepSpec:
        spec = self._specs.get(step_id)
        if spec is None:
            step = s.get(Step, step_id)
            assert step is not None
            spec = self._specs[step_id] = spec_of(step)
        return spec

    # -- email -------------------------------------------------------------------------------

    def deliver_message(self, message_id: int, now: datetime) -> list[Outcome]:
        try:
            self._recheck_platform(message_id, now)
        except SecretError as exc:
            return self._fail_unverifiable(message_id, str(exc), now)
        outcomes: list[Outcome] = []
        try:
            prepared = self._prepare(message_id, now, outcomes, check_waiting=True)
        except _PaymentWaiting as waiting:
            # A delivery the web processes stored and did not apply yet names one of these
            # invoices: apply it (outside our transaction), then decide again.
            assert self.waiting_payments is not None
            self.waiting_payments(waiting.invoices, now)
            outcomes.clear()
            prepared = self._prepare(message_id, now, outcomes, check_waiting=False)
        if prepared is None:
            return outcomes
        result = self.transport.send(prepared.mail)
        self._record(message_id, prepared, result, now, outcomes)
        return outcomes

    def _recheck_platform(self, message_id: int, now: datetime) -> None:
        """Ask the platform once per invoice; a payment we had not heard of is applied now."""
        if self.status_checker is None:
            return
        with self.sessions() as s:
            rows = s.execute(
                select(Invoice.id, Invoice.connection_id, Invoice.external_id)
                .join(Reminder, Reminder.invoice_id == Invoice.id)
                .where(Reminder.message_id == message_id, Reminder.state == ReminderState.CLAIMED)
            ).all()
        for invoice_id, connection_id, external_id in rows:
            try:
                fresh = self.status_checker(connection_id, external_id)
            except AdapterError as exc:
                log.warning("status re-check failed for invoice %s: %s", invoice_id, exc)
                continue
            if fresh is None:
                continue
            with write_session(self.sessions) as s:
                inv = lock_invoice(s, invoice_id)
                if inv is not None:
                    shop = s.get(Shop, inv.shop_id)
                    assert shop is not None
                    apply_platform_state(s, inv, fresh, now, shop=shop, source=PaymentSource.SYNC)

    def _fail_unverifiable(self, message_id: int, error: str, now: datetime) -> list[Outcome]:
        """The invoice's connection cannot be opened: the platform cannot be asked and its
        payment webhooks are refused, so a payment may be unknown here. Nothing is sent; the
        claims fail (never stranded) and the owner gets a task; the tick carries on."""
        reason = f"not sent: its platform connection cannot be used ({error})"
        outcomes: list[Outcome] = []
        with write_session(self.sessions) as s:
            msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
            if (
                msg is None
                or msg.state is not MessageState.CLAIMED
                or msg.lease_owner != self.worker
            ):
                return outcomes
            msg.state = MessageState.FAILED
            msg.last_error = reason
            msg.lease_until = None
            for rem in s.scalars(
                select(Reminder)
                .where(Reminder.message_id == msg.id, Reminder.state == ReminderState.CLAIMED)
                .order_by(Reminder.id)
            ):
                inv = lock_invoice(s, rem.invoice_id)
                assert inv is not None
                rem.state = ReminderState.FAILED
                rem.reason = reason
                add_timeline(s, inv, now, TimelineKind.REMINDER_FAILED, reason, reminder_id=rem.id)
                outcomes.append(Outcome(inv.number, rem.step_key, "failed", reason))
            open_task(
                s,
                shop_id=msg.shop_id,
                customer_id=msg.customer_id,
                kind=TaskKind.SEND_FAILED,
                title=(
                    "A reminder was not sent: its platform connection cannot be used. Check the "
                    "invoice is still owed, then send it by hand"
                ),
                detail=reason,
                dedupe_key=f"unverifiable:message:{msg.id}",
            )
        return outcomes

    def _prepare(
        self, message_id: int, now: datetime, outcomes: list[Outcome], *, check_waiting: bool
    ) -> _Prepared | None:
        with write_session(self.sessions) as s:
            msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
            if (
                msg is None
                or msg.kind is not MessageKind.REMINDER  # thank-yous have their own sender
                or msg.state is not MessageState.CLAIMED
                or msg.lease_owner != self.worker
            ):
                return None  # someone else has it, or it is settled
            customer = s.get(Customer, msg.customer_id)
            shop = s.get(Shop, msg.shop_id)
            assert customer is not None and shop is not None
            live: list[tuple[Invoice, Reminder, StepSpec]] = []
            reminders = s.scalars(
                select(Reminder)
                .where(Reminder.message_id == msg.id, Reminder.state == ReminderState.CLAIMED)
                .order_by(Reminder.id)
            ).all()
            for rem in reminders:
                inv = lock_invoice(s, rem.invoice_id)
                assert inv is not None
                reason = _not_sendable(inv, customer, shop, now)
                if reason is not None:
                    _cancel(s, rem, inv, reason, now)
                    outcomes.append(Outcome(inv.number, rem.step_key, "cancelled", reason))
                    continue
                live.append((inv, rem, self._spec(s, rem.step_id)))
            if live and check_waiting and self.waiting_payments is not None:
                refs = [(inv.connection_id, inv.external_id) for inv, _, _ in live]
                if _has_waiting_deliveries(s, refs):
                    raise _PaymentWaiting(refs)  # rolls this transaction back: nothing changed
            if not live:
                msg.state = MessageState.CANCELLED
                msg.lease_until = None
                return None
            # What the message may say about the past: one query for all its invoices.
            history = sent_history(s, [inv.id for inv, _, _ in live])
            ctx = build_context(
                shop, customer, [(inv, spec) for inv, _, spec in live], now, history
            )
            try:
                rendered = self.renderer.render(ctx)
            except TemplateError as exc:
                self._fail_render(s, msg, live, str(exc), now, outcomes)
                return None
            msg.state = MessageState.SENDING
            msg.lease_until = self.clock() + self.send_lease
            msg.attempts += 1
            msg.recipient = customer.email
            msg.subject, msg.body_text, msg.body_html = (
                rendered.subject,
                rendered.text,
                rendered.html,
            )
            for inv, rem, _ in live:
                rem.state = ReminderState.SENDING
                rem.recipient = customer.email
                rem.subject = rendered.subject
                rem.body_text = rendered.text
                rem.amount_due_minor = inv.amount_due_minor
            assert customer.email is not None
            mail = OutgoingMail(
                message_id=msg.id,
                to_email=customer.email,
                to_name=customer.name,
                from_email=shop.sender_email or shop.owner_email,
                from_name=shop.sender_name or shop.name,
                reply_to=shop.contact_email or shop.owner_email,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                step=ctx.step,
                invoice_numbers=tuple(inv.number for inv, _, _ in live),
                reminder_ids=tuple(rem.id for _, rem, _ in live),
            )
            return _Prepared(mail, tuple(rem.id for _, rem, _ in live))

    def _fail_render(
        self,
        s: Session,
        msg: Message,
        live: list[tuple[Invoice, Reminder, StepSpec]],
        error: str,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        msg.state = MessageState.FAILED
        msg.last_error = error
        msg.lease_until = None
        for inv, rem, _ in live:
            rem.state = ReminderState.FAILED
            rem.reason = error
            add_timeline(s, inv, now, TimelineKind.REMINDER_FAILED, error, reminder_id=rem.id)
            outcomes.append(Outcome(inv.number, rem.step_key, "failed", error))
        open_task(
            s,
            shop_id=msg.shop_id,
            customer_id=msg.customer_id,
            kind=TaskKind.SEND_FAILED,
            title="A reminder template does not render: fix it in the sequence editor",
            detail=error,
            dedupe_key=f"render:message:{msg.id}",
        )

    def _record(
        self,
        message_id: int,
        prepared: _Prepared,
        result: DeliveryResult,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        outcome = result.outcome
        msg_state, rem_state, kind = _RESULT_STATE[outcome]
        with write_session(self.sessions) as s:
            msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
            assert msg is not None
            settle_message(msg, msg_state, result, now)
            recipient = prepared.mail.to_email  # the address it actually went to
            for rem in s.scalars(select(Reminder).where(Reminder.id.in_(prepared.reminder_ids))):
                inv = s.get(Invoice, rem.invoice_id)
                assert inv is not None
                rem.state = rem_state
                rem.provider_message_id = result.provider_message_id
                if outcome is DeliveryOutcome.SENT:
                    rem.sent_at = now
                else:
                    rem.reason = result.error
                summary = f"{rem.step_key} {outcome.value} to {recipient}"
                add_timeline(s, inv, now, kind, summary, reminder_id=rem.id)
                outcomes.append(
                    Outcome(inv.number, rem.step_key, outcome.value, result.error or "", recipient)
                )
                spec = self._spec(s, rem.step_id)
                if outcome is DeliveryOutcome.SENT and (spec.sends_letter or spec.hands_off):
                    shop = s.get(Shop, msg.shop_id)
                    customer = s.get(Customer, msg.customer_id)
                    assert shop is not None and customer is not None
                    self._after_sent(s, shop, customer, inv, rem, spec, now, outcomes)
            open_outcome_task(s, msg, result, _task_title(outcome, prepared.mail))

    # -- letters ------------------------------------------------------------------------------

    def deliver_letter(self, reminder_id: int, now: datetime) -> list[Outcome]:
        """A step without email, in one go: by its channel, a letter (the PDF, handed to a
        person to post) or a task for a person; a channel with no transport fails, never
        "sent"."""
        outcomes: list[Outcome] = []
        with write_session(self.sessions) as s:
            rem = s.scalar(select(Reminder).where(Reminder.id == reminder_id).with_for_update())
            if rem is None or rem.state is not ReminderState.CLAIMED or rem.message_id is not None:
                return outcomes
            inv = lock_invoice(s, rem.invoice_id)
            assert inv is not None
            shop = s.get(Shop, inv.shop_id)
            customer = s.get(Customer, inv.customer_id)
            assert shop is not None and customer is not None
            reason = _not_sendable(inv, customer, shop, now, email=False)
            if reason is not None:
                _cancel(s, rem, inv, reason, now)
                outcomes.append(Outcome(inv.number, rem.step_key, "cancelled", reason))
                return outcomes
            rem.amount_due_minor = inv.amount_due_minor
            spec = self._spec(s, rem.step_id)
            handler = self._without_email.get(rem.channel, self._no_transport)
            handler(s, shop, customer, inv, rem, spec, now, outcomes)
        return outcomes

    def _post_letter(
        self,
        s: Session,
        shop: Shop,
        customer: Customer,
        inv: Invoice,
        rem: Reminder,
        spec: StepSpec,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        """A letter step: the letter is its transport, whatever ``sends_letter`` says."""
        rem.state = ReminderState.SENT
        rem.sent_at = now
        outcomes.append(Outcome(inv.number, rem.step_key, "letter", "", customer.email))
        self._after_sent(
            s, shop, customer, inv, rem, replace(spec, sends_letter=True), now, outcomes
        )

    def _hand_to_person(
        self,
        s: Session,
        shop: Shop,
        customer: Customer,
        inv: Invoice,
        rem: Reminder,
        spec: StepSpec,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        """A task step: a person does it; the reminder says so and is never "sent"."""
        rem.state = ReminderState.HANDED_OFF
        rem.reason = "task step: handed to a person, nothing sent automatically"
        step = spec.key.replace("_", " ")
        open_task(
            s,
            shop_id=shop.id,
            invoice_id=inv.id,
            customer_id=customer.id,
            kind=TaskKind.FOLLOW_UP,
            title=f"Invoice {inv.number}: {step} is yours to do (contact {customer.email})",
            dedupe_key=f"follow_up:reminder:{rem.id}",
        )
        add_timeline(
            s,
            inv,
            now,
            TimelineKind.REMINDER_HANDED_OFF,
            f"{spec.key} handed to a person",
            reminder_id=rem.id,
        )
        outcomes.append(Outcome(inv.number, rem.step_key, "handed_off", rem.reason, customer.email))
        # A letter the step asks for goes with the task; the task already hands it over.
        self._after_sent(s, shop, customer, inv, rem, replace(spec, hands_off=False), now, outcomes)

    def _no_transport(
        self,
        s: Session,
        shop: Shop,
        customer: Customer,
        inv: Invoice,
        rem: Reminder,
        spec: StepSpec,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        """A channel nothing can carry (an older row, e.g. SMS): fail it, tell a person."""
        reason = (
            f"step {rem.step_key!r}: channel {rem.channel.value!r} has no transport; "
            "nothing was sent"
        )
        rem.state = ReminderState.FAILED
        rem.reason = reason
        add_timeline(s, inv, now, TimelineKind.REMINDER_FAILED, reason, reminder_id=rem.id)
        open_task(
            s,
            shop_id=shop.id,
            invoice_id=inv.id,
            customer_id=customer.id,
            kind=TaskKind.SEND_FAILED,
            title=f"Invoice {inv.number}: {rem.step_key} could not go out — change its channel",
            detail=reason,
            dedupe_key=f"no_transport:reminder:{rem.id}",
        )
        outcomes.append(Outcome(inv.number, rem.step_key, "failed", reason, customer.email))

    def _after_sent(
        self,
        s: Session,
        shop: Shop,
        customer: Customer,
        inv: Invoice,
        rem: Reminder,
        spec: StepSpec,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        if spec.sends_letter:
            history = sent_history(s, [inv.id], excluding=[rem.id])
            ctx = build_context(shop, customer, [(inv, spec)], now, history)
            letter = self._store_letter(s, shop, inv, spec, ctx, now)
            rem.letter_id = letter.id
            open_task(
                s,
                shop_id=shop.id,
                invoice_id=inv.id,
                customer_id=customer.id,
                kind=TaskKind.LETTER_TO_POST,
                title=f"Letter to post: {spec.key.replace('_', ' ')} for invoice {inv.number}",
                letter_id=letter.id,
                dedupe_key=f"letter:reminder:{rem.id}",
            )
            add_timeline(
                s,
                inv,
                now,
                TimelineKind.LETTER_READY,
                f"{spec.key} letter ready",
                reminder_id=rem.id,
            )
        if spec.hands_off:
            open_task(
                s,
                shop_id=shop.id,
                invoice_id=inv.id,
                customer_id=customer.id,
                kind=TaskKind.ESCALATION,
                title=f"Invoice {inv.number}: {spec.key.replace('_', ' ')} sent, over to you",
                dedupe_key=f"escalation:step:{rem.id}",
            )

    def _store_letter(
        self,
        s: Session,
        shop: Shop,
        inv: Invoice,
        spec: StepSpec,
        ctx: ReminderContext,
        now: datetime,
    ) -> LetterDocument:
        """The PDF kept in the store, in the transaction that records the send."""
        from connector.dunning.letters import render_letter  # fpdf2 loads only when needed

        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", inv.number)
        letter = LetterDocument(
            shop_id=shop.id,
            invoice_id=inv.id,
            filename=f"{safe}-{inv.id}-{spec.key}.pdf",
            content=render_letter(ctx, self.renderer),
            created_at=now,
        )
        s.add(letter)
        s.flush()
        return letter


class _PaymentWaiting(Exception):
    def __init__(self, invoices: list[tuple[int, str]]) -> None:
        super().__init__(f"deliveries waiting to be applied for {invoices}")
        self.invoices = invoices


def _has_waiting_deliveries(s: Session, invoices: list[tuple[int, str]]) -> bool:
    """A stored delivery naming one of these invoices is not applied yet (one indexed probe,
    inside the transaction that holds the invoices' locks)."""
    found = s.scalar(
        select(WebhookEvent.id)
        .where(
            tuple_(WebhookEvent.connection_id, WebhookEvent.invoice_ref).in_(invoices),
            WebhookEvent.outcome.in_((WebhookOutcome.PENDING, WebhookOutcome.FAILED)),
        )
        .limit(1)
    )
    return found is not None


def _not_sendable(
    inv: Invoice, customer: Customer, shop: Shop, now: datetime, *, email: bool = True
) -> str | None:
    """Why this invoice must not get a reminder right now, re-read under lock; None if it may."""
    facts = facts_for(inv, customer, shop)
    if not facts.status.is_owed:
        return f"no longer owed ({facts.status.value})"
    if facts.customer_erased:
        return "customer erased"
    if facts.customer_excluded:
        return "customer excluded"
    if facts.paused and (facts.paused_until is None or facts.paused_until > now):
        return f"paused ({inv.pause_reason})"
    if facts.handed_off:
        return "handed to a person"
    if email and facts.email_blocked:
        return "email address blocked"
    return None


def _cancel(s: Session, rem: Reminder, inv: Invoice, reason: str, now: datetime) -> None:
    rem.state = ReminderState.CANCELLED
    rem.reason = reason
    add_timeline(
        s,
        inv,
        now,
        TimelineKind.REMINDER_CANCELLED,
        f"{rem.step_key}: {reason}",
        reminder_id=rem.id,
    )


def _task_title(outcome: DeliveryOutcome, mail: OutgoingMail) -> str:
    numbers = ", ".join(mail.invoice_numbers)
    if outcome is DeliveryOutcome.UNKNOWN:
        return (
            f"Did the {mail.step} reminder for {numbers} reach {mail.to_email}? "
            "Its outcome was lost; it will not be sent again automatically"
        )
    return f"The {mail.step} reminder for {numbers} to {mail.to_email} could not be sent"
