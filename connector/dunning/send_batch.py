"""Phase 2 of a tick, set-based: a batch of claimed messages goes through the deliverer's steps
(connector.dunning.deliver) in a few statements for the whole batch instead of a few dozen per
message.

1. one read (no lock) of what the messages would say: their reminders, invoices and customers
   in one Core select of the columns the context reads, then shops, steps, waiting payments,
   sent history, the ECB table of a B2B message's interest (once per shop) — plain rows, not
   ORM objects (they cost ~100 µs per message more);
2. render every message with no transaction open;
3. one short write transaction: the messages, reminders and invoices read again under lock
   (the customers joined and locked with their invoices), as plain rows, and each message
   whose context is still what was rendered is marked SENDING (per message: a crash from here
   on leaves *that* message UNKNOWN, never resent), one Core statement per table
   (connector.store.rowupdate: on PostgreSQL one UPDATE … FROM unnest(…) for all the rows);
4. the mail calls, concurrently on the tick's send pool, outside any transaction;
5. one write transaction records every plain SENT outcome (messages, reminders, timeline: one
   statement each).

Anything out of the ordinary — a payment stored but not applied, a reminder no longer owed, a
context that changed while rendering, a template error, a send that did not go out, a step that
also makes a letter or hands off — is left to the deliverer's one-message path, which knows
every case; the batch only takes the common path faster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, and_, insert, inspect, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapper, Session

from connector.crypto import SecretError
from connector.domain.money import Money
from connector.domain.rates import RateTable
from connector.dunning.claims import Outcome
from connector.dunning.compose import (
    PlanFacts,
    SentHistory,
    ShopViewMemo,
    build_context,
    current_instalments,
    reads_ecb,
    sent_history,
)
from connector.dunning.context import ReminderContext
from connector.dunning.deliver import Deliverer, _Gathered, _not_sendable, _Prepared
from connector.dunning.planner import StepSpec
from connector.dunning.rendering import RenderedMessage, TemplateError
from connector.dunning.sequence import spec_of
from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail
from connector.platform import InvoiceStatus
from connector.store.db import write_session
from connector.store.idset import among
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Reminder,
    ReminderState,
    Shop,
    Step,
    TimelineEntry,
    TimelineKind,
    WebhookEvent,
    WebhookOutcome,
)
from connector.store.rates import ecb_table
from connector.store.rowupdate import update_by_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A message marked SENDING: its mail, and what recording its outcome needs."""

    message_id: int
    shop_id: int
    prepared: _Prepared
    attempts: int
    # (reminder id, invoice id, invoice number, step key) of each reminder it carries
    lines: tuple[tuple[int, int, str, str], ...]
    plain: bool  # nothing more to do once SENT (no letter to make, nobody to hand off to)


