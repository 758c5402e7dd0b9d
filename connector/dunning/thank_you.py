"""The optional thank-you after payment: recorded with the payment, sent once by the worker.

Where it lives: a ``Message`` row of kind ``thank_you`` naming its invoice, not a table of its
own. Message ids are what the mail transports key on (the outbox file ``message-<id>.json``,
SendGrid's ``custom_args.relance_message_id`` that brings delivery events back), so sharing the
table shares the id space: a thank-you can never collide with a reminder message, and a SendGrid
event for it finds the thank-you itself — it has no Reminder rows, so nothing is attached to a
reminder. Erasure, exports and connection removal already cover every Message. The discriminator
keeps the two rules apart: the one-reminder-message-per-customer-per-day index covers reminder
messages only (a thank-you neither blocks nor is blocked by a reminder the same day), and
``(invoice_id, kind)`` is unique (one thank-you per invoice, ever). The reminder runner ignores
thank-you rows (claims, reaper, deliverer) and this module ignores reminder rows.

Life of a thank-you (a transactional outbox):

1. ``connector.ledger.enqueue_thank_you``: when an owed invoice becomes fully PAID — webhook,
   sync, the deliverer's platform re-check, the owner — and the shop wants thank-yous, the
   invoice was chased (a reminder SENT) and the customer can be emailed, a PENDING row is
   inserted in the transaction that records the payment (``ON CONFLICT DO NOTHING``);
2. ``ThankYouSender.run``: claim PENDING rows (and CLAIMED ones whose lease ran out: the mail
   API was never called for them) under a lease, ``SKIP LOCKED`` on PostgreSQL;
3. per row: read and render with no transaction open; then one transaction: still ours and
   CLAIMED; re-read the invoice under its row lock (it must still be PAID: not refunded nor
   reopened), the customer (still reachable) and the shop (still wants them) — else CANCELLED
   with the reason; what was rendered still true (else read and render again); mark SENDING;
4. the mail call, outside any transaction;
5. record SENT / FAILED / UNKNOWN, with a timeline entry on the invoice.

A worker that dies after step 3 leaves the row SENDING: once its lease is over it becomes
UNKNOWN and is raised to the owner, never sent again. Thank-yous are sent as soon as the
payment is known, not held for the shop's reminder window: the customer has just paid.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from connector.dunning.claims import Outcome
from connector.dunning.compose import build_context
from connector.dunning.context import ReminderContext
from connector.dunning.render_pool import GuardedRenderer
from connector.dunning.rendering import ReminderRenderer, RenderedMessage, TemplateError
from connector.dunning.sequence import THANK_YOU_STEP
from connector.dunning.settle import (
    mark_sending,
    open_outcome_task,
    outgoing_mail,
    settle_message,
)
from connector.ledger import add_timeline, customer_unreachable, lock_invoice
from connector.mail.base import DeliveryOutcome, DeliveryResult, MailTransport, OutgoingMail
from connector.platform import InvoiceStatus
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Shop,
    TaskKind,
    TimelineKind,
)
from connector.tasks import open_task

#: What the renderer sees as the "step" of a thank-you (no penalties, no deadline).
STEP = THANK_YOU_STEP.key

_RESULT = {
    DeliveryOutcome.SENT: (MessageState.SENT, TimelineKind.THANK_YOU_SENT),
    DeliveryOutcome.FAILED: (MessageState.FAILED, TimelineKind.THANK_YOU_FAILED),
    DeliveryOutcome.UNKNOWN: (MessageState.UNKNOWN, TimelineKind.THANK_YOU_UNKNOWN),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class ThankYouOptions:
    claim_lease: timedelta = timedelta(minutes=5)
    send_lease: timedelta = timedelta(minutes=2)  # longer than the transport's whole budget
    concurrency: int = 4
    batch: int = 100


#: Snapshot → render → re-check rounds before a thank-you that keeps changing is left for later.
_MAX_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class _Prepared:
    mail: OutgoingMail
    invoice_number: str


class _Again:
    """What the customer would read changed between the snapshot and the lock: render again."""


_AGAIN = _Again()


class ThankYouSender:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: MailTransport,
        *,
        renderer: ReminderRenderer | None = None,
        options: ThankYouOptions | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.renderer = renderer or ReminderRenderer()
        self.render = GuardedRenderer(self.renderer).render  # owner templates: a limited process
        self.options = options or ThankYouOptions()
        self.clock = clock

    def run(self, now: datetime | None = None) -> list[Outcome]:
        """Settle what dead workers left, then send every pending thank-you. ``now`` is
        business time (timeline, sent_at); leases always use the real clock."""
        now = now or self.clock()
        if now.tzinfo is None:
            raise ValueError("the thank-you sender needs a timezone-aware 'now'")
        worker = new_worker_id()
        outcomes = self.reap(now)
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            while ids := self.claim(worker):
                for done in pool.map(lambda mid: self.deliver(mid, worker, now), ids):
                    outcomes.extend(done)
        return outcomes

    def claim(self, worker: str) -> list[int]:
        """Take up to a batch of PENDING thank-yous (or CLAIMED ones whose lease is over: the
        mail API was never called for them) for ``worker``, under a lease."""
        real_now = self.clock()
        with write_session(self.sessions) as s:
            rows = s.scalars(
                select(Message)
                .where(
                    Message.kind == MessageKind.THANK_YOU,
                    or_(
                        Message.state == MessageState.PENDING,
                        and_(
                            Message.state == MessageState.CLAIMED,
                            Message.lease_until < real_now,
                        ),
                    ),
                )
                .order_by(Message.id)
                .limit(self.options.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for msg in rows:
                msg.state = MessageState.CLAIMED
                msg.lease_owner = worker
                msg.lease_until = real_now + self.options.claim_lease
            return [msg.id for msg in rows]

    def reap(self, now: datetime) -> list[Outcome]:
        """SENDING past its lease: the worker died around the mail call. UNKNOWN, raised to the
        owner, never resent."""
        outcomes: list[Outcome] = []
        with write_session(self.sessions) as s:
            lost = s.scalars(
                select(Message)
                .where(
                    Message.kind == MessageKind.THANK_YOU,
                    Message.state == MessageState.SENDING,
                    Message.lease_until < self.clock(),
                )
                .with_for_update(skip_locked=True)
            ).all()
            for msg in lost:
                msg.state = MessageState.UNKNOWN
                msg.lease_until = None
                msg.last_error = "the worker stopped while sending; outcome unknown"
                inv = s.get(Invoice, msg.invoice_id)
                assert inv is not None
                add_timeline(s, inv, now, TimelineKind.THANK_YOU_UNKNOWN, msg.last_error)
                outcomes.append(Outcome(inv.number, STEP, "unknown", msg.last_error, msg.recipient))
                open_task(
                    s,
                    shop_id=msg.shop_id,
                    invoice_id=inv.id,
                    customer_id=msg.customer_id,
                    kind=TaskKind.UNKNOWN_OUTCOME,
                    title=(
                        f"Did the thank-you for invoice {inv.number} reach {msg.recipient}? A "
                        "worker stopped while sending it; it will not be sent again automatically"
                    ),
                    dedupe_key=f"{TaskKind.UNKNOWN_OUTCOME.value}:message:{msg.id}",
                )
        return outcomes

    # -- one thank-you ------------------------------------------------------------------------

    def deliver(self, message_id: int, worker: str, now: datetime) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for _ in range(_MAX_ROUNDS):
            prepared = self._prepare(message_id, worker, now, outcomes)
            if prepared is _AGAIN:
                continue  # the invoice, customer or shop changed while we rendered
            if not isinstance(prepared, _Prepared):
                return outcomes
            result = self.transport.send(prepared.mail)  # outside any transaction
            self._record(message_id, prepared, result, now, outcomes)
            return outcomes
        return outcomes  # left CLAIMED: its lease runs out and a later run takes it over

    def _prepare(
        self, message_id: int, worker: str, now: datetime, outcomes: list[Outcome]
    ) -> _Prepared | _Again | None:
        """Read and render with no transaction open; then, under the locks, check it is still
        ours, still due and still what was rendered, and mark it SENDING."""
        with self.sessions() as s:
            snapshot = _gather(s, message_id, worker)
            ctx = snapshot.context(now) if snapshot is not None else None
        if snapshot is None:
            return None  # another worker took it over, or it is settled
        rendered: RenderedMessage | TemplateError | None = None
        if ctx is not None:
            try:
                rendered = self.render(ctx)
            except TemplateError as exc:
                rendered = exc
        with write_session(self.sessions) as s:
            # The message first, then the invoice (and, joined, its customer): the order the
            # reminder deliverer and the erasure take locks in.
            current = _gather(s, message_id, worker, lock=True)
            if current is None:
                return None
            msg, inv, customer, shop = (
                current.message,
                current.invoice,
                current.customer,
                current.shop,
            )
            if current.reason is not None:
                msg.state = MessageState.CANCELLED
                msg.last_error = current.reason
                msg.lease_until = None
                add_timeline(
                    s,
                    inv,
                    now,
                    TimelineKind.THANK_YOU_CANCELLED,
                    f"thank-you cancelled: {current.reason}",
                )
                outcomes.append(
                    Outcome(inv.number, STEP, "cancelled", current.reason, customer.email)
                )
                return None
            if rendered is None or current.context(now) != ctx:
                return _AGAIN
            if isinstance(rendered, TemplateError):
                self._fail_render(s, msg, inv, str(rendered), now, outcomes)
                return None
            assert customer.email is not None  # customer_unreachable checked it
            mark_sending(msg, customer, rendered, self.clock() + self.options.send_lease)
            mail = outgoing_mail(
                msg, shop, customer, rendered, step=STEP, invoice_numbers=(inv.number,)
            )
            return _Prepared(mail, inv.number)

    def _fail_render(
        self,
        s: Session,
        msg: Message,
        inv: Invoice,
        error: str,
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        msg.state = MessageState.FAILED
        msg.last_error = error
        msg.lease_until = None
        add_timeline(s, inv, now, TimelineKind.THANK_YOU_FAILED, error)
        outcomes.append(Outcome(inv.number, STEP, "failed", error, msg.recipient))
        open_task(
            s,
            shop_id=msg.shop_id,
            invoice_id=inv.id,
            customer_id=msg.customer_id,
            kind=TaskKind.SEND_FAILED,
            title="The thank-you template does not render: fix it in the template editor",
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
        state, kind = _RESULT[outcome]
        recipient = prepared.mail.to_email  # the address it actually went to
        with write_session(self.sessions) as s:
            msg = s.scalar(select(Message).where(Message.id == message_id).with_for_update())
            assert msg is not None and msg.invoice_id is not None
            settle_message(msg, state, result, now)
            inv = s.get(Invoice, msg.invoice_id)
            assert inv is not None
            add_timeline(s, inv, now, kind, f"thank-you {outcome.value} to {recipient}")
            outcomes.append(
                Outcome(prepared.invoice_number, STEP, outcome.value, result.error or "", recipient)
            )
            title = (
                f"Did the thank-you for invoice {inv.number} reach {recipient}? Its outcome was "
                "lost; it will not be sent again automatically"
                if outcome is DeliveryOutcome.UNKNOWN
                else f"The thank-you for invoice {inv.number} to {recipient} could not be sent"
            )
            open_outcome_task(s, msg, result, title, invoice_id=inv.id)


@dataclass(frozen=True, slots=True)
class _Gathered:
    message: Message
    invoice: Invoice
    customer: Customer
    shop: Shop
    reason: str | None  # why it must not go out; None if it may

    def context(self, now: datetime) -> ReminderContext | None:
        if self.reason is not None:
            return None
        return build_context(self.shop, self.customer, [(self.invoice, THANK_YOU_STEP)], now)


def _gather(s: Session, message_id: int, worker: str, *, lock: bool = False) -> _Gathered | None:
    """The thank-you if it is still ours and CLAIMED, with its invoice (locked when ``lock``),
    customer and shop, and why it must not go out, if so."""
    query = select(Message).where(Message.id == message_id)
    msg = s.scalar(query.with_for_update() if lock else query)
    if (
        msg is None
        or msg.kind is not MessageKind.THANK_YOU
        or msg.state is not MessageState.CLAIMED
        or msg.lease_owner != worker
        or msg.invoice_id is None
    ):
        return None
    inv = lock_invoice(s, msg.invoice_id) if lock else s.get(Invoice, msg.invoice_id)
    customer = s.get(Customer, msg.customer_id)
    shop = s.get(Shop, msg.shop_id)
    assert inv is not None and customer is not None and shop is not None
    return _Gathered(msg, inv, customer, shop, _not_sendable(inv, customer, shop))


def _not_sendable(inv: Invoice, customer: Customer, shop: Shop) -> str | None:
    """Why this thank-you must not go out now, re-read under the invoice lock; None if it may."""
    if inv.status is not InvoiceStatus.PAID:
        return f"invoice no longer paid ({inv.status.value})"
    if not shop.thank_you_enabled:
        return "thank-you messages turned off"
    return customer_unreachable(customer)
