"""Phase 1 of a tick: find due customers, plan their invoices and claim what must go out.

The Reminder rows (unique per invoice and step) and the Message row (unique per customer and
local day) are the claim. Nothing external is called here.

On PostgreSQL a batch is read, planned and claimed in one transaction, under the row locks
(SKIP LOCKED) that share the due customers out between workers: nobody waits on a lock
held while planning. On SQLite the one writer is what the webhook intake waits for, so a
batch is planned in a read transaction and only written in a short write transaction that
re-reads what each plan relied on and drops the plans no longer true (plan_then_claim,
Claimer.write_planned lists what is compared).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import cast

from sqlalchemy import Table, bindparam, insert, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, class_mapper, sessionmaker

from connector.domain.calendar import SendingWindow
from connector.dunning.assignment import ShopRules, load_rules, load_rules_of
from connector.dunning.compose import schedule_due_on
from connector.dunning.ecb import flag_missing_ecb_rates
from connector.dunning.payment_ways import can_be_paid
from connector.dunning.planner import (
    Action,
    EscalationPolicy,
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
from connector.dunning.sequence import ensure_default_sequence, sequences_step_specs
from connector.dunning.skip_reasons import superseded_reasons
from connector.ledger import add_timeline
from connector.store.db import write_session
from connector.store.idset import among
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
from connector.tasks import no_way_to_pay_key, open_task

COUNTS_AS_SENT = (ReminderState.SENT, ReminderState.SENDING, ReminderState.UNKNOWN)
# A deadline counts once it may have reached the customer (a letter handed over with a task too).
ANNOUNCES_DEADLINE = (*COUNTS_AS_SENT, ReminderState.HANDED_OFF)
RECHECK_DELAY = timedelta(minutes=1)
# The tables, for Core inserts of a batch's claim (see Claimer._insert_batch).
_MESSAGES = cast(Table, Message.__table__)
_REMINDERS = cast(Table, Reminder.__table__)
_INVOICES = cast(Table, Invoice.__table__)
# A reminder row as planning reads it: id, step, state, deadline announced, due_on,
# counted_from, attempt, retry, and its message's kind.
_HistoryRow = tuple[
    int, int, ReminderState, date | None, date, date, int, ReminderRetry | None, MessageKind | None
]
_NEXT_LOOK = (
    update(_INVOICES)
    .where(_INVOICES.c.id == bindparam("invoice_id"))
    .values(next_action_at=bindparam("next_look"))
)


def _table(model: type[object]) -> Table:
    return cast(Table, class_mapper(model).local_table)


def _keys(model: type[object]) -> tuple[str, ...]:
    """The attribute of each of the model's table columns, in the table's order."""
    mapper = class_mapper(model)
    return tuple(mapper.get_property_by_column(c).key for c in _table(model).c)


# Every column of the rows a claim's planning reads (see Claimer.write_planned): a change to
# any of them since planning drops the plan. Re-read with Core (no ORM objects to build).
_ROW_KEYS: dict[type[object], tuple[str, ...]] = {m: _keys(m) for m in (Invoice, Customer, Shop)}
_INVOICE_ID = _ROW_KEYS[Invoice].index("id")
_SHOP_OF_CUSTOMER = _ROW_KEYS[Customer].index("shop_id")
_CUSTOMERS = _table(Customer)
_SHOPS = _table(Shop)


_GETTERS = {m: attrgetter(*keys) for m, keys in _ROW_KEYS.items()}


def _values(obj: object) -> tuple[object, ...]:
    """An ORM row's columns, in its table's order (as a Core select of the table reads them)."""
    return cast(tuple[object, ...], _GETTERS[type(obj)](obj))


def _basis(
    customer: tuple[object, ...],
    shop: tuple[object, ...] | None,
    invoices: list[tuple[object, ...]],
    reminders: Mapping[int, list[_HistoryRow]],
    emailed: bool,
    stated: Message | None,
) -> tuple[object, ...]:
    """What a customer's claim was planned from, comparable whole (Claimer.write_planned)."""
    ordered = tuple(sorted(invoices, key=itemgetter(_INVOICE_ID)))
    history = tuple(tuple(reminders.get(cast(int, inv[_INVOICE_ID]), ())) for inv in ordered)
    today = None if stated is None else (stated.id, stated.state)
    return (customer, shop, ordered, history, emailed, today)


#: Instants a remembering window keeps the local day of (dates are few; instants need not be).
_REMEMBERED_INSTANTS = 4_096