class BatchSender:
    """Delivers batches of claimed messages for one tick's deliverer."""

    def __init__(self, deliverer: Deliverer, send_pool: Executor | None = None) -> None:
        self.d = deliverer
        self.send_pool = send_pool

    def deliver(self, message_ids: Sequence[int], now: datetime) -> list[Outcome]:
        outcomes: list[Outcome] = []
        alone: list[int] = []  # left to the one-message path
        ids = sorted(set(message_ids))
        if self.d.status_checker is not None:
            ids = self._recheck(ids, now, alone)
        ready = self._prepare(ids, now, alone) if ids else []
        results = self._send([r.prepared.mail for r in ready])
        self._record(ready, results, now, outcomes)
        for message_id in alone:
            outcomes += self.d.deliver_message(message_id, now)
        return outcomes

    def _recheck(self, ids: list[int], now: datetime, alone: list[int]) -> list[int]:
        """The platform re-check, per message (it calls the platform: nothing to batch)."""
        kept: list[int] = []
        for message_id in ids:
            try:
                self.d._recheck_platform(message_id, now)
                kept.append(message_id)
            except SecretError:
                alone.append(message_id)  # the one-message path fails it and says why
        return kept

    def _prepare(self, ids: list[int], now: datetime, alone: list[int]) -> list[_Ready]:
        with self.d.sessions() as s:
            snapshot, waiting = self._snapshot(s, ids, now)
        # A message the snapshot does not have (settled meanwhile, or with no reminder left to
        # send) is the one-message path's to settle or leave alone: it re-reads everything.
        alone.extend(m for m in ids if m not in snapshot)
        contexts: dict[int, ReminderContext] = {}
        rendered: dict[int, RenderedMessage] = {}
        inputs: dict[int, _Inputs] = {}
        snapshot_shops = _ShopRows()
        shop_views = ShopViewMemo()
        for message_id, gathered in snapshot.items():
            ctx = gathered.context(now, shop_views)
            if ctx is None or gathered.unsendable or message_id in waiting:
                alone.append(message_id)
                continue
            try:
                rendered[message_id] = self.d.render(ctx)  # no transaction held
            except TemplateError:
                alone.append(message_id)  # failed, with its task, by the one-message path
                continue
            contexts[message_id] = ctx
            inputs[message_id] = _snapshot_inputs(gathered, snapshot_shops)
        if not rendered:
            return []
        ready: list[_Ready] = []
        try:
            with write_session(self.d.sessions) as s:
                marks: list[dict[str, Any]] = []
                reminder_marks: list[dict[str, Any]] = []
                current, waiting, others = self._gather(s, list(rendered), now)
                alone.extend(others)
                locked_shops = _ShopRows()
                locked_ecb = _EcbTables()
                for message_id, ctx in contexts.items():
                    cur = current.get(message_id)
                    if cur is None:
                        continue  # settled or taken over meanwhile: not ours any more
                    if (
                        cur.unsendable
                        or message_id in waiting
                        or not _same_context(
                            inputs[message_id],
                            cur,
                            ctx,
                            now,
                            locked_shops,
                            locked_ecb(s, cur.shop, cur.customer, (sp for *_, sp in cur.live)),
                        )
                    ):
                        alone.append(message_id)
                        continue
                    attempts = cur.message.attempts + 1
                    values, reminder_values, prepared = self.d._sending(
                        cur, ctx, rendered[message_id], now
                    )
                    marks.append({"m_id": message_id, **values})
                    reminder_marks += (
                        {"r_id": rem.id, **v}
                        for (_, rem, _), v in zip(cur.live, reminder_values, strict=True)
                    )
                    ready.append(
                        _Ready(
                            message_id,
                            cur.shop.id,
                            prepared,
                            attempts,
                            _lines(cur),
                            not any(spec.sends_letter or spec.hands_off for *_, spec in cur.live),
                        )
                    )
                # Marked SENDING all at once, in this transaction: one Core statement per
                # table (the ORM's flush of the same changes cost ~100 µs per message).
                update_by_id(s, _MESSAGES, "m_id", marks)
                update_by_id(s, _REMINDERS, "r_id", reminder_marks)
        except DBAPIError:
            # E.g. a deadlock with a payment being applied: nothing of it was kept (no mail
            # went out); each message goes the one-message way instead.
            log.warning("batch of %d messages could not be marked; one by one", len(rendered))
            alone.extend(m for m in contexts if m not in alone)
            return []
        return ready

    def _snapshot(
        self, s: Session, ids: list[int], now: datetime
    ) -> tuple[dict[int, _Snapshot], set[int]]:
        """What each message still ours and CLAIMED would say, read without locks to render
        it: one Core select for its reminders, invoices and customer (only the columns the
        context and the checks read, as plain rows), then the shops, the sent history, the
        instalments, the ECB tables B2B interest reads (the context is built once the session
        is closed: it would read none, and differ from the locked re-read's) and the waiting
        deliveries. The locked re-read (``_gather``) decides."""
        rows = s.execute(
            select(
                Reminder.message_id,
                Reminder.step_id,
                Message.shop_id,
                *_CUSTOMER_COLS,
                *_INVOICE_COLS,
            )
            .join(Message, Message.id == Reminder.message_id)
            .join(Invoice, Invoice.id == Reminder.invoice_id)
            .join(Customer, Customer.id == Message.customer_id)
            .where(
                among(s, Message.id, ids),
                Message.kind == MessageKind.REMINDER,
                Message.state == MessageState.CLAIMED,
                Message.lease_owner == self.d.worker,
                Reminder.state == ReminderState.CLAIMED,
            )
            .order_by(Reminder.message_id, Reminder.id)
        ).all()
        if not rows:
            return {}, set()
        shops = _by_id(s, Shop, {row[2] for row in rows})
        self._load_specs(s, {row[1] for row in rows})
        snapshot: dict[int, _Snapshot] = {}
        for row in rows:
            snap = snapshot.get(row[0])
            if snap is None:
                customer = cast(Customer, _CustomerRow(*row[3:_INVOICE_AT]))
                snap = snapshot[row[0]] = _Snapshot(shops[row[2]], customer)
            inv = cast(Invoice, _InvoiceRow(*row[_INVOICE_AT:]))
            if _not_sendable(inv, snap.customer, snap.shop, now) is not None:
                snap.unsendable = True
            else:
                snap.live.append((inv, self.d._spec(s, row[1])))
        live = [(mid, inv) for mid, snap in snapshot.items() for inv, _ in snap.live]
        history = sent_history(s, {inv.id for _, inv in live})
        plans = current_instalments(s, (inv for _, inv in live))
        tables = _EcbTables()
        for snap in snapshot.values():
            snap.history = {inv.id: history[inv.id] for inv, _ in snap.live if inv.id in history}
            snap.plans = {inv.id: plans[inv.id] for inv, _ in snap.live if inv.id in plans}
            # Read here: its context is built once this session is closed.
            snap.ecb = tables(s, snap.shop, snap.customer, (spec for _, spec in snap.live))
        return snapshot, self._waiting(s, live)

    def _gather(
        self, s: Session, ids: list[int], now: datetime
    ) -> tuple[dict[int, _Gathered], set[int], set[int]]:
        """Each message still ours and CLAIMED, with its reminders and invoices, locked in id
        order, one query per table, as plain rows (the writes are Core statements); the
        messages a stored, unapplied delivery names an invoice of; and the messages still ours
        that this read cannot tell about (no reminder left to send, or none of its invoices
        still its customer's): the one-message path's, which settles them. (An invoice moved
        to another customer is not looked for: no sync or action moves one.)"""
        query = select(*_MESSAGE_COLS).where(among(s, Message.id, ids)).order_by(Message.id)
        messages = [
            _MessageRow(*row)
            for row in s.execute(query.with_for_update()).tuples()
            if row[_KIND] is MessageKind.REMINDER
            and row[_STATE] is MessageState.CLAIMED
            and row[_LEASE_OWNER] == self.d.worker
        ]
        if not messages:
            return {}, set(), set()
        shops = _by_id(s, Shop, {m.shop_id for m in messages})
        by_id = {m.id: m for m in messages}
        reminders = [
            _ReminderRow(*row)
            for row in s.execute(
                select(*_REMINDER_COLS)
                .where(
                    among(s, Reminder.message_id, by_id), Reminder.state == ReminderState.CLAIMED
                )
                .order_by(Reminder.id)
            ).tuples()
        ]
        # The customers are joined and locked with their invoices, and read there: an owner
        # who excluded (or erased, or re-addressed) the customer while this read waited for
        # the invoices' locks has committed by now. Read before it, they would be stale.
        invoices: dict[int, Invoice] = {}
        customers: dict[int, Customer] = {}
        if reminders:
            for row in s.execute(
                select(*_INVOICE_COLS, *_CUSTOMER_COLS)
                .join(Customer, Customer.id == Invoice.customer_id)
                .where(among(s, Invoice.id, {r.invoice_id for r in reminders}))
                .order_by(Invoice.id)
                .with_for_update()
            ).tuples():
                invoices[row[0]] = cast(Invoice, _InvoiceRow(*row[:_CUSTOMER_AT]))
                customer = _CustomerRow(*row[_CUSTOMER_AT:])
                customers[customer.id] = cast(Customer, customer)
        gathered = {
            m.id: _Gathered(cast(Message, m), shops[m.shop_id], customers[m.customer_id])
            for m in messages
            if m.customer_id in customers
        }
        self._load_specs(s, {r.step_id for r in reminders})
        for rem in reminders:
            g = gathered.get(rem.message_id)
            if g is None:
                continue
            inv = invoices[rem.invoice_id]
            reason = _not_sendable(inv, g.customer, g.shop, now)
            if reason is not None:
                g.unsendable.append((inv, cast(Reminder, rem), reason))
            else:
                g.live.append((inv, cast(Reminder, rem), self.d._spec(s, rem.step_id)))
        live = [(mid, inv) for mid, g in gathered.items() for inv, _, _ in g.live]
        history = sent_history(s, {inv.id for _, inv in live})
        plans = current_instalments(s, (inv for _, inv in live))
        for g in gathered.values():
            g.history = {inv.id: history[inv.id] for inv, _, _ in g.live if inv.id in history}
            g.plans = {inv.id: plans[inv.id] for inv, _, _ in g.live if inv.id in plans}
        others = {m.id for m in messages if m.id not in gathered}
        return gathered, self._waiting(s, live), others

    def _waiting(self, s: Session, live: list[tuple[int, Invoice]]) -> set[int]:
        """The messages whose invoices a stored delivery not yet applied names (one probe)."""
        if self.d.waiting_payments is None or not live:
            return set()
        refs = {(inv.connection_id, inv.external_id) for _, inv in live}
        if s.get_bind().dialect.name == "postgresql":
            # Each column among its values (one array each, see connector.store.idset): a
            # superset of the pairs, narrowed to the exact pairs below.
            ref = and_(
                among(s, WebhookEvent.connection_id, {c for c, _ in refs}),
                among(s, WebhookEvent.invoice_ref, {r for _, r in refs}),
            )
        else:
            ref = tuple_(WebhookEvent.connection_id, WebhookEvent.invoice_ref).in_(list(refs))
        named = set(
            s.execute(
                select(WebhookEvent.connection_id, WebhookEvent.invoice_ref)
                .where(
                    ref,
                    WebhookEvent.outcome.in_((WebhookOutcome.PENDING, WebhookOutcome.FAILED)),
                )
                .distinct()
            ).tuples()
        )
        return {mid for mid, inv in live if (inv.connection_id, inv.external_id) in named}

    def _load_specs(self, s: Session, step_ids: set[int]) -> None:
        missing = [i for i in step_ids if i not in self.d._specs]
        if missing:
            for step in s.scalars(select(Step).where(among(s, Step.id, missing))):
                self.d._specs[step.id] = spec_of(step)

    def _send(self, mails: list[OutgoingMail]) -> list[DeliveryResult]:
        """Every mail once, concurrently on the send pool (in order when it has one thread)."""
        if self.send_pool is None or len(mails) < 2:
            return [_send_one(self.d, mail) for mail in mails]
        return list(self.send_pool.map(lambda mail: _send_one(self.d, mail), mails))

    def _record(
        self,
        ready: list[_Ready],
        results: list[DeliveryResult],
        now: datetime,
        outcomes: list[Outcome],
    ) -> None:
        plain = [
            (r, res)
            for r, res in zip(ready, results, strict=True)
            if r.plain and res.outcome is DeliveryOutcome.SENT
        ]
        for r, res in zip(ready, results, strict=True):
            if not (r.plain and res.outcome is DeliveryOutcome.SENT):
                # Tasks, letters, hand-offs: the one-message record knows them all.
                self.d._record(r.message_id, r.prepared, res, now, outcomes)
        if not plain:
            return
        try:
            self._record_plain(plain, now)
        except DBAPIError:
            # The mails went out: never leave them SENDING if it can be helped (they would
            # become UNKNOWN for the owner). Record each on its own.
            log.warning("batch record of %d messages failed; one by one", len(plain))
            for r, res in plain:
                self.d._record(r.message_id, r.prepared, res, now, outcomes)
            return
        outcomes += [
            Outcome(
                number,
                step_key,
                DeliveryOutcome.SENT.value,
                res.error or "",
                r.prepared.mail.to_email,
            )
            for r, res in plain
            for _, _, number, step_key in r.lines
        ]

    def _record_plain(self, plain: list[tuple[_Ready, DeliveryResult]], now: datetime) -> None:
        """Every plain SENT outcome in one transaction: one Core statement per table (the
        ORM's bulk update by primary key cost ~100 µs per message on top)."""
        with write_session(self.d.sessions) as s:
            update_by_id(
                s,
                _MESSAGES,
                "m_id",
                [
                    {
                        "m_id": r.message_id,
                        "state": MessageState.SENT,
                        "lease_until": None,
                        "provider_message_id": res.provider_message_id,
                        "last_error": res.error,
                        "attempts": max(r.attempts, res.attempts),
                        "sent_at": now,
                    }
                    for r, res in plain
                ],
            )
            update_by_id(
                s,
                _REMINDERS,
                "r_id",
                [
                    {
                        "r_id": rem_id,
                        "state": ReminderState.SENT,
                        "provider_message_id": res.provider_message_id,
                        "sent_at": now,
                    }
                    for r, res in plain
                    for rem_id, *_ in r.lines
                ],
            )
            s.execute(
                insert(TimelineEntry),
                [
                    {
                        "shop_id": r.shop_id,
                        "invoice_id": invoice_id,
                        "at": now,
                        "kind": TimelineKind.REMINDER_SENT,
                        "summary": f"{step_key} sent to {r.prepared.mail.to_email}",
                        "reminder_id": rem_id,
                        "data": None,
                    }
                    for r, _ in plain
                    for rem_id, invoice_id, _, step_key in r.lines
                ],
            )


