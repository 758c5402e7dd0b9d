"""One dunning pass (a tick): reap what crashed workers left, claim what is due, deliver it,
then send the thank-yous that payments recorded (connector.dunning.thank_you), including those
of payments the deliverer's platform re-check discovered during this very tick.

Correctness never depends on there being one scheduler: any number of ticks may run at once,
in threads or processes. The database claim (unique reminder per step, unique message per
customer and day, leases) is what makes each reminder go out at most once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connector.dunning.claims import (
    Claimer,
    ClaimResult,
    DuePosition,
    Outcome,
    StepCatalog,
    due_customers,
    plan_then_claim,
)
from connector.dunning.deliver import Deliverer, StatusChecker, WaitingPayments
from connector.dunning.rendering import ReminderRenderer
from connector.dunning.send_batch import BatchSender
from connector.dunning.statement_step import deliver_statement
from connector.dunning.thank_you import ThankYouOptions, ThankYouSender
from connector.ledger import add_timeline
from connector.mail.base import MailTransport
from connector.store.db import is_sqlite, write_session
from connector.store.models import (
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Reminder,
    ReminderState,
    TaskKind,
    TimelineKind,
)
from connector.tasks import open_task

log = logging.getLogger(__name__)

#: The messages a tick claims (and the reaper settles): the day's reminders, the statements
#: of statement steps. Thank-yous have their own sender.
ENGINE_KINDS = (MessageKind.REMINDER, MessageKind.STATEMENT)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class TickReport:
    now: datetime
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.outcome for o in self.outcomes))

    def as_dict(self) -> dict[str, object]:
        return {
            "now": self.now.isoformat(),
            "counts": self.counts(),
            "outcomes": [
                {
                    "invoice": o.invoice,
                    "step": o.step,
                    "outcome": o.outcome,
                    "reason": o.reason,
                    "customer": o.customer,
                }
                for o in self.outcomes
            ],
        }


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    letters_dir: Path
    claim_lease: timedelta = timedelta(minutes=5)
    send_lease: timedelta = timedelta(minutes=2)  # longer than the transport's whole budget
    concurrency: int = 16
    batch: int = 500
    max_busy_waits: int = 200


class DunningRunner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: MailTransport,
        options: RunnerOptions,
        *,
        renderer: ReminderRenderer | None = None,
        status_checker: StatusChecker | None = None,
        waiting_payments: WaitingPayments | None = None,
        clock: Callable[[], datetime] = _utcnow,
        stopping: threading.Event | None = None,
        give_way: Callable[[], object] | None = None,
    ) -> None:
        self.sessions = sessions
        # Called before each claim and each batch (outside any transaction): `relance serve`
        # waits there, a bounded time, while webhook deliveries are being received.
        self.give_way = give_way
        # Set when the process is asked to stop: claim nothing more, finish what is in flight
        # (what was claimed and not sent stays CLAIMED: its lease runs out, a later tick takes
        # it over, as after a crash).
        self.stopping = stopping
        self.transport = transport
        self.options = options
        self.renderer = renderer or ReminderRenderer()
        self.status_checker = status_checker
        self.waiting_payments = waiting_payments
        self.clock = clock
        bind = sessions.kw.get("bind")
        self._skip_locked = bind is not None and not is_sqlite(bind)

    def tick(self, now: datetime | None = None, *, shop_id: int | None = None) -> TickReport:
        """One pass as if it were ``now`` (business time); leases always use the real clock.

        ``shop_id`` limits the pass to that shop's due reminders (``relance demo`` simulates
        days in its own shop only); what dead workers left and the thank-yous stay with the
        regular, unscoped ticks."""
        now = now or self.clock()
        if now.tzinfo is None:
            raise ValueError("tick needs a timezone-aware 'now'")
        worker = (
            f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"
        )
        report = TickReport(now)
        deliverer = self.deliverer(worker)
        messages, statements, letters = (
            self._reap(worker, now, report) if shop_id is None else ([], [], [])
        )
        concurrency = max(1, self.options.concurrency)
        catalog = StepCatalog()
        # Messages go out in batches (connector.dunning.send_batch): a few batch threads
        # prepare and record, the send pool carries the mail calls of all of them.
        batch_threads = 1 if concurrency == 1 else max(2, min(4, concurrency // 8))
        per_batch = max(1, min(64, 2 * concurrency))
        # Claim about what the senders take next, not more: on SQLite (one writer) a short claim
        # transaction lets the senders record in between; with several workers a big claim
        # would leave one worker sending what it hoarded while the others have nothing left.
        batch = min(self.options.batch, 64)
        with (
            ThreadPoolExecutor(max_workers=batch_threads) as pool,
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send") as sends,
        ):
            in_flight: set[Future[list[Outcome]]] = set()
            sender = BatchSender(deliverer, sends)

            def deliver(chunk: list[int]) -> list[Outcome]:
                self._give_way()
                return sender.deliver(chunk, now)

            def submit_messages(ids: list[int]) -> None:
                for start in range(0, len(ids), per_batch):
                    in_flight.add(pool.submit(deliver, ids[start : start + per_batch]))

            def settle(limit: int) -> None:
                """Backpressure: claim no further ahead than the senders can keep up with, so
                claims never outlive their lease in a queue and memory stays flat. Stopping:
                the batches not started are dropped (their messages stay CLAIMED)."""
                if self._stopping():
                    for fut in in_flight:
                        fut.cancel()  # only one not started yet: no mail call was made for it
                while len(in_flight) > limit:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        in_flight.discard(fut)
                        if not fut.cancelled():
                            report.outcomes.extend(fut.result())

            def submit_statements(ids: list[int]) -> None:
                in_flight.update(pool.submit(deliver_statement, deliverer, m, now) for m in ids)

            def submit_claimed(claimed: ClaimResult) -> None:
                report.outcomes.extend(claimed.outcomes)
                submit_messages(claimed.message_ids)
                submit_statements(claimed.statement_ids)
                in_flight.update(
                    pool.submit(deliverer.deliver_letter, r, now)
                    for r in claimed.letter_reminder_ids
                )

            submit_messages(messages)
            submit_statements(statements)
            in_flight.update(pool.submit(deliverer.deliver_letter, r, now) for r in letters)
            busy_waits = 0
            # Where this tick's reads of the due invoices have reached (claims.due_customers):
            # each batch reads on from there; at the end, from the front again for what was
            # passed over while another worker held it.
            after: DuePosition | None = None
            while not self._stopping():
                settle(2 * batch_threads)
                self._give_way()
                lease_until = self.clock() + self.options.claim_lease
                catalog = catalog.for_next_batch()
                if not self._skip_locked:  # SQLite: planned before its short write transaction
                    claimed = plan_then_claim(
                        self.sessions,
                        now,
                        batch,
                        worker=worker,
                        lease_until=lease_until,
                        catalog=catalog,
                        shop_id=shop_id,
                    )
                    if claimed is None:
                        break  # nothing due (one writer: nothing is someone else's)
                    submit_claimed(claimed)
                    continue
                # PostgreSQL: planned under the rows' locks (SKIP LOCKED shares the work out).
                with write_session(self.sessions) as s:
                    customers, reached = due_customers(
                        s, now, batch, skip_locked=True, shop_id=shop_id, after=after
                    )
                    if reached is None and after is not None:
                        after = None  # the end of the due range: from the front once more
                        continue
                    from_front, after = after is None, reached
                    if not customers:
                        if not self._anything_due(s, now, shop_id):
                            break
                        claimed = None
                    else:
                        claimer = Claimer(
                            s, worker=worker, lease_until=lease_until, catalog=catalog
                        )
                        claimed = claimer.claim_customers(customers, now, skip_locked=True)
                if claimed is None:
                    if not from_front:
                        continue  # those were taken; the invoices after them may not be
                    busy_waits += 1  # everything due is locked by other workers right now
                    if busy_waits > self.options.max_busy_waits:
                        break
                    time.sleep(0.02)
                    continue
                submit_claimed(claimed)
            settle(0)
        if shop_id is None and not self._stopping():
            report.outcomes.extend(self.thank_you_sender().run(now))
        return report

    def _give_way(self) -> None:
        if self.give_way is not None:
            self.give_way()

    def _stopping(self) -> bool:
        return self.stopping is not None and self.stopping.is_set()

    def deliverer(self, worker: str) -> Deliverer:
        """The sender of what ``worker`` claimed (a tick's claims, or the owner's send-now)."""
        return Deliverer(
            self.sessions,
            self.transport,
            self.renderer,
            letters_dir=self.options.letters_dir,
            worker=worker,
            send_lease=self.options.send_lease,
            clock=self.clock,
            status_checker=self.status_checker,
            waiting_payments=self.waiting_payments,
        )

    def thank_you_sender(self) -> ThankYouSender:
        return ThankYouSender(
            self.sessions,
            self.transport,
            renderer=self.renderer,
            options=ThankYouOptions(
                claim_lease=self.options.claim_lease,
                send_lease=self.options.send_lease,
                concurrency=min(self.options.concurrency, 4),
            ),
            clock=self.clock,
        )

    def _anything_due(self, s: Session, now: datetime, shop_id: int | None) -> bool:
        q = select(Invoice.id).where(Invoice.next_action_at <= now)
        if shop_id is not None:
            q = q.where(Invoice.shop_id == shop_id)
        return s.scalar(q.limit(1)) is not None

    def _reap(
        self, worker: str, now: datetime, report: TickReport
    ) -> tuple[list[int], list[int], list[int]]:
        """Settle what dead workers left: SENDING → UNKNOWN (raised, never resent); CLAIMED
        past its lease → taken over (the mail API was never called for it). Returns the
        reminder messages, the statement-step messages and the letters taken over."""
        real_now = self.clock()
        mine: list[int] = []
        statements: list[int] = []
        letters: list[int] = []
        with write_session(self.sessions) as s:
            lost = s.scalars(
                select(Message)
                .where(
                    # Thank-yous: their own sender. A statement the owner sent has no lease.
                    Message.kind.in_(ENGINE_KINDS),
                    Message.state == MessageState.SENDING,
                    Message.lease_until < real_now,
                )
                .with_for_update(skip_locked=True)
            ).all()
            for msg in lost:
                msg.state = MessageState.UNKNOWN
                msg.lease_until = None
                msg.last_error = "the worker stopped while sending; outcome unknown"
                for rem in s.scalars(
                    select(Reminder).where(
                        Reminder.message_id == msg.id, Reminder.state == ReminderState.SENDING
                    )
                ):
                    rem.state = ReminderState.UNKNOWN
                    rem.reason = msg.last_error
                    inv = s.get(Invoice, rem.invoice_id)
                    assert inv is not None
                    add_timeline(
                        s,
                        inv,
                        now,
                        TimelineKind.REMINDER_UNKNOWN,
                        msg.last_error,
                        reminder_id=rem.id,
                    )
                    report.outcomes.append(
                        Outcome(inv.number, rem.step_key, "unknown", msg.last_error)
                    )
                open_task(
                    s,
                    shop_id=msg.shop_id,
                    customer_id=msg.customer_id,
                    kind=TaskKind.UNKNOWN_OUTCOME,
                    title=(
                        f"Did the reminder to {msg.recipient} go out? A worker stopped while "
                        "sending it; it will not be sent again automatically"
                    ),
                    dedupe_key=f"{TaskKind.UNKNOWN_OUTCOME.value}:message:{msg.id}",
                )
            orphans = s.scalars(
                select(Message)
                .where(
                    Message.kind.in_(ENGINE_KINDS),
                    Message.state == MessageState.CLAIMED,
                    Message.lease_until < real_now,
                )
                .with_for_update(skip_locked=True)
            ).all()
            for msg in orphans:
                msg.lease_owner = worker
                msg.lease_until = real_now + self.options.claim_lease
                (statements if msg.kind is MessageKind.STATEMENT else mine).append(msg.id)
            stale_letters = s.scalars(
                select(Reminder)
                .where(
                    Reminder.state == ReminderState.CLAIMED,
                    Reminder.message_id.is_(None),
                    Reminder.updated_at < real_now - self.options.claim_lease,
                )
                .with_for_update(skip_locked=True)
            ).all()
            for rem in stale_letters:
                rem.updated_at = real_now
                letters.append(rem.id)
        return mine, statements, letters