@dataclass(frozen=True, eq=False)
class _RememberingWindow(SendingWindow):
    """A sending window for one tick, remembering each answer: planning asks the
    same few questions (today, the window now, the steps' days and their openings) of every
    invoice of the shop, twice per invoice that gets a step (the plan, then the next look),
    and each answer re-derived holidays and timezone offsets (most of the planner's cost).
    The window is immutable and its answers pure, so a remembered answer is the answer."""

    _local: dict[datetime, date] = field(default_factory=dict, init=False, repr=False)
    _allowed: dict[date, bool] = field(default_factory=dict, init=False, repr=False)
    _bounds: dict[date, tuple[datetime, datetime]] = field(
        default_factory=dict, init=False, repr=False
    )
    _opening: dict[date, datetime] = field(default_factory=dict, init=False, repr=False)
    _before: dict[date, date | None] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, window: SendingWindow) -> _RememberingWindow:
        return cls(**{f.name: getattr(window, f.name) for f in fields(SendingWindow) if f.init})

    def local_date(self, instant: datetime) -> date:
        day = self._local.get(instant)
        if day is None:
            if len(self._local) >= _REMEMBERED_INSTANTS:  # a tick's window lives long
                self._local.clear()
            day = self._local[instant] = super().local_date(instant)
        return day

    def is_allowed_day(self, local_day: date) -> bool:
        allowed = self._allowed.get(local_day)
        if allowed is None:
            allowed = self._allowed[local_day] = super().is_allowed_day(local_day)
        return allowed

    def bounds(self, local_day: date) -> tuple[datetime, datetime]:
        found = self._bounds.get(local_day)
        if found is None:
            found = self._bounds[local_day] = super().bounds(local_day)
        return found

    def opening_on_or_after(self, local_day: date) -> datetime:
        found = self._opening.get(local_day)
        if found is None:
            found = self._opening[local_day] = super().opening_on_or_after(local_day)
        return found

    def allowed_day_on_or_before(self, local_day: date) -> date | None:
        if local_day not in self._before:
            self._before[local_day] = super().allowed_day_on_or_before(local_day)
        return self._before[local_day]


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


def _inserted(row: _NewMessage | _NewReminder) -> int:
    """A claimed row's id, read back once it is inserted (Claimer._insert_batch)."""
    assert row.id is not None, "read before its insert"
    return row.id


def _collect(
    result: ClaimResult,
    message: _NewMessage | None,
    statement: _NewMessage | None,
    letters: list[_NewReminder],
) -> None:
    """A customer's claimed rows, inserted, into what the claim hands to the senders."""
    if message is not None:
        result.message_ids.append(_inserted(message))
    if statement is not None:
        result.statement_ids.append(_inserted(statement))
    result.letter_reminder_ids.extend(_inserted(r) for r in letters)


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


@dataclass(eq=False, slots=True)
class _NewMessage:
    """A customer's email of the day a claim creates: a plain value, inserted with Core
    (Claimer._insert_batch), not an ORM object built, tracked and flushed for a row written
    once; ``id`` is set once it is inserted."""

    shop_id: int
    customer_id: int
    kind: MessageKind
    local_day: date
    lease_owner: str
    lease_until: datetime
    recipient: str | None
    channel: Channel = Channel.EMAIL
    state: MessageState = MessageState.CLAIMED
    id: int | None = None


@dataclass(eq=False, slots=True)
class _NewReminder:
    """A reminder row a claim creates (claimed or skipped), a plain value as _NewMessage."""

    shop_id: int
    invoice_id: int
    step_id: int
    step_key: str
    channel: Channel
    state: ReminderState
    due_on: date
    counted_from: date
    amount_due_minor: int
    attempt: int = 0
    reason: str | None = None
    id: int | None = None


@dataclass(slots=True)
class _Batch:
    """The rows a claim creates, inserted set-based once it is planned (the unit of work's
    per-row bookkeeping and, on PostgreSQL, multi-row INSERT … RETURNING statements of every
    column, parsed anew each time, were most of a claim's cost)."""

    messages: list[_NewMessage] = field(default_factory=list)
    reminders: list[_NewReminder] = field(default_factory=list)
    joins: dict[_NewReminder, _NewMessage] = field(default_factory=dict)  # each one's message
    # Shops whose owner is told there is no way to pay: planned outside the write transaction,
    # the task is opened by the write (write_planned), not by planning the customer again.
    no_way_to_pay: set[int] = field(default_factory=set)


class _NeedsLock(Exception):
    """Planning outside the write transaction met a path that writes more than a claim's rows
    (a task, a timeline entry, a statement covering a step, a retry, a default sequence): that
    customer is planned again inside the write transaction, the usual way."""


@dataclass(slots=True)
class _Planned:
    """One customer's claim planned outside the write transaction: what it writes, and the
    rows it relied on as they were read (``basis``, compared again under the write lock)."""

    customer_id: int
    day: date  # the customer's local day (their shop's)
    basis: tuple[object, ...]
    next_looks: dict[int, datetime | None]  # invoice → its next_action_at after the claim
    batch: _Batch
    skipped: list[tuple[Invoice, _NewReminder]]
    outcomes: list[Outcome]
    message: _NewMessage | None
    statement: _NewMessage | None
    letters: list[_NewReminder]