_Inputs = tuple[object, ...]

_MESSAGES = cast(Table, Message.__table__)
_REMINDERS = cast(Table, Reminder.__table__)


@dataclass(frozen=True, slots=True)
class _CustomerRow:
    """The customer columns a message's context and the sending checks read (``facts_for``),
    read by the unlocked snapshot as a plain row standing in for the mapped object: any other
    attribute raises, so nothing reads a column this did not load."""

    id: int
    email: str | None
    name: str | None
    company: str | None
    postal_address: str | None
    locale: str | None
    is_b2b: bool
    excluded: bool
    email_blocked_reason: str | None
    erased_at: datetime | None


@dataclass(frozen=True, slots=True)
class _InvoiceRow:
    """The invoice columns a message's context, the sending checks and the waiting-delivery
    probe read; as :class:`_CustomerRow`, with the mapped class's money properties."""

    id: int
    connection_id: int
    external_id: str
    number: str
    currency: str
    total_minor: int
    amount_due_minor: int
    status: InvoiceStatus
    issued_at: datetime
    due_at: datetime
    payment_url: str | None
    paused_until: datetime | None
    pause_reason: str | None
    plan_due_at: datetime | None
    handed_off_at: datetime | None
    prescribed_at: datetime | None

    @property
    def amount_due(self) -> Money:
        return Money.from_minor(self.amount_due_minor, self.currency)

    @property
    def total(self) -> Money:
        return Money.from_minor(self.total_minor, self.currency)


