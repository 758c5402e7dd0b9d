"""Phase 1 of a tick: find due customers, plan their invoices and claim what must go out.

Everything here happens inside one write transaction per batch (a savepoint per customer):
the Reminder rows (unique per invoice and step) and the Message row (unique per customer and
local day) are the claim. Nothing external is called here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.domain.calendar import SendingWindow
from connector.dunning.assignment import ShopRules, load_rules
from connector.dunning.compose import schedule_due_on
from connector.dunning.ecb import flag_missing_ecb_rate
from connector.dunning.payment_ways import can_be_paid
from connector.dunning.planner import (
    Action,
    History,
    InvoiceFacts,
    Plan,
    StepSpec,
    plan,
    plan_retry,
    step_day,
    step_deadline,
)
from connector.dunning.rules import escalation_policy, sending_window
from connector.dunning.sequence import ensure_default_sequence, step_specs
from connector.dunning.skip_reasons import superseded_reasons
from connector.ledger import add_timeline
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Reminder,
    ReminderRetry,
    ReminderState,
    Sequence,
    Shop,
    StepContent,
    TaskKind,
    TimelineEntry,
    TimelineKind,
)
from connector.tasks import open_task

COUNTS_AS_SENT = (ReminderState.SENT, ReminderState.SENDING, ReminderState.UNKNOWN)
# A deadline counts once it may have reached the customer (a letter handed over with a task too).
ANNOUNCES_DEADLINE = (*COUNTS_AS_SENT, ReminderState.HANDED_OFF)
RECHECK_DELAY = timedelta(minutes=1)
# The tables, for Core inserts of a batch's claim (see Claimer._insert_batch).
_MESSAGES = cast(Table, Message.__table__)
_REMINDERS = cast(Table, Reminder.__table__)


@dataclass(frozen=True, slots=True)
class _Planning:
    """What planning a batch reads once, shared by every customer of the batch."""

    done: dict[int, set[int]]  # invoice → the steps it has a reminder for
    sent: dict[int, int]  # invoice → reminders that went out (retries not counted)
    deadlines: dict[int, date]  # invoice → the latest deadline announced
    reached: dict[int, int]  # invoice → the furthest offset reached (days from counted_from)
    retries: dict[int, tuple[int, int]]  # invoice → (bounced reminder, its step)
    now: datetime
    emailed: set[tuple[int, date]]  # (customer, local day) pairs already emailed
    stated: dict[int, Message]  # customer → their statement of account of today


def _later_than(when: datetime | None, now: datetime) -> datetime:
    """A tick must make progress: an invoice it looked at is never due again in the same pass."""
    return when if when is not None and when > now else now + RECHECK_DELAY


@dataclass(frozen=True, slots=True)
class Outcome:
    invoice: str
    step: str | None
    # sent | skipped | handed_off | prescribed | cancelled | failed | unknown | letter | waiting
    outcome: str
    reason: str = ""
    customer: str | None = None


@dataclass(slots=True)
class ClaimResult:
    message_ids: list[int] = field(default_factory=list)
    statement_ids: list[int] = field(default_factory=list)  # statement steps' messages
    letter_reminder_ids: list[int] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    customers_seen: int = 0


@dataclass(slots=True)
class _Batch:
    """The rows a whole-batch claim creates, inserted set-based once it is planned (the unit
    of work's per-row bookkeeping and, on PostgreSQL, multi-row INSERT … RETURNING statements
    of every column, parsed anew each time, were most of a claim's cost)."""

    messages: list[Message] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    joins: dict[Reminder, Message] = field(default_factory=dict)  # each one's message


class StepCatalog:
    """Step specs per sequence, loaded once per tick (shared by its claim transactions: the
    specs are plain values, so they outlive the session that read them); and the shops whose
    ECB rate table the tick has checked."""

    def __init__(self) -> None:
        self._by_sequence: dict[int, tuple[StepSpec, ...]] = {}
        self._default_for_shop: dict[int, int] = {}
        self._rules_for_shop: dict[int, ShopRules] = {}
        self.ecb_checked: set[int] = set()  # shops whose ECB table was checked in this tick

    def for_invoice(self, session: Session, shop: Shop, invoice: Invoice) -> tuple[StepSpec, ...]:
        seq_id = invoice.sequence_id  # pinned by the owner; else the rules decide
        if seq_id is None:
            if shop.id not in self._rules_for_shop:
                self._rules_for_shop[shop.id] = load_rules(session, shop.id)
            seq_id = self._rules_for_shop[shop.id].sequence_for(invoice)
        if seq_id is None:
            if shop.id not in self._default_for_shop:
                self._default_for_shop[shop.id] = ensure_default_sequence(session, shop).id
            seq_id = self._default_for_shop[shop.id]
        if seq_id not in self._by_sequence:
            seq = session.get(Sequence, seq_id)
            assert seq is not None
            self._by_sequence[seq_id] = step_specs(seq)
        return self._by_sequence[seq_id]


def due_customer_ids(
    session: Session, now: datetime, limit: int, *, skip_locked: bool, shop_id: int | None = None
) -> list[int]:
    """Customers with at least one invoice due, locked for this transaction.

    On PostgreSQL the invoice rows and then the customers are locked with SKIP LOCKED so
    concurrent workers share the work; on SQLite the IMMEDIATE transaction already excludes
    every other writer.
    """
    q = (
        select(Invoice.customer_id)
        .where(Invoice.next_action_at <= now)
        .order_by(Invoice.next_action_at)
        .limit(limit)
    )
    if shop_id is not None:
        q = q.where(Invoice.shop_id == shop_id)
    if skip_locked:
        q = q.with_for_update(skip_locked=True)
    candidates = list(dict.fromkeys(session.scalars(q)))
    if not candidates or not skip_locked:
        return candidates
    return list(
        session.scalars(
            select(Customer.id)
            .where(Customer.id.in_(candidates))
            .order_by(Customer.id)
            .with_for_update(skip_locked=True)
        )
    )


class Claimer:
    def __init__(
        self,
        session: Session,
        *,
        worker: str,
        lease_until: datetime,
        catalog: StepCatalog | None = None,
    ) -> None:
        self.s = session
        self.worker = worker
        self.lease_until = lease_until
        self.catalog = catalog or StepCatalog()
        self.shops: dict[int, Shop] = {}
        self.told_no_way_to_pay: set[int] = set()  # shops whose task was opened in this claim
        # A whole-batch claim (_claim_all) keeps its new rows out of the session; None: they
        # are the session's (one customer at a time, _claim_each).
        self._batch: _Batch | None = None

    def shop(self, shop_id: int) -> Shop:
        if shop_id not in self.shops:
            shop = self.s.get(Shop, shop_id)
            assert shop is not None
            self.shops[shop_id] = shop
        return self.shops[shop_id]

    def claim_customers(
        self, customer_ids: Iterable[int], now: datetime, *, skip_locked: bool
    ) -> ClaimResult:
        result = ClaimResult()
        ids = list(customer_ids)
        if not ids:
            return result
        q = select(Invoice).where(Invoice.customer_id.in_(ids), Invoice.next_action_at <= now)
        if skip_locked:
            q = q.with_for_update(skip_locked=True, of=Invoice)
        by_customer: dict[int, list[Invoice]] = defaultdict(list)
        for inv in self.s.scalars(q):
            by_customer[inv.customer_id].append(inv)
        inv_ids = [i.id for invs in by_customer.values() for i in invs]
        done: dict[int, set[int]] = defaultdict(set)
        sent: dict[int, int] = defaultdict(int)
        deadlines: dict[int, date] = {}
        reached: dict[int, int] = {}  # invoice → offset reached (planner.History)
        retries: dict[int, tuple[int, int]] = {}  # invoice → (bounced reminder, its step)
        for (
            rem_id,
            inv_id,
            step_id,
            state,
            deadline_on,
            due_on,
            counted_from,
            attempt,
            retry,
            kind,
        ) in self.s.execute(
            select(
                Reminder.id,
                Reminder.invoice_id,
                Reminder.step_id,
                Reminder.state,
                Reminder.deadline_on,
                Reminder.due_on,
                Reminder.counted_from,
                Reminder.attempt,
                Reminder.retry,
                Message.kind,
            )
            .outerjoin(Message, Message.id == Reminder.message_id)
            .where(Reminder.invoice_id.in_(inv_ids))
        ):
            done[inv_id].add(step_id)
            offset = (due_on - counted_from).days
            reached[inv_id] = max(offset, reached.get(inv_id, offset))
            # Reminders sent, for the hand-off after N: a statement of account is not one, and
            # a retry is the same reminder.
            if state in COUNTS_AS_SENT and attempt == 0 and kind is not MessageKind.STATEMENT:
                sent[inv_id] += 1
            if retry is ReminderRetry.ALLOWED:
                retries[inv_id] = (rem_id, step_id)
            if deadline_on is not None and state in ANNOUNCES_DEADLINE:
                deadlines[inv_id] = max(deadline_on, deadlines.get(inv_id, deadline_on))
        self._before_planning(by_customer, now)
        emailed = self._emailed_today(by_customer, now)
        # The customers, in one query (each invoice's ``customer`` is then found in the session).
        list(self.s.scalars(select(Customer).where(Customer.id.in_(list(by_customer)))))
        stated = self._stated_today(by_customer, now)
        planning = _Planning(done, sent, deadlines, reached, retries, now, emailed, stated)
        whole = self._claim_all(by_customer, planning)
        if whole is not None:
            claimed, skipped = whole
            result.message_ids += claimed.message_ids
            result.statement_ids += claimed.statement_ids
            result.letter_reminder_ids += claimed.letter_reminder_ids
            result.outcomes += claimed.outcomes
            result.customers_seen += claimed.customers_seen
        else:
            skipped = self._claim_each(by_customer, planning, result)
        self._skipped_timeline(skipped, now)
        return result

    def _before_planning(self, by_customer: dict[int, list[Invoice]], now: datetime) -> None:
        """What planning reads besides the batch's rows, read before it starts: the shops (one
        query), their steps and rules (once per tick), the ECB check (once per shop and tick).
        A query during planning would flush what is planned so far (autoflush): with many
        shops, that was a flush per shop and most of a batch's statements."""
        missing = {invs[0].shop_id for invs in by_customer.values()} - self.shops.keys()
        if missing:
            for shop in self.s.scalars(select(Shop).where(Shop.id.in_(missing))):
                self.shops[shop.id] = shop
        for invoices in by_customer.values():
            shop = self.shop(invoices[0].shop_id)
            for inv in invoices:
                self.catalog.for_invoice(self.s, shop, inv)
            if invoices[0].customer.is_b2b and shop.id not in self.catalog.ecb_checked:
                self.catalog.ecb_checked.add(shop.id)
                flag_missing_ecb_rate(self.s, shop, sending_window(shop).local_date(now))

    def _claim_all(
        self,
        by_customer: dict[int, list[Invoice]],
        planning: _Planning,
    ) -> tuple[ClaimResult, list[tuple[Invoice, Reminder]]] | None:
        """Every customer of the batch in one savepoint and one flush (a few multi-row
        statements instead of a savepoint and a flush per customer); None when a unique claim
        conflicted (another worker was first): nothing of it is kept."""
        claimed = ClaimResult()
        skipped: list[tuple[Invoice, Reminder]] = []
        told = set(self.told_no_way_to_pay)
        self._batch = _Batch()
        try:
            with self.s.begin_nested():
                made = [
                    self._plan_one(invoices, planning, claimed) for invoices in by_customer.values()
                ]
                self.s.flush()  # the messages' ids, the invoices' next looks, tasks
                self._insert_batch(self._batch)
        except IntegrityError:
            self.told_no_way_to_pay = told
            return None
        finally:
            self._batch = None
        for passed, message, statement, letters in made:
            claimed.customers_seen += 1
            skipped += passed
            if message is not None:
                claimed.message_ids.append(message.id)
            if statement is not None:
                claimed.statement_ids.append(statement.id)
            claimed.letter_reminder_ids.extend(r.id for r in letters)
        return claimed, skipped

    def _claim_each(
        self,
        by_customer: dict[int, list[Invoice]],
        planning: _Planning,
        result: ClaimResult,
    ) -> list[tuple[Invoice, Reminder]]:
        """One savepoint per customer: a conflict passes over that customer only."""
        now = planning.now
        skipped: list[tuple[Invoice, Reminder]] = []
        for invoices in by_customer.values():
            result.customers_seen += 1
            try:
                with self.s.begin_nested():
                    passed = self._claim_one(invoices, planning, result)
                skipped += passed  # kept only once this customer's claim held
            except IntegrityError:
                # Another worker claimed this customer's day or step first: look again later.
                with self.s.begin_nested():
                    for inv in invoices:
                        self.s.refresh(inv)
                        if inv.next_action_at is not None and inv.next_action_at <= now:
                            inv.next_action_at = now + RECHECK_DELAY
        return skipped

    def _insert_batch(self, batch: _Batch) -> None:
        """The batch's new messages, then its new reminders, one executemany each (inside the
        claim's savepoint: a unique conflict raises IntegrityError, as a flush would). The ids
        the claim needs are read back by their unique keys, one query per table: the messages'
        (their reminders, the senders) and those of the reminders that go out by no message
        (the steps passed over, for their timeline; the letters)."""
        if batch.messages:
            self.s.execute(
                insert(_MESSAGES),
                [
                    {
                        "shop_id": m.shop_id,
                        "customer_id": m.customer_id,
                        "kind": m.kind,
                        "channel": m.channel,
                        "local_day": m.local_day,
                        "state": m.state,
                        "lease_owner": m.lease_owner,
                        "lease_until": m.lease_until,
                        "recipient": m.recipient,
                    }
                    for m in batch.messages
                ],
            )
            ids = {
                (customer_id, kind, day): message_id
                for message_id, customer_id, kind, day in self.s.execute(
                    select(Message.id, Message.customer_id, Message.kind, Message.local_day).where(
                        Message.customer_id.in_({m.customer_id for m in batch.messages}),
                        Message.local_day.in_({m.local_day for m in batch.messages}),
                        Message.kind.in_({m.kind for m in batch.messages}),
                        Message.channel == Channel.EMAIL,
                    )
                )
            }
            for m in batch.messages:
                m.id = ids[(m.customer_id, m.kind, m.local_day)]
        if not batch.reminders:
            return
        # Core, not the ORM's bulk insert: that one leaves out the None values, so rows of
        # different shapes (a step skipped, then one claimed) would go one statement each.
        self.s.execute(
            insert(_REMINDERS),
            [
                {
                    "shop_id": r.shop_id,
                    "invoice_id": r.invoice_id,
                    "step_id": r.step_id,
                    "step_key": r.step_key,
                    "channel": r.channel,
                    "state": r.state,
                    "due_on": r.due_on,
                    "counted_from": r.counted_from,
                    "amount_due_minor": r.amount_due_minor,
                    "reason": r.reason,
                    "attempt": r.attempt,
                    "message_id": batch.joins[r].id if r in batch.joins else None,
                }
                for r in batch.reminders
            ],
        )
        unjoined = [r for r in batch.reminders if r not in batch.joins]
        if not unjoined:
            return
        reminder_ids = {
            (invoice_id, step_id, attempt): rem_id
            for rem_id, invoice_id, step_id, attempt in self.s.execute(
                select(Reminder.id, Reminder.invoice_id, Reminder.step_id, Reminder.attempt).where(
                    Reminder.invoice_id.in_({r.invoice_id for r in unjoined})
                )
            )
        }
        for r in unjoined:
            r.id = reminder_ids[(r.invoice_id, r.step_id, r.attempt)]

    def _join(self, reminder: Reminder, message: Message) -> None:
        """``reminder`` goes out with ``message``."""
        if self._batch is None:
            reminder.message = message
        else:
            self._batch.joins[reminder] = message

    def _skipped_timeline(self, skipped: list[tuple[Invoice, Reminder]], now: datetime) -> None:
        """The steps passed over, on their invoices' timelines: one insert for the whole batch
        (no ids read back, so one executemany on every database)."""
        if skipped:
            self.s.execute(
                insert(TimelineEntry),
                [
                    {
                        "shop_id": inv.shop_id,
                        "invoice_id": inv.id,
                        "at": now,
                        "kind": TimelineKind.REMINDER_SKIPPED,
                        "summary": f"{reminder.step_key} skipped: {reminder.reason}",
                        "reminder_id": reminder.id,
                        "data": None,
                    }
                    for inv, reminder in skipped
                ],
            )

    def _emailed_today(
        self, by_customer: dict[int, list[Invoice]], now: datetime
    ) -> set[tuple[int, date]]:
        """(customer, local day) pairs that already had a reminder email today, in one query
        for the whole batch (each customer's day is its shop's)."""
        days = {
            cid: sending_window(self.shop(invs[0].shop_id)).local_date(now)
            for cid, invs in by_customer.items()
        }
        if not days:
            return set()
        rows = self.s.execute(
            select(Message.customer_id, Message.local_day)
            .where(
                Message.customer_id.in_(list(days)),
                Message.channel == Channel.EMAIL,
                Message.local_day.in_(set(days.values())),
                Message.kind == MessageKind.REMINDER,  # a thank-you is not a reminder
            )
            .distinct()
        ).tuples()
        return {(cid, day) for cid, day in rows if days.get(cid) == day}

    def _stated_today(
        self, by_customer: dict[int, list[Invoice]], now: datetime
    ) -> dict[int, Message]:
        """Each customer's statement of account of today (the owner's or a step's) if there is
        one, in one query for the whole batch: the daily key admits no second."""
        days = {
            cid: sending_window(self.shop(invs[0].shop_id)).local_date(now)
            for cid, invs in by_customer.items()
        }
        if not days:
            return {}
        rows = self.s.scalars(
            select(Message).where(
                Message.customer_id.in_(list(days)),
                Message.kind == MessageKind.STATEMENT,
                Message.local_day.in_(set(days.values())),
            )
        )
        return {m.customer_id: m for m in rows if days.get(m.customer_id) == m.local_day}

    def _claim_one(
        self, invoices: list[Invoice], planning: _Planning, result: ClaimResult
    ) -> list[tuple[Invoice, Reminder]]:
        """Plan and claim one customer's due invoices; returns the steps passed over (their
        timeline is written for the whole batch once every customer is claimed)."""
        skipped, message, statement, letters = self._plan_one(invoices, planning, result)
        # One flush per customer, inside its savepoint: the unique (invoice, step) and
        # (customer, day) claims happen here, and a conflict rolls back this customer only.
        self.s.flush()
        if message is not None:
            result.message_ids.append(message.id)
        if statement is not None:
            result.statement_ids.append(statement.id)
        result.letter_reminder_ids.extend(r.id for r in letters)
        return skipped

    def _plan_one(
        self, invoices: list[Invoice], planning: _Planning, result: ClaimResult
    ) -> tuple[list[tuple[Invoice, Reminder]], Message | None, Message | None, list[Reminder]]:
        """One customer's claim, added to the session, not flushed: the steps passed over, the
        message of the day and the statement of the day (if any) and the letter reminders.

        One email per customer and day, whatever it carries: when a reminder step and a
        statement step fall due together, the reminder goes (it is the step that asks, with its
        tone, penalties and deadline: a statement covering it would record wording the customer
        never got) and the statement waits for the next day, when it lists that invoice too.
        So a statement step is planned after the customer's other invoices; a reminder step
        waits for tomorrow after a statement of today (a step's or the owner's)."""
        done, sent, deadlines, reached = (
            planning.done,
            planning.sent,
            planning.deadlines,
            planning.reached,
        )
        retries, now, emailed, stated = (
            planning.retries,
            planning.now,
            planning.emailed,
            planning.stated,
        )
        customer = invoices[0].customer
        shop = self.shop(customer.shop_id)
        window = sending_window(shop)
        escalation = escalation_policy(shop)
        today = window.local_date(now)
        emailed_today = (customer.id, today) in emailed
        message: Message | None = None

        def day_message() -> Message:
            """The customer's one reminder email of the day, claimed under this worker's lease."""
            nonlocal message
            if message is None:
                message = self._day_email(shop.id, customer, today, MessageKind.REMINDER)
            return message

        statement: Message | None = None

        def day_statement() -> Message:
            """The customer's statement of account of the day: every statement step of theirs
            due now is covered by it (its own daily key: one a day, with the owner's too)."""
            nonlocal statement
            if statement is None:
                statement = self._day_email(shop.id, customer, today, MessageKind.STATEMENT)
            return statement

        # The email a step's reminder joins, by what the step sends.
        email_of: dict[StepContent, Callable[[], Message]] = {
            StepContent.REMINDER: day_message,
            StepContent.STATEMENT: day_statement,
        }
        letters: list[Reminder] = []
        skipped: list[tuple[Invoice, Reminder]] = []
        today_stated = stated.get(customer.id)
        was_stated = today_stated is not None and today_stated.state is not MessageState.CANCELLED
        # One email a day of either kind: a statement of today (an earlier one, or claimed in
        # this tick) holds a reminder step back, a reminder claimed in this tick a statement step.
        other_email: dict[StepContent, tuple[Callable[[], bool], str]] = {
            StepContent.REMINDER: (
                lambda: was_stated or statement is not None,
                "a statement of account goes to this customer today: the reminder tomorrow",
            ),
            StepContent.STATEMENT: (
                lambda: message is not None,
                "a reminder goes to this customer today: the statement tomorrow",
            ),
        }
        pending = list(invoices)
        again: set[int] = set()  # statement steps planned again after the other invoices
        for inv in pending:
            steps = self.catalog.for_invoice(self.s, shop, inv)
            facts = facts_for(inv, customer, shop)
            history = History(
                frozenset(done[inv.id]),
                sent[inv.id],
                emailed_today,
                deadlines.get(inv.id),
                reached.get(inv.id),
            )
            decision = plan(facts, steps, history, now, window, escalation)
            if inv.id in retries and self._retry(
                inv,
                retries[inv.id],
                decision,
                steps,
                facts,
                history,
                now,
                window,
                email_of,
                other_email={
                    StepContent.REMINDER: other_email[StepContent.REMINDER][0],
                    StepContent.STATEMENT: lambda: customer.id in stated or message is not None,
                },
            ):
                emailed_today = emailed_today or message is not None
                continue
            if decision.action is Action.SKIP:
                skipped += self._skip(
                    inv, decision.skipped, decision.reason, facts, result, customer
                )
                after = replace(
                    history, done_step_ids=history.done_step_ids | {p.id for p in decision.skipped}
                )
                self._follow(inv, plan(facts, steps, after, now, window, escalation), now)
            elif decision.action is Action.SEND and not self._payable(inv, decision, shop):
                self._wait_for_a_way_to_pay(inv, decision, shop, now, result, customer)
            elif decision.action is Action.SEND:
                assert decision.step is not None
                step = decision.step
                if step.content is StepContent.STATEMENT and inv.id not in again:
                    again.add(inv.id)  # the reminders due in this tick go first
                    if inv is not pending[-1]:
                        pending.append(inv)
                        continue
                busy, reason = other_email[step.content]
                if step.channel is Channel.EMAIL and busy():
                    inv.next_action_at = window.opening_on_or_after(today + timedelta(days=1))
                    result.outcomes.append(
                        Outcome(inv.number, step.key, "waiting", reason, customer.email)
                    )
                    continue
                # The customer's statement of today, for a statement step: it covers the step
                # if it went out listing this invoice; else the step waits for tomorrow (one a
                # day, whoever sent it).
                earlier = stated.get(customer.id) if step.content is StepContent.STATEMENT else None
                if earlier is not None and not self._lists(earlier, inv):
                    inv.next_action_at = window.opening_on_or_after(today + timedelta(days=1))
                    reason = "a statement of account already went to this customer today"
                    result.outcomes.append(
                        Outcome(inv.number, step.key, "waiting", reason, customer.email)
                    )
                    continue
                for superseded, passed in superseded_reasons(
                    inv.created_at, decision.skipped, step, facts, history, window
                ):
                    skipped += self._skip(inv, passed, superseded, facts, result, customer)
                reminder = self._reminder(inv, step, facts, ReminderState.CLAIMED)
                if earlier is not None:
                    self._cover(inv, reminder, earlier, now, result)
                elif step.channel is Channel.EMAIL:
                    self._join(reminder, email_of[step.content]())
                else:
                    letters.append(reminder)
                own = step_deadline(step, today, shop.letter_posting_delay_days)
                after = History(
                    frozenset(done[inv.id] | {step.id} | {p.id for p in decision.skipped}),
                    sent[inv.id] + (step.content is StepContent.REMINDER),
                    emailed_today or step.channel is Channel.EMAIL,
                    max((d for d in (own, history.announced_deadline) if d), default=None),
                    step.offset_days
                    if history.reached_offset is None
                    else max(step.offset_days, history.reached_offset),
                )
                self._follow(inv, plan(facts, steps, after, now, window, escalation), now)
            else:
                self._settle(inv, decision, shop, now, result, customer)
        return skipped, message, statement, letters

    def _day_email(
        self, shop_id: int, customer: Customer, today: date, kind: MessageKind
    ) -> Message:
        """A customer's email of the day of that kind, claimed under this worker's lease (the
        daily key, per customer, day and kind, admits no second)."""
        message = Message(
            shop_id=shop_id,
            customer_id=customer.id,
            kind=kind,
            channel=Channel.EMAIL,
            local_day=today,
            state=MessageState.CLAIMED,
            lease_owner=self.worker,
            lease_until=self.lease_until,
            recipient=customer.email,
        )
        if self._batch is None:
            self.s.add(message)
        else:
            self._batch.messages.append(message)
        return message

    def _lists(self, statement: Message, inv: Invoice) -> bool:
        """The statement went out and named this invoice (its timeline says so)."""
        if statement.state is not MessageState.SENT:
            return False  # failed, unknown or still in flight: it covers nothing
        rows = self.s.scalars(
            select(TimelineEntry.data).where(
                TimelineEntry.invoice_id == inv.id,
                TimelineEntry.kind == TimelineKind.STATEMENT_SENT,
            )
        )
        return any((data or {}).get("message_id") == statement.id for data in rows)

    def _cover(
        self,
        inv: Invoice,
        reminder: Reminder,
        statement: Message,
        now: datetime,
        result: ClaimResult,
    ) -> None:
        """The step is the statement the customer already got today: recorded as sent by it
        (its message, its evidence, when it went), nothing sent again."""
        reminder.state = ReminderState.SENT
        reminder.message_id = statement.id
        reminder.recipient = statement.recipient
        reminder.subject = statement.subject
        reminder.body_text = statement.body_text
        reminder.provider_message_id = statement.provider_message_id
        reminder.sent_at = statement.sent_at
        reminder.reason = "covered by the statement of account sent earlier today"
        if self._batch is not None:
            self._batch.reminders.remove(reminder)
            self.s.add(reminder)
        self.s.flush()  # its id, for the timeline (a rare path: once per customer and day)
        add_timeline(
            self.s,
            inv,
            now,
            TimelineKind.REMINDER_SENT,
            f"{reminder.step_key}: {reminder.reason} to {statement.recipient}",
            reminder_id=reminder.id,
            data={"message_id": statement.id},
        )
        result.outcomes.append(
            Outcome(inv.number, reminder.step_key, "sent", reminder.reason, statement.recipient)
        )

    def _retry(
        self,
        inv: Invoice,
        bounced: tuple[int, int],
        decision: Plan,
        steps: tuple[StepSpec, ...],
        facts: InvoiceFacts,
        history: History,
        now: datetime,
        window: SendingWindow,
        email_of: Mapping[StepContent, Callable[[], Message]],
        *,
        other_email: Mapping[StepContent, Callable[[], bool]],
    ) -> bool:
        """The one retry of a bounced step (the owner fixed the address): a new reminder row,
        attempt 1, on the customer's message of the day (their statement of the day, for a
        statement step: tomorrow if they already had one today); the bounced row and its
        message stay as they were. True when it was claimed or must wait (the invoice's next
        look is set); False: plan as usual. A later step due now goes out instead, and the
        retry is dropped: it would arrive after a newer reminder. One email a day holds for a
        retry too: when ``other_email`` says the customer gets another kind of email today (a
        statement for a reminder's retry; a reminder, or a statement already, for a
        statement's), the retry waits for tomorrow."""
        rem_id, step_id = bounced
        original = self.s.get(Reminder, rem_id)
        assert original is not None
        step = next((s for s in steps if s.id == step_id), None)
        if decision.action is Action.SEND or step is None or step.channel is not Channel.EMAIL:
            original.retry = ReminderRetry.DROPPED
            return False
        retry = plan_retry(facts, step, history, now, window)
        if retry.action is Action.STOP:
            return False
        if retry.action is Action.WAIT:
            inv.next_action_at = _later_than(retry.next_action_at, now)
            return True
        if other_email[step.content]():
            tomorrow = window.local_date(now) + timedelta(days=1)
            inv.next_action_at = window.opening_on_or_after(tomorrow)
            return True
        original.retry = ReminderRetry.USED
        reminder = self._reminder(inv, step, facts, ReminderState.CLAIMED)
        reminder.attempt = 1
        reminder.due_on = original.due_on
        reminder.counted_from = original.counted_from
        self._join(reminder, email_of[step.content]())
        # The usual plan is judged again on a later tick (a hand-off waits for the retry).
        self._follow(inv, decision, now)
        return True

    @staticmethod
    def _payable(inv: Invoice, decision: Plan, shop: Shop) -> bool:
        """A step asking for payment goes out only if it can say how (a web link or the shop's
        payment instructions): never claim what cannot be sent. No query: the row and the shop
        are already loaded."""
        assert decision.step is not None
        if not decision.step.asks_payment:
            return True
        return can_be_paid(inv.payment_url, shop.payment_instructions)

    def _wait_for_a_way_to_pay(
        self,
        inv: Invoice,
        decision: Plan,
        shop: Shop,
        now: datetime,
        result: ClaimResult,
        customer: Customer,
    ) -> None:
        """The step stays due (nothing claimed, nothing skipped): it is judged again on the next
        tick, which sends it once the owner has added payment instructions. The owner gets one
        task per shop, however many invoices wait."""
        assert decision.step is not None
        inv.next_action_at = now + RECHECK_DELAY
        reason = "no way to pay: no payment link and no payment instructions"
        result.outcomes.append(
            Outcome(inv.number, decision.step.key, "waiting", reason, customer.email)
        )
        if shop.id in self.told_no_way_to_pay:
            return
        self.told_no_way_to_pay.add(shop.id)
        open_task(
            self.s,
            shop_id=shop.id,
            kind=TaskKind.PAYMENT_INSTRUCTIONS,
            title="Add payment instructions: reminders are waiting",
            detail=(
                "Some invoices have no payment link, and the shop has no payment instructions, "
                "so no reminder can say how to pay: they wait. Add them in Settings › Sending "
                "(How to pay without a payment link) or with `relance shop set SHOP_ID "
                "--payment-instructions TEXT` (IBAN/BIC, cheque address); the next tick sends."
            ),
            dedupe_key=f"payment_instructions:shop:{shop.id}",
        )

    def _reminder(
        self, inv: Invoice, step: StepSpec, facts: InvoiceFacts, state: ReminderState
    ) -> Reminder:
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
            attempt=0,
        )
        if self._batch is None:
            self.s.add(reminder)
        else:
            self._batch.reminders.append(reminder)
        return reminder

    @staticmethod
    def _follow(inv: Invoice, follow: Plan, now: datetime) -> None:
        """When to look at ``inv`` again, once this tick has acted on it: the next step (or the
        end of the sequence) is judged on a later tick."""
        if follow.action is Action.WAIT:
            inv.next_action_at = _later_than(follow.next_action_at, now)
        elif follow.action in (Action.HAND_OFF, Action.PRESCRIBE, Action.SKIP):
            inv.next_action_at = now + RECHECK_DELAY
        else:
            inv.next_action_at = None

    def _skip(
        self,
        inv: Invoice,
        passed_steps: tuple[StepSpec, ...],
        reason: str,
        facts: InvoiceFacts,
        result: ClaimResult,
        customer: Customer,
    ) -> list[tuple[Invoice, Reminder]]:
        """Record the steps passed over (their timeline follows the customer's flush)."""
        rows: list[tuple[Invoice, Reminder]] = []
        for passed in passed_steps:
            reminder = self._reminder(inv, passed, facts, ReminderState.SKIPPED)
            reminder.reason = reason
            rows.append((inv, reminder))
            result.outcomes.append(
                Outcome(inv.number, passed.key, "skipped", reason, customer.email)
            )
        return rows

    def _settle(
        self,
        inv: Invoice,
        decision: Plan,
        shop: Shop,
        now: datetime,
        result: ClaimResult,
        customer: Customer,
    ) -> None:
        if decision.action is Action.WAIT:
            inv.next_action_at = _later_than(decision.next_action_at, now)
            return
        inv.next_action_at = None
        if decision.action is Action.HAND_OFF:
            inv.handed_off_at = now
            open_task(
                self.s,
                shop_id=inv.shop_id,
                invoice_id=inv.id,
                customer_id=inv.customer_id,
                kind=TaskKind.ESCALATION,
                title=f"Invoice {inv.number}: over to you — {decision.reason}",
                dedupe_key=f"escalation:invoice:{inv.id}",
            )
            add_timeline(self.s, inv, now, TimelineKind.ESCALATED, decision.reason)
            result.outcomes.append(
                Outcome(inv.number, None, "handed_off", decision.reason, customer.email)
            )
        elif decision.action is Action.PRESCRIBE:
            inv.prescribed_at = now
            open_task(
                self.s,
                shop_id=inv.shop_id,
                invoice_id=inv.id,
                customer_id=inv.customer_id,
                kind=TaskKind.PRESCRIBED,
                title=f"Invoice {inv.number} is time-barred: reminders stopped",
                dedupe_key=f"prescribed:invoice:{inv.id}",
            )
            add_timeline(self.s, inv, now, TimelineKind.PRESCRIBED, decision.reason)
            result.outcomes.append(
                Outcome(inv.number, None, "prescribed", decision.reason, customer.email)
            )


def facts_for(inv: Invoice, customer: Customer, shop: Shop) -> InvoiceFacts:
    return InvoiceFacts(
        status=inv.status,
        due_on=schedule_due_on(inv, shop),
        amount_due_minor=inv.amount_due_minor,
        is_b2b=customer.is_b2b,
        paused=inv.pause_reason is not None,
        paused_until=inv.paused_until,
        customer_excluded=customer.excluded,
        customer_erased=customer.erased_at is not None,
        email_blocked=customer.email_blocked_reason is not None or not customer.email,
        handed_off=inv.handed_off_at is not None,
        prescribed=inv.prescribed_at is not None,
        prescription_applies=shop.prescription_enabled,
    )
