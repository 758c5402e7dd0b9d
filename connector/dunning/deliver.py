"""Phase 2 of a tick: turn each claimed message (or letter) into something sent, exactly once.

For an email:
1. re-check with the platform where the adapter can (outside any transaction);
2. a read (no lock): what would go out, as the template's context;
3. render it with no transaction open (owner templates in a limited process: render_pool);
4. one short transaction: take the message if it is still ours and CLAIMED, re-read every
   invoice under lock, cancel what is no longer owed; if the context is no longer what was
   rendered (a payment, a new amount, a new name), go back to 2; else mark SENDING with the
   rendered evidence (a crash from here on leaves the outcome unknown, so it is never sent
   again blindly);
5. the mail call, outside any transaction;
6. one transaction: record the outcome, the evidence, the timeline, letters and tasks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from connector.crypto import SecretError
from connector.domain.dates import local_date
from connector.dunning.claims import Outcome, facts_for
from connector.dunning.compose import (
    PlanFacts,
    SentHistory,
    build_context,
    current_instalments,
    message_deadline,
    sent_history,
)
from connector.dunning.context import ReminderContext
from connector.dunning.letter_parties import missing_for_letter
from connector.dunning.planner import StepSpec
from connector.dunning.posting import letter_deadline
from connector.dunning.render_pool import GuardedRenderer
from connector.dunning.rendering import ReminderRenderer, RenderedMessage, TemplateError
from connector.dunning.sequence import spec_of
from connector.dunning.settle import (
    open_outcome_task,
    outgoing_mail,
    sending_values,
    settle_message,
)
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
#: Snapshot → render → re-check rounds before a message that keeps changing is left for later.
_MAX_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class _Prepared:
    mail: OutgoingMail
    reminder_ids: tuple[int, ...]


class _Again:
    """What the customer would read changed between the snapshot and the lock: render again."""


_AGAIN = _Again()


@dataclass(slots=True)
class _Gathered:
    """One message as read in one transaction: what may go out and what must not."""

    message: Message
    shop: Shop
    customer: Customer
    live: list[tuple[Invoice, Reminder, StepSpec]] = field(default_factory=list)
    unsendable: list[tuple[Invoice, Reminder, str]] = field(default_factory=list)
    # When each live invoice's reminders really went out: what the message may say of the past.
    history: SentHistory = field(default_factory=dict)
    # The current instalment of each live invoice under a payment plan: what it asks for.
    plans: PlanFacts = field(default_factory=dict)

    def context(self, now: datetime) -> ReminderContext | None:
        """What the template sees (None when nothing may go out)."""
        if not self.live:
            return None
        items = [(inv, spec) for inv, _, spec in self.live]
        return build_context(self.shop, self.customer, items, now, self.history, plans=self.plans)

    def cancel_unsendable(self, s: Session, now: datetime, outcomes: list[Outcome]) -> None:
        for inv, rem, reason in self.unsendable:
            _cancel(s, rem, inv, reason, now)
            outcomes.append(Outcome(inv.number, rem.step_key, "cancelled", reason))
        self.unsendable.clear()


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
        self.render = GuardedRenderer(renderer).render  # owner templates: a limited process
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
        check_waiting = self.waiting_payments is not None
        for _ in range(_MAX_ROUNDS):
            try:
                prepared = self._prepare(message_id, now, outcomes, check_waiting=check_waiting)
            except _PaymentWaiting as waiting:
                # A delivery the web processes stored and did not apply yet names one of these
                # invoices: apply it (outside any transaction), then decide again.
                assert self.waiting_payments is not None
                self.waiting_payments(waiting.invoices, now)
                check_waiting = False
                continue
            if prepared is _AGAIN:
                continue  # something changed while we rendered: render what is true now
            if not isinstance(prepared, _Prepared):
                return outcomes
            result = self.transport.send(prepared.mail)
            self._record(message_id, prepared, result, now, outcomes)
            return outcomes
        # Changing under us round after round: leave it CLAIMED; its lease runs out and the
        # next tick takes it over (the mail API was never called for it).
        log.warning(
            "message %s kept changing while being prepared; left for the next tick", message_id
        )
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
    ) -> _Prepared | _Again | None:
        """Read what to send (no lock), render it with no transaction open, then, under the
        write lock, check that it is still ours and still true, and mark it SENDING."""
        with self.sessions() as s:
            snapshot = self._gather(s, message_id, now, check_waiting=check_waiting)
            ctx = snapshot.context(now) if snapshot is not None else None
        if snapshot is None:
            return None  # someone else has it, or it is settled
        rendered: RenderedMessage | TemplateError | None = None
        if ctx is not None:
            try:
                rendered = self.render(ctx)  # no transaction held: may take a while
            except TemplateError as exc:
                rendered = exc
        with write_session(self.sessions) as s:
            current = self._gather(s, message_id, now, check_waiting=check_waiting, lock=True)
            if current is None:
                return None
            current.cancel_unsendable(s, now, outcomes)
            live = current.live
            msg = current.message
            if not live:
                msg.state = MessageState.CANCELLED
                msg.lease_until = None
                return None
            if rendered is None or current.context(now) != ctx:
                return _AGAIN  # what the customer would read changed since the snapshot
            if isinstance(rendered, TemplateError):
                self._fail_render(s, msg, live, str(rendered), now, outcomes)
                return None
            assert ctx is not None
            return self._mark_sending(current, ctx, rendered, now)

    def _gather(
        self,
        s: Session,
        message_id: int,
        now: datetime,
        *,
        check_waiting: bool,
        lock: bool = False,
    ) -> _Gathered | None:
        """The message if it is still ours and CLAIMED, with its reminders and invoices (locked
        when ``lock``) split into those that may go out and those that must not."""
        query = select(Message).where(Message.id == message_id)
        msg = s.scalar(query.with_for_update() if lock else query)
        if (
            msg is None
            or msg.kind is not MessageKind.REMINDER  # thank-yous have their own sender
            or msg.state is not MessageState.CLAIMED
            or msg.lease_owner != self.worker
        ):
            return None
        customer = s.get(Customer, msg.customer_id)
        shop = s.get(Shop, msg.shop_id)
        assert customer is not None and shop is not None
        gathered = _Gathered(msg, shop, customer)
        reminders = s.scalars(
            select(Reminder)
            .where(Reminder.message_id == msg.id, Reminder.state == ReminderState.CLAIMED)
            .order_by(Reminder.id)
        ).all()
        for rem in reminders:
            inv = lock_invoice(s, rem.invoice_id) if lock else s.get(Invoice, rem.invoice_id)
            assert inv is not None
            reason = _not_sendable(inv, customer, shop, now)
            if reason is not None:
                gathered.unsendable.append((inv, rem, reason))
            else:
                gathered.live.append((inv, rem, self._spec(s, rem.step_id)))
        if gathered.live and check_waiting:
            refs = [(inv.connection_id, inv.external_id) for inv, _, _ in gathered.live]
            if _has_waiting_deliveries(s, refs):
                raise _PaymentWaiting(refs)  # rolls this transaction back: nothing changed
        if gathered.live:  # one query for all its invoices
            gathered.history = sent_history(s, [inv.id for inv, _, _ in gathered.live])
            gathered.plans = current_instalments(s, (inv for inv, _, _ in gathered.live))
        return gathered

    def _mark_sending(
        self, current: _Gathered, ctx: ReminderContext, rendered: RenderedMessage, now: datetime
    ) -> _Prepared:
        msg_values, reminder_values, prepared = self._sending(current, ctx, rendered, now)
        for key, value in msg_values.items():
            setattr(current.message, key, value)
        for (_, rem, _), values in zip(current.live, reminder_values, strict=True):
            for key, value in values.items():
                setattr(rem, key, value)
        return prepared

    def _sending(
        self, current: _Gathered, ctx: ReminderContext, rendered: RenderedMessage, now: datetime
    ) -> tuple[dict[str, Any], list[dict[str, Any]], _Prepared]:
        """What marking a message SENDING writes: its row's values, each live reminder's (in
        ``current.live`` order), and the mail it then sends. Written by the ORM here, by one
        Core statement per table for a batch (connector.dunning.send_batch)."""
        msg, shop, customer, live = current.message, current.shop, current.customer, current.live
        # The deadline the rendered text announces (same computation as the context's).
        deadline_on = message_deadline(shop, (spec for _, _, spec in live), now)
        msg_values = sending_values(msg, customer, rendered, self.clock() + self.send_lease)
        reminder_values = [
            {
                "state": ReminderState.SENDING,
                "recipient": customer.email,
                "subject": rendered.subject,
                "body_text": rendered.text,
                "amount_due_minor": inv.amount_due_minor,
                "deadline_on": deadline_on,
            }
            for inv, _, _ in live
        ]
        mail = outgoing_mail(
            msg,
            shop,
            customer,
            rendered,
            step=ctx.step,
            invoice_numbers=tuple(inv.number for inv, _, _ in live),
            reminder_ids=tuple(rem.id for _, rem, _ in live),
        )
        return msg_values, reminder_values, _Prepared(mail, tuple(rem.id for _, rem, _ in live))

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
        """A letter step: the letter is its transport, whatever ``sends_letter`` says. A letter
        that cannot be made (no identification, no postal address) fails and says why."""
        missing = missing_for_letter(shop, customer)
        if missing:
            reason = _missing_reason(inv, missing)
            rem.state = ReminderState.FAILED
            rem.reason = reason
            add_timeline(s, inv, now, TimelineKind.REMINDER_FAILED, reason, reminder_id=rem.id)
            self._ask_for_letter_data(s, shop, customer, inv, rem, reason)
            outcomes.append(Outcome(inv.number, rem.step_key, "failed", reason, customer.email))
            return
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
        missing = missing_for_letter(shop, customer) if spec.sends_letter else []
        if missing:
            # The email went; the letter waits for what it needs, and a person is told what.
            reason = _missing_reason(inv, missing)
            add_timeline(s, inv, now, TimelineKind.REMINDER_FAILED, reason, reminder_id=rem.id)
            self._ask_for_letter_data(s, shop, customer, inv, rem, reason)
        elif spec.sends_letter:
            history = sent_history(s, [inv.id], excluding=[rem.id])
            dated = local_date(now, shop.timezone)  # planned posting: the day it is made
            rem.deadline_on = letter_deadline(shop, rem, spec, dated)
            letter = self._store_letter(
                s, shop, customer, inv, spec, history, dated, rem.deadline_on, now
            )
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

    def _ask_for_letter_data(
        self, s: Session, shop: Shop, customer: Customer, inv: Invoice, rem: Reminder, reason: str
    ) -> None:
        open_task(
            s,
            shop_id=shop.id,
            invoice_id=inv.id,
            customer_id=customer.id,
            kind=TaskKind.LETTER_DATA_MISSING,
            title=reason,
            dedupe_key=f"letter_data:reminder:{rem.id}",
        )

    def _store_letter(
        self,
        s: Session,
        shop: Shop,
        customer: Customer,
        inv: Invoice,
        spec: StepSpec,
        history: SentHistory,
        dated: date,
        deadline: date | None,
        now: datetime,
    ) -> LetterDocument:
        """The PDF kept in the store, in the transaction that records the send, dated ``dated``
        (its planned posting; recording the posting dates it again)."""
        from connector.dunning.letters import letter_pdf  # fpdf2 loads only when needed

        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", inv.number)
        letter = LetterDocument(
            shop_id=shop.id,
            invoice_id=inv.id,
            filename=f"{safe}-{inv.id}-{spec.key}.pdf",
            content=letter_pdf(shop, customer, inv, spec, history, dated, deadline, self.renderer),
            created_at=now,
        )
        s.add(letter)
        s.flush()
        return letter


def _missing_reason(inv: Invoice, missing: list[str]) -> str:
    """« Invoice F-1: no letter made — add your SIREN and registered office; add Marie Curie's
    postal address »."""
    return f"Invoice {inv.number}: no letter made — " + "; ".join(f"add {m}" for m in missing)


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