@dataclass(frozen=True, slots=True)
class _MessageRow:
    """The message columns the locked re-read checks and marking it SENDING reads."""

    id: int
    kind: MessageKind
    state: MessageState
    lease_owner: str | None
    customer_id: int
    shop_id: int
    attempts: int


@dataclass(frozen=True, slots=True)
class _ReminderRow:
    """The reminder columns a batch reads: which message, invoice and step."""

    id: int
    message_id: int
    invoice_id: int
    step_id: int
    step_key: str


_MESSAGE_COLS = tuple(getattr(Message, f.name) for f in fields(_MessageRow))
_KIND, _STATE, _LEASE_OWNER = 1, 2, 3  # where a message row holds them
_REMINDER_COLS = tuple(getattr(Reminder, f.name) for f in fields(_ReminderRow))
_CUSTOMER_FIELDS = tuple(f.name for f in fields(_CustomerRow))
_INVOICE_FIELDS = tuple(f.name for f in fields(_InvoiceRow))
_CUSTOMER_COLS = tuple(getattr(Customer, name) for name in _CUSTOMER_FIELDS)
_INVOICE_COLS = tuple(getattr(Invoice, name) for name in _INVOICE_FIELDS)
_INVOICE_AT = 3 + len(_CUSTOMER_COLS)  # where a snapshot row's invoice columns start
_CUSTOMER_AT = len(_INVOICE_COLS)  # where a locked row's customer columns start