class StepCatalog:
    """Step specs per sequence, loaded once per claim batch (plain values, so they outlive the
    session that read them: a batch planned in a read transaction writes with them); the shops
    whose ECB rate table the tick has checked; and the tick's remembering sending windows.

    A window is remembered by its value (time zone, hours, days, calendar), not by shop: shops
    with the same settings share its answers, across the tick's batches. An owner who changes
    the settings makes another window, so nothing stale is answered."""

    def __init__(self) -> None:
        self._by_sequence: dict[int, tuple[StepSpec, ...]] = {}
        self._default_for_shop: dict[int, int] = {}
        self._rules_for_shop: dict[int, ShopRules] = {}
        self.ecb_checked: set[int] = set()  # shops whose ECB table was checked in this tick
        self.windows: dict[SendingWindow, _RememberingWindow] = {}

    def window(self, plain: SendingWindow) -> _RememberingWindow:
        """The remembering window answering as ``plain``, one per window value and tick."""
        found = self.windows.get(plain)
        if found is None:
            found = self.windows[plain] = _RememberingWindow.of(plain)
        return found

    def for_next_batch(self) -> StepCatalog:
        """The catalog a tick's next claim batch plans with: steps and rules read again (the
        owner may have edited a sequence since the last batch: a step moved to D+27 must not
        go out at D+1 to the customers the tick has not reached yet), the shops whose ECB
        table this tick checked kept (one check per tick)."""
        fresh = StepCatalog()
        fresh.ecb_checked = self.ecb_checked
        fresh.windows = self.windows
        return fresh

    def preload(self, session: Session, batch: Iterable[tuple[Shop, Invoice]]) -> None:
        """What :meth:`for_invoice` needs for a batch's invoices, read in a few queries for all
        their shops (rules, default sequences, steps) instead of three per shop: a batch spans
        many shops, and each worker of a tick reads each shop once (twice the per-shop reads
        with two workers, a cost that did not scale)."""
        pairs = list(batch)
        new_shops = {shop.id for shop, _ in pairs} - self._rules_for_shop.keys()
        if new_shops:
            self._rules_for_shop.update(load_rules_of(session, new_shops))
        ruled = [(shop, inv, self._ruled(shop, inv)) for shop, inv in pairs]
        defaults = {shop.id for shop, _, seq_id in ruled if seq_id is None}
        defaults -= self._default_for_shop.keys()
        if defaults:
            for sid, seq_id in session.execute(
                select(Sequence.shop_id, Sequence.id).where(
                    among(session, Sequence.shop_id, defaults), Sequence.is_default.is_(True)
                )
            ).tuples():
                self._default_for_shop[sid] = seq_id
        wanted = {
            seq_id if seq_id is not None else self._default_for_shop.get(shop.id)
            for shop, _, seq_id in ruled
        }
        missing = {seq_id for seq_id in wanted if seq_id is not None} - self._by_sequence.keys()
        if missing:
            self._by_sequence.update(sequences_step_specs(session, missing))

    def _ruled(self, shop: Shop, invoice: Invoice) -> int | None:
        """The sequence the owner pinned or the shop's rules choose (None: the default)."""
        if invoice.sequence_id is not None:
            return invoice.sequence_id
        return self._rules_for_shop[shop.id].sequence_for(invoice)

    def for_invoice(
        self, session: Session, shop: Shop, invoice: Invoice, *, may_write: bool = True
    ) -> tuple[StepSpec, ...]:
        seq_id = invoice.sequence_id  # pinned by the owner; else the rules decide
        if seq_id is None:
            if shop.id not in self._rules_for_shop:
                self._rules_for_shop[shop.id] = load_rules(session, shop.id)
            seq_id = self._rules_for_shop[shop.id].sequence_for(invoice)
        if seq_id is None:
            if shop.id not in self._default_for_shop:
                if not may_write:
                    raise _NeedsLock("the shop's default sequence is created")
                self._default_for_shop[shop.id] = ensure_default_sequence(session, shop).id
            seq_id = self._default_for_shop[shop.id]
        if seq_id not in self._by_sequence:
            self._by_sequence.update(sequences_step_specs(session, (seq_id,)))
        return self._by_sequence[seq_id]


#: Where a tick's claims have reached in the due order: the last invoice's (next_action_at, id).
DuePosition = tuple[datetime, int]


def due_customer_ids(
    session: Session, now: datetime, limit: int, *, skip_locked: bool, shop_id: int | None = None
) -> list[int]:
    """Customers with at least one invoice due, locked for this transaction (due_customers)."""
    return due_customers(session, now, limit, skip_locked=skip_locked, shop_id=shop_id)[0]


def due_customers(
    session: Session,
    now: datetime,
    limit: int,
    *,
    skip_locked: bool,
    shop_id: int | None = None,
    after: DuePosition | None = None,
) -> tuple[list[int], DuePosition | None]:
    """Customers with at least one invoice due, locked for this transaction, and the position
    the read reached (None: no invoice due after ``after``).

    Due order: earliest next_action_at first (nobody waits behind a later one, whatever its
    shop), then invoice id. ``after`` resumes past the invoices a tick's earlier batches took:
    each claim moves them out of the due range, and on PostgreSQL their index entries stay
    dead at the front of (next_action_at, id) until a vacuum, so reading from the front every
    batch walks all of them again: a cost growing with the burst, per batch. What the tick
    passed over (locked by another worker then) is found by a read from the front again.

    On PostgreSQL the invoice rows and then the customers are locked with SKIP LOCKED so
    concurrent workers share the work; on SQLite the IMMEDIATE transaction already excludes
    every other writer.
    """
    q = (
        select(Invoice.customer_id, Invoice.next_action_at, Invoice.id)
        .where(Invoice.next_action_at <= now)
        .order_by(Invoice.next_action_at, Invoice.id)
        .limit(limit)
    )
    if after is not None:
        mark = tuple_(
            literal(after[0], Invoice.next_action_at.type), literal(after[1], Invoice.id.type)
        )
        q = q.where(tuple_(Invoice.next_action_at, Invoice.id) > mark)
    if shop_id is not None:
        q = q.where(Invoice.shop_id == shop_id)
    if skip_locked:
        q = q.with_for_update(skip_locked=True)
    rows = session.execute(q).tuples().all()
    if not rows:
        return [], None
    _, last_at, last_id = rows[-1]
    position = (cast(datetime, last_at), last_id)
    candidates = list(dict.fromkeys(customer for customer, _, _ in rows))
    if not skip_locked:
        return candidates, position
    locked = session.scalars(
        select(Customer.id)
        .where(among(session, Customer.id, candidates))
        .order_by(Customer.id)
        .with_for_update(skip_locked=True)
    )
    return list(locked), position