@dataclass(slots=True)
class _Snapshot:
    """One message as the unlocked snapshot read it: what its context is made of."""

    shop: Shop
    customer: Customer  # a _CustomerRow
    live: list[tuple[Invoice, StepSpec]] = field(default_factory=list)  # _InvoiceRow each
    unsendable: bool = False  # an invoice that must not get it: the one-message path's
    history: SentHistory = field(default_factory=dict)
    plans: PlanFacts = field(default_factory=dict)
    ecb: RateTable | None = None  # the shop's ECB table, when the context shows B2B interest

    def context(self, now: datetime, shop_views: ShopViewMemo) -> ReminderContext | None:
        if not self.live:
            return None
        return build_context(
            self.shop,
            self.customer,
            self.live,
            now,
            self.history,
            plans=self.plans,
            ecb=self.ecb,
            shop_views=shop_views,
        )


_COLUMNS: dict[type, tuple[str, ...]] = {}


def _row(obj: object, keys: tuple[str, ...] | None = None) -> tuple[object, ...]:
    """The values of a row's columns (``keys``: of those only)."""
    if keys is None:
        keys = _COLUMNS.get(type(obj))
        if keys is None:
            mapper = cast(Mapper[Any], inspect(type(obj)))
            keys = _COLUMNS[type(obj)] = tuple(attr.key for attr in mapper.column_attrs)
    return tuple(getattr(obj, key) for key in keys)