def plan_then_claim(
    sessions: sessionmaker[Session],
    now: datetime,
    limit: int,
    *,
    worker: str,
    lease_until: datetime,
    catalog: StepCatalog,
    shop_id: int | None = None,
) -> ClaimResult | None:
    """A batch's claim on SQLite, whose one writer the webhook intake waits for: the due
    customers are read and planned in a read transaction (no write lock held), then one short
    write transaction re-reads what each plan relied on and writes the plans still true
    (Claimer.write_planned). None: nothing is due."""
    with sessions(autoflush=False) as rs:
        ids = due_customer_ids(rs, now, limit, skip_locked=False, shop_id=shop_id)
        if not ids:
            return None
        planner = Claimer(rs, worker=worker, lease_until=lease_until, catalog=catalog)
        planned, later = planner.plan_customers(ids, now)
    with write_session(sessions) as s:
        claimer = Claimer(s, worker=worker, lease_until=lease_until, catalog=catalog)
        claimer.ecb_due = planner.ecb_due
        return claimer.write_planned(planned, later, now)


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
        # The rows being claimed, kept out of the session and inserted with Core: the whole
        # batch's (_claim_all), one customer's (_claim_each, plan_customers).
        self._batch = _Batch()
        # Planning outside the write transaction (plan_customers): nothing may be written, a
        # path that would write raises _NeedsLock; the ECB checks and the owner's
        # payment-instructions task wait for the write.
        self._planning_only = False
        self.ecb_due: dict[int, Shop] = {}
        self._by_shop: dict[int, tuple[SendingWindow, EscalationPolicy]] = {}

    def _policies(self, shop: Shop) -> tuple[SendingWindow, EscalationPolicy]:
        """The shop's sending window (remembering its answers for the batch) and hand-off
        policy, built once per claim (not per customer)."""
        policies = self._by_shop.get(shop.id)
        if policies is None:
            window = self.catalog.window(sending_window(shop))
            policies = self._by_shop[shop.id] = (window, escalation_policy(shop))
        return policies

    def shop(self, shop_id: int) -> Shop:
        if shop_id not in self.shops:
            shop = self.s.get(Shop, shop_id)
            assert shop is not None
            self.shops[shop_id] = shop
        return self.shops[shop_id]

    def claim_customers(
        self, customer_ids: Iterable[int], now: datetime, *, skip_locked: bool
    ) -> ClaimResult:
        """Read, plan and claim in this (write) transaction: the rows planning relies on are
        read under it (on PostgreSQL, locked with SKIP LOCKED)."""
        result = ClaimResult()
        ids = list(customer_ids)
        if not ids:
            return result
        by_customer, planning, _ = self._read(ids, now, skip_locked=skip_locked)
        self._before_planning(by_customer, now)
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

    def _read(
        self, ids: list[int], now: datetime, *, skip_locked: bool
    ) -> tuple[dict[int, list[Invoice]], _Planning, dict[int, list[_HistoryRow]]]:
        """What planning reads of the batch's customers, a few queries for all of them: their
        due invoices (with the customers, joined), the invoices' reminders, the shops, today's
        emails; and the reminder rows by invoice, as read (the basis a re-check compares)."""
        q = select(Invoice).where(
            among(self.s, Invoice.customer_id, ids), Invoice.next_action_at <= now
        )
        if skip_locked:
            q = q.with_for_update(skip_locked=True, of=Invoice)
        by_customer: dict[int, list[Invoice]] = defaultdict(list)
        for inv in self.s.scalars(q):
            by_customer[inv.customer_id].append(inv)
        rows = self._reminder_rows([i.id for invs in by_customer.values() for i in invs])
        done: dict[int, set[int]] = defaultdict(set)
        sent: dict[int, int] = defaultdict(int)
        deadlines: dict[int, date] = {}
        reached: dict[int, int] = {}  # invoice → offset reached (planner.History)
        retries: dict[int, tuple[int, int]] = {}  # invoice → (bounced reminder, its step)
        for inv_id, invoice_rows in rows.items():
            for (
                rem_id,
                step_id,
                state,
                deadline_on,
                due_on,
                counted_from,
                attempt,
                retry,
                kind,
            ) in invoice_rows:
                done[inv_id].add(step_id)
                offset = (due_on - counted_from).days
                reached[inv_id] = max(offset, reached.get(inv_id, offset))
                # Reminders sent, for the hand-off after N: a statement of account is not one,
                # and a retry is the same reminder.
                if state in COUNTS_AS_SENT and attempt == 0 and kind is not MessageKind.STATEMENT:
                    sent[inv_id] += 1
                if retry is ReminderRetry.ALLOWED:
                    retries[inv_id] = (rem_id, step_id)
                if deadline_on is not None and state in ANNOUNCES_DEADLINE:
                    deadlines[inv_id] = max(deadline_on, deadlines.get(inv_id, deadline_on))
        self._load_shops(by_customer)
        days = self._days(by_customer, now)
        emailed = self._emailed_today(days)
        stated = self._stated_today(days)
        planning = _Planning(done, sent, deadlines, reached, retries, now, emailed, stated)
        return by_customer, planning, rows

    def _reminder_rows(self, invoice_ids: list[int]) -> dict[int, list[_HistoryRow]]:
        """Each invoice's reminder rows as planning reads them, in id order (one query)."""
        rows: dict[int, list[_HistoryRow]] = defaultdict(list)
        if not invoice_ids:
            return rows
        r, m = _REMINDERS.c, _MESSAGES.c  # Core: plain tuples, no ORM rows to build
        for rem_id, inv_id, *rest in self.s.execute(
            select(
                r.id,
                r.invoice_id,
                r.step_id,
                r.state,
                r.deadline_on,
                r.due_on,
                r.counted_from,
                r.attempt,
                r.retry,
                m.kind,
            )
            .outerjoin(_MESSAGES, m.id == r.message_id)
            .where(among(self.s, r.invoice_id, invoice_ids))
            .order_by(r.id)
        ):
            rows[inv_id].append(cast(_HistoryRow, (rem_id, *rest)))
        return rows

    def _load_shops(self, by_customer: dict[int, list[Invoice]]) -> None:
        """The batch's shops not read yet, in one query."""
        missing = {invs[0].shop_id for invs in by_customer.values()} - self.shops.keys()
        if missing:
            for shop in self.s.scalars(select(Shop).where(among(self.s, Shop.id, missing))):
                self.shops[shop.id] = shop

    def _before_planning(self, by_customer: dict[int, list[Invoice]], now: datetime) -> None:
        """What planning reads besides the batch's rows, read before it starts: the shops'
        steps and rules (a few queries for all of them, once per tick: StepCatalog.preload),
        the ECB check (once per shop and tick; planning outside the write transaction leaves
        it to the write). A query during planning would flush what is planned so far
        (autoflush): with many shops, that was a flush per shop and most of a batch's
        statements."""
        self.catalog.preload(
            self.s,
            ((self.shop(inv.shop_id), inv) for invs in by_customer.values() for inv in invs),
        )
        b2b = (
            self.shop(invs[0].shop_id) for invs in by_customer.values() if invs[0].customer.is_b2b
        )
        ecb = {shop.id: shop for shop in b2b if shop.id not in self.catalog.ecb_checked}
        if self._planning_only:
            self.ecb_due.update(ecb)  # flagged by the write (write_planned)
            return
        for invoices in by_customer.values():
            shop = self.shop(invoices[0].shop_id)
            for inv in invoices:
                self.catalog.for_invoice(self.s, shop, inv)
        self._flag_ecb(ecb, now)

    def _flag_ecb(self, shops: dict[int, Shop], now: datetime) -> None:
        """The ECB rate checks of these shops, once per shop and tick."""
        shops = {k: v for k, v in shops.items() if k not in self.catalog.ecb_checked}
        self.catalog.ecb_checked.update(shops)
        flag_missing_ecb_rates(
            self.s, ((shop, sending_window(shop).local_date(now)) for shop in shops.values())
        )

    def _claim_all(
        self,
        by_customer: dict[int, list[Invoice]],
        planning: _Planning,
    ) -> tuple[ClaimResult, list[tuple[Invoice, _NewReminder]]] | None:
        """Every customer of the batch in one savepoint and one flush (a few multi-row
        statements instead of a savepoint and a flush per customer); None when a unique claim
        conflicted (another worker was first): nothing of it is kept."""
        claimed = ClaimResult()
        skipped: list[tuple[Invoice, _NewReminder]] = []
        told = set(self.told_no_way_to_pay)
        self._batch = _Batch()
        try:
            with self.s.begin_nested():
                made = [
                    self._plan_one(invoices, planning, claimed) for invoices in by_customer.values()
                ]
                self.s.flush()  # the invoices' next looks, tasks
                self._insert_batch(self._batch)
        except IntegrityError:
            self.told_no_way_to_pay = told
            return None
        for passed, message, statement, letters in made:
            claimed.customers_seen += 1
            skipped += passed
            _collect(claimed, message, statement, letters)
        return claimed, skipped

    def _claim_each(
        self,
        by_customer: dict[int, list[Invoice]],
        planning: _Planning,
        result: ClaimResult,
    ) -> list[tuple[Invoice, _NewReminder]]:
        """One savepoint per customer: a conflict passes over that customer only."""
        now = planning.now
        skipped: list[tuple[Invoice, _NewReminder]] = []
        for invoices in by_customer.values():
            result.customers_seen += 1
            told = set(self.told_no_way_to_pay)
            try:
                with self.s.begin_nested():
                    passed = self._claim_one(invoices, planning, result)
                skipped += passed  # kept only once this customer's claim held
            except IntegrityError:
                # The owner's task this customer opened went with the savepoint: the next
                # customer of that shop opens it again.
                self.told_no_way_to_pay = told
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
                        among(self.s, Message.customer_id, {m.customer_id for m in batch.messages}),
                        among(self.s, Message.local_day, {m.local_day for m in batch.messages}),
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
                    among(self.s, Reminder.invoice_id, {r.invoice_id for r in unjoined})
                )
            )
        }
        for r in unjoined:
            r.id = reminder_ids[(r.invoice_id, r.step_id, r.attempt)]

    def _join(self, reminder: _NewReminder, message: _NewMessage) -> None:
        """``reminder`` goes out with ``message``."""
        self._batch.joins[reminder] = message

    def _skipped_timeline(self, skipped: list[tuple[Invoice, _NewReminder]], now: datetime) -> None:
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

    def _days(self, by_customer: dict[int, list[Invoice]], now: datetime) -> dict[int, date]:
        """Each customer's local day (their shop's)."""
        shop_ids = {invs[0].shop_id for invs in by_customer.values()}
        windows = {sid: self._policies(self.shop(sid))[0].local_date(now) for sid in shop_ids}
        return {cid: windows[invs[0].shop_id] for cid, invs in by_customer.items()}

    def _emailed_today(self, days: dict[int, date]) -> set[tuple[int, date]]:
        """(customer, local day) pairs that already had a reminder email today, in one query
        for the whole batch (each customer's day is its shop's)."""
        if not days:
            return set()
        m = _MESSAGES.c
        rows = self.s.execute(
            select(m.customer_id, m.local_day)
            .where(
                among(self.s, m.customer_id, list(days)),
                m.channel == Channel.EMAIL,
                among(self.s, m.local_day, set(days.values())),
                m.kind == MessageKind.REMINDER,  # a thank-you is not a reminder
            )
            .distinct()
        ).tuples()
        return {(cid, day) for cid, day in rows if days.get(cid) == day}

    def _stated_today(self, days: dict[int, date]) -> dict[int, Message]:
        """Each customer's statement of account of today (the owner's or a step's) if there is
        one, in one query for the whole batch: the daily key admits no second."""
        if not days:
            return {}
        rows = self.s.scalars(
            select(Message).where(
                among(self.s, Message.customer_id, list(days)),
                Message.kind == MessageKind.STATEMENT,
                among(self.s, Message.local_day, set(days.values())),
            )
        )
        return {m.customer_id: m for m in rows if days.get(m.customer_id) == m.local_day}

    def plan_customers(self, ids: list[int], now: datetime) -> tuple[list[_Planned], list[int]]:
        """Plan these customers' claims with no write (a read transaction): the claims planned,
        each with its basis, and the customers whose planning would write more than a claim's
        rows (planned again by :meth:`write_planned`, inside the write transaction)."""
        self._planning_only = True
        by_customer, planning, rows = self._read(ids, now, skip_locked=False)
        self._before_planning(by_customer, now)
        days = self._days(by_customer, now)
        # As read: planning changes the invoices' next looks.
        read = {cid: [_values(inv) for inv in invs] for cid, invs in by_customer.items()}
        shops: dict[int, tuple[object, ...]] = {}  # each shop's row, as read
        planned: list[_Planned] = []
        later: list[int] = []
        for cid, invoices in by_customer.items():
            self._batch = _Batch()
            result = ClaimResult()
            try:
                skipped, message, statement, letters = self._plan_one(invoices, planning, result)
            except _NeedsLock:
                later.append(cid)
                continue
            finally:
                batch, self._batch = self._batch, _Batch()
            if self.s.new:  # a row added to the session: not a plain claim, plan it under lock
                for obj in list(self.s.new):
                    self.s.expunge(obj)
                later.append(cid)
                continue
            customer = invoices[0].customer
            if customer.shop_id not in shops:
                shops[customer.shop_id] = _values(self.shop(customer.shop_id))
            basis = _basis(
                _values(customer),
                shops[customer.shop_id],
                read[cid],
                rows,
                (cid, days[cid]) in planning.emailed,
                planning.stated.get(cid),
            )
            planned.append(
                _Planned(
                    cid,
                    days[cid],
                    basis,
                    {inv.id: inv.next_action_at for inv in invoices},
                    batch,
                    skipped,
                    result.outcomes,
                    message,
                    statement,
                    letters,
                )
            )
        return planned, later

    def write_planned(
        self, planned: list[_Planned], later: list[int], now: datetime
    ) -> ClaimResult:
        """In the write transaction: each planned claim whose basis still holds is written
        (set-based, as a whole batch), with the payment-instructions task of the shops whose
        steps wait for a way to pay (once per shop); a customer whose rows changed since
        planning is left for the next tick; the customers planning left for the lock are
        claimed the usual way.

        The basis is everything planning read of a customer, read again here and compared
        whole: the customer's row (excluded, erased, email blocked, address, B2B); their shop's
        row (window, timezone, escalation, payment instructions, prescription); the set of
        their due invoices and each one's row (status, amount due, paused and until when,
        payment plan's due date, handed off, prescribed, pinned sequence, payment link,
        next_action_at); each invoice's reminder rows (steps done, states, sent count,
        deadlines announced, offsets reached from counted_from, retries); whether they had a
        reminder email today, and their statement of today (id, state). The sequences, steps
        and rules are the tick's (StepCatalog), as for a claim planned under the lock."""
        result = ClaimResult()
        current = self._bases(planned, now)
        fresh = [p for p in planned if current.get(p.customer_id) == p.basis]
        stale = [p.customer_id for p in planned if current.get(p.customer_id) != p.basis]
        self._flag_ecb(self.ecb_due, now)
        if fresh:
            try:
                with self.s.begin_nested():
                    self._write_fresh(fresh)
            except IntegrityError:  # a claim the basis did not show: under the lock, one by one
                later = [*later, *(p.customer_id for p in fresh)]
                fresh = []
        for shop_id in sorted({sid for p in fresh for sid in p.batch.no_way_to_pay}):
            self._tell_no_way_to_pay(shop_id)
        for p in fresh:
            result.customers_seen += 1
            result.outcomes += p.outcomes
            _collect(result, p.message, p.statement, p.letters)
        self._skipped_timeline([row for p in fresh for row in p.skipped], now)
        if stale:
            # Looked at again on the next tick, planned from what the rows say then.
            self.s.execute(
                update(_INVOICES)
                .where(
                    among(self.s, _INVOICES.c.customer_id, stale), _INVOICES.c.next_action_at <= now
                )
                .values(next_action_at=now + RECHECK_DELAY)
            )
        if later:
            locked = self.claim_customers(later, now, skip_locked=False)
            result.message_ids += locked.message_ids
            result.statement_ids += locked.statement_ids
            result.letter_reminder_ids += locked.letter_reminder_ids
            result.outcomes += locked.outcomes
            result.customers_seen += locked.customers_seen
        return result

    def _bases(self, planned: list[_Planned], now: datetime) -> dict[int, tuple[object, ...]]:
        """The basis of each planned customer as the store holds it now (see write_planned)."""
        if not planned:
            return {}
        ids = [p.customer_id for p in planned]
        invoices: dict[int, list[tuple[object, ...]]] = defaultdict(list)
        for row in self.s.execute(
            select(*_INVOICES.c).where(
                among(self.s, _INVOICES.c.customer_id, ids), _INVOICES.c.next_action_at <= now
            )
        ):
            invoices[row.customer_id].append(tuple(row))
        customers = {
            row.id: tuple(row)
            for row in self.s.execute(
                select(*_CUSTOMERS.c).where(among(self.s, _CUSTOMERS.c.id, ids))
            )
        }
        shop_ids = {row[_SHOP_OF_CUSTOMER] for row in customers.values()}
        shops = {
            row.id: tuple(row)
            for row in self.s.execute(select(*_SHOPS.c).where(among(self.s, _SHOPS.c.id, shop_ids)))
        }
        rows = self._reminder_rows(
            [cast(int, row[_INVOICE_ID]) for invs in invoices.values() for row in invs]
        )
        days = {p.customer_id: p.day for p in planned}
        emailed = self._emailed_today(days)
        stated = self._stated_today(days)
        bases: dict[int, tuple[object, ...]] = {}
        for cid in ids:
            customer = customers.get(cid)
            if customer is None or not invoices[cid]:
                continue
            bases[cid] = _basis(
                customer,
                shops.get(customer[_SHOP_OF_CUSTOMER]),
                invoices[cid],
                rows,
                (cid, days[cid]) in emailed,
                stated.get(cid),
            )
        return bases

    def _write_fresh(self, fresh: list[_Planned]) -> None:
        """The planned claims: the invoices' next looks (one executemany), then the messages
        and reminders (_insert_batch)."""
        looks = [
            {"invoice_id": inv_id, "next_look": when}
            for p in fresh
            for inv_id, when in p.next_looks.items()
        ]
        self.s.execute(_NEXT_LOOK, looks)
        batch = _Batch()
        for p in fresh:
            batch.messages += p.batch.messages
            batch.reminders += p.batch.reminders
            batch.joins.update(p.batch.joins)
        self._insert_batch(batch)

    def _claim_one(
        self, invoices: list[Invoice], planning: _Planning, result: ClaimResult
    ) -> list[tuple[Invoice, _NewReminder]]:
        """Plan and claim one customer's due invoices; returns the steps passed over (their
        timeline is written for the whole batch once every customer is claimed)."""
        self._batch = _Batch()
        skipped, message, statement, letters = self._plan_one(invoices, planning, result)
        # One flush and insert per customer, inside its savepoint: the unique (invoice, step)
        # and (customer, day) claims happen here, and a conflict rolls back this customer only.
        self.s.flush()
        self._insert_batch(self._batch)
        _collect(result, message, statement, letters)
        return skipped

    def _plan_one(
        self, invoices: list[Invoice], planning: _Planning, result: ClaimResult
    ) -> tuple[
        list[tuple[Invoice, _NewReminder]],
        _NewMessage | None,
        _NewMessage | None,
        list[_NewReminder],
    ]:
        """One customer's claim, added to the claim's batch (self._batch), not inserted: the
        steps passed over, the message of the day and the statement of the day (if any) and
        the letter reminders.

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
        window, escalation = self._policies(shop)
        today = window.local_date(now)
        emailed_today = (customer.id, today) in emailed
        message: _NewMessage | None = None

        def day_message() -> _NewMessage:
            """The customer's one reminder email of the day, claimed under this worker's lease."""
            nonlocal message
            if message is None:
                message = self._day_email(shop.id, customer, today, MessageKind.REMINDER)
            return message

        statement: _NewMessage | None = None

        def day_statement() -> _NewMessage:
            """The customer's statement of account of the day: every statement step of theirs
            due now is covered by it (its own daily key: one a day, with the owner's too)."""
            nonlocal statement
            if statement is None:
                statement = self._day_email(shop.id, customer, today, MessageKind.STATEMENT)
            return statement

        # The email a step's reminder joins, by what the step sends.
        email_of: dict[StepContent, Callable[[], _NewMessage]] = {
            StepContent.REMINDER: day_message,
            StepContent.STATEMENT: day_statement,
        }
        letters: list[_NewReminder] = []
        skipped: list[tuple[Invoice, _NewReminder]] = []
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
            steps = self.catalog.for_invoice(self.s, shop, inv, may_write=not self._planning_only)
            facts = facts_for(inv, customer, shop)
            history = History(
                frozenset(done[inv.id]),
                sent[inv.id],
                emailed_today,
                deadlines.get(inv.id),
                reached.get(inv.id),
            )
            decision = plan(facts, steps, history, now, window, escalation)
            if inv.id in retries and self._planning_only:
                raise _NeedsLock("a bounced reminder's retry")
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
    ) -> _NewMessage:
        """A customer's email of the day of that kind, claimed under this worker's lease (the
        daily key, per customer, day and kind, admits no second)."""
        message = _NewMessage(
            shop_id=shop_id,
            customer_id=customer.id,
            kind=kind,
            local_day=today,
            lease_owner=self.worker,
            lease_until=self.lease_until,
            recipient=customer.email,
        )
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
        claimed: _NewReminder,
        statement: Message,
        now: datetime,
        result: ClaimResult,
    ) -> None:
        """The step is the statement the customer already got today: recorded as sent by it
        (its message, its evidence, when it went), nothing sent again."""
        if self._planning_only:
            raise _NeedsLock("a step covered by today's statement")
        self._batch.reminders.remove(claimed)
        reason = "covered by the statement of account sent earlier today"
        reminder = Reminder(
            shop_id=claimed.shop_id,
            invoice_id=claimed.invoice_id,
            step_id=claimed.step_id,
            step_key=claimed.step_key,
            channel=claimed.channel,
            state=ReminderState.SENT,
            due_on=claimed.due_on,
            counted_from=claimed.counted_from,
            amount_due_minor=claimed.amount_due_minor,
            attempt=claimed.attempt,
            message_id=statement.id,
            recipient=statement.recipient,
            subject=statement.subject,
            body_text=statement.body_text,
            provider_message_id=statement.provider_message_id,
            sent_at=statement.sent_at,
            reason=reason,
        )
        self.s.add(reminder)
        self.s.flush()  # its id, for the timeline (a rare path: once per customer and day)
        add_timeline(
            self.s,
            inv,
            now,
            TimelineKind.REMINDER_SENT,
            f"{reminder.step_key}: {reason} to {statement.recipient}",
            reminder_id=reminder.id,
            data={"message_id": statement.id},
        )
        result.outcomes.append(
            Outcome(inv.number, reminder.step_key, "sent", reason, statement.recipient)
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
        email_of: Mapping[StepContent, Callable[[], _NewMessage]],
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
        """The step stays due (nothing claimed, nothing skipped): it is judged again at the
        window's opening tomorrow, or at the next tick once the invoice gets a payment link (the
        sync re-plans it) or the owner adds payment instructions (saving them wakes the shop's
        invoices); not every minute meanwhile. The owner gets one task per shop, however many
        invoices wait: planned outside the write transaction, it is opened by the write."""
        assert decision.step is not None
        window = self._policies(shop)[0]
        inv.next_action_at = window.opening_on_or_after(window.local_date(now) + timedelta(days=1))
        reason = "no way to pay: no payment link and no payment instructions"
        result.outcomes.append(
            Outcome(inv.number, decision.step.key, "waiting", reason, customer.email)
        )
        if shop.id in self.told_no_way_to_pay:
            return
        if self._planning_only:
            self._batch.no_way_to_pay.add(shop.id)
            return
        self._tell_no_way_to_pay(shop.id)

    def _tell_no_way_to_pay(self, shop_id: int) -> None:
        """The owner's task: add payment instructions (once per shop and claim; open_task
        keeps it to one per shop)."""
        if shop_id in self.told_no_way_to_pay:
            return
        self.told_no_way_to_pay.add(shop_id)
        open_task(
            self.s,
            shop_id=shop_id,
            kind=TaskKind.PAYMENT_INSTRUCTIONS,
            title="Add payment instructions: reminders are waiting",
            detail=(
                "Some invoices have no payment link, and the shop has no payment instructions, "
                "so no reminder can say how to pay: they wait. Add them in Settings › Sending "
                "(How to pay without a payment link) or with `relance shop set SHOP_ID "
                "--payment-instructions TEXT` (IBAN/BIC, cheque address); the next tick sends."
            ),
            dedupe_key=no_way_to_pay_key(shop_id),
            reopen=True,  # instructions added, then taken away again: the cause is back
        )

    def _reminder(
        self, inv: Invoice, step: StepSpec, facts: InvoiceFacts, state: ReminderState
    ) -> _NewReminder:
        reminder = _NewReminder(
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
    ) -> list[tuple[Invoice, _NewReminder]]:
        """Record the steps passed over (their timeline follows the customer's flush)."""
        rows: list[tuple[Invoice, _NewReminder]] = []
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
        if self._planning_only and decision.action in (Action.HAND_OFF, Action.PRESCRIBE):
            raise _NeedsLock("a hand-off or a prescription")
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