class _ShopRows:
    """Each shop's row values, taken once per read (a batch's messages share a few shops)."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[object, ...]] = {}

    def __call__(self, shop: Shop) -> tuple[object, ...]:
        row = self._rows.get(id(shop))
        if row is None:
            row = self._rows[id(shop)] = _row(shop)
        return row


class _EcbTables:
    """Each shop's ECB table, read once per read of a batch, in its session, for the messages
    whose context shows B2B interest (compose.reads_ecb); None for the others."""

    def __init__(self) -> None:
        self._tables: dict[int, RateTable] = {}

    def __call__(
        self, s: Session, shop: Shop, customer: Customer, steps: Iterable[StepSpec]
    ) -> RateTable | None:
        if not reads_ecb(shop, customer, steps):
            return None
        table = self._tables.get(shop.id)
        if table is None:
            table = self._tables[shop.id] = ecb_table(s, shop.id)
        return table


def _inputs(
    shop: tuple[object, ...],
    customer: Customer,
    items: Iterable[tuple[Invoice, StepSpec]],
    history: SentHistory,
    plans: PlanFacts,
    ecb: RateTable | None,
) -> _Inputs:
    """Everything a message's context is made of, as plain values: the shop row, the customer
    and invoice columns it reads, the steps, the sent history, the current instalments, the
    ECB rates its B2B interest reads. Equal inputs make equal contexts, so the locked re-read is
    compared with the snapshot without building its context again."""
    invoices = tuple((_row(inv, _INVOICE_FIELDS), spec) for inv, spec in items)
    rates = None if ecb is None else dict(ecb.rates)
    return shop, _row(customer, _CUSTOMER_FIELDS), invoices, dict(history), dict(plans), rates


def _snapshot_inputs(snap: _Snapshot, shop_rows: _ShopRows) -> _Inputs:
    return _inputs(
        shop_rows(snap.shop), snap.customer, snap.live, snap.history, snap.plans, snap.ecb
    )


def _same_context(
    before: _Inputs,
    current: _Gathered,
    ctx: ReminderContext,
    now: datetime,
    shop_rows: _ShopRows,
    ecb: RateTable | None,
) -> bool:
    """The customer would read what was rendered (not so after a payment, a new amount, a new
    name…): the same inputs, or else the same context built from what is read now."""
    items = ((inv, spec) for inv, _, spec in current.live)
    if before == _inputs(
        shop_rows(current.shop), current.customer, items, current.history, current.plans, ecb
    ):
        return True
    return current.context(now) == ctx


def _lines(g: _Gathered) -> tuple[tuple[int, int, str, str], ...]:
    return tuple((rem.id, inv.id, inv.number, rem.step_key) for inv, rem, _ in g.live)


def _send_one(d: Deliverer, mail: OutgoingMail) -> DeliveryResult:
    """A transport that raises has not told us what happened: UNKNOWN, never resent."""
    try:
        return d.transport.send(mail)
    except Exception as exc:  # the others in the batch must still be recorded
        return DeliveryResult(DeliveryOutcome.UNKNOWN, error=f"{type(exc).__name__}: {exc}")


_Row = TypeVar("_Row", Customer, Shop)


def _by_id(s: Session, model: type[_Row], ids: set[int]) -> dict[int, _Row]:
    return {row.id: row for row in s.scalars(select(model).where(among(s, model.id, ids)))}
