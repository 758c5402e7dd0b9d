"""Phase 2 of a tick, set-based: a batch of claimed messages goes through the deliverer's steps
(connector.dunning.deliver) in a few statements for the whole batch instead of a few dozen per
message.

1. one read (no lock) of everything the batch needs: messages, customers, shops, reminders,
   invoices, steps, waiting payments, sent history — one query each;
2. render every message with no transaction open;
3. one short write transaction: the same read under lock, and each message whose context is
   still what was rendered is marked SENDING (per message: a crash from here on leaves *that*
   message UNKNOWN, never resent), all in one flush;
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
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table, and_, bindparam, insert, inspect, select, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapper, Session, lazyload

from connector.crypto import SecretError
from connector.dunning.claims import Outcome
from connector.dunning.compose import current_instalments, sent_history
from connector.dunning.context import ReminderContext
from connector.dunning.deliver import Deliverer, _Gathered, _not_sendable, _Prepared
from connector.dunning.rendering import RenderedMessage, TemplateError
from connector.dunning.sequence import spec_of
from connector.mail.base import DeliveryOutcome, DeliveryResult, OutgoingMail
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
            snapshot, waiting = self._gather(s, ids, now, lock=False)
        contexts: dict[int, ReminderContext] = {}
        rendered: dict[int, RenderedMessage] = {}
        inputs: dict[int, _Inputs | None] = {}
        for message_id, gathered in snapshot.items():
            ctx = gathered.context(now)
            if ctx is None or gathered.unsendable or message_id in waiting:
                alone.append(message_id)
                continue
            try:
                rendered[message_id] = self.d.render(ctx)  # no transaction held
            except TemplateError:
                alone.append(message_id)  # failed, with its task, by the one-message path
                continue
            contexts[message_id] = ctx
            inputs[message_id] = _inputs(gathered)
        if not rendered:
            return []
        ready: list[_Ready] = []
        try:
            with write_session(self.d.sessions) as s:
                marks: list[dict[str, Any]] = []
                reminder_marks: list[dict[str, Any]] = []
                current, waiting = self._gather(s, list(rendered), now, lock=True)
                for message_id, ctx in contexts.items():
                    cur = current.get(message_id)
                    if cur is None:
                        continue  # settled or taken over meanwhile: not ours any more
                    if (
                        cur.unsendable
                        or message_id in waiting
                        or not _same_context(inputs[message_id], cur, ctx, now)
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
                # Marked SENDING all at once, in this transaction: one Core executemany per
                # table (the ORM's flush of the same changes cost ~100 µs per message).
                if marks:
                    s.execute(_BY_MESSAGE_ID, marks)
                if reminder_marks:
                    s.execute(_BY_REMINDER_ID, reminder_marks)
        except DBAPIError:
            # E.g. a deadlock with a payment being applied: nothing of it was kept (no mail
            # went out); each message goes the one-message way instead.
            log.warning("batch of %d messages could not be marked; one by one", len(rendered))
            alone.extend(m for m in contexts if m not in alone)
            return []
        return ready

    def _gather(
        self, s: Session, ids: list[int], now: datetime, *, lock: bool
    ) -> tuple[dict[int, _Gathered], set[int]]:
        """Each message still ours and CLAIMED, with its reminders and invoices (locked, in id
        order, when ``lock``), one query per table; and the messages a stored, unapplied
        delivery names an invoice of."""
        query = select(Message).where(among(s, Message.id, ids)).order_by(Message.id)
        messages = [
            m
            for m in s.scalars(query.with_for_update() if lock else query)
            if m.kind is MessageKind.REMINDER
            and m.state is MessageState.CLAIMED
            and m.lease_owner == self.d.worker
        ]
        if not messages:
            return {}, set()
        customers = _by_id(s, Customer, {m.customer_id for m in messages})
        shops = _by_id(s, Shop, {m.shop_id for m in messages})
        gathered = {
            m.id: _Gathered(m, shops[m.shop_id], customers[m.customer_id]) for m in messages
        }
        reminders = s.scalars(
            select(Reminder)
            .where(among(s, Reminder.message_id, gathered), Reminder.state == ReminderState.CLAIMED)
            .order_by(Reminder.id)
        ).all()
        invoice_query = (
            select(Invoice)
            .where(among(s, Invoice.id, {r.invoice_id for r in reminders}))
            .order_by(Invoice.id)
        )
        if lock:
            # The customers are joined, locked and read again with their invoices: an owner
            # who excluded (or erased, or re-addressed) the customer while this read waited
            # for the invoices' locks has committed by now, and ``customers`` above are the
            # same objects, refreshed. Read once without it, they would be the stale copy.
            invoice_query = invoice_query.with_for_update().execution_options(
                populate_existing=True
            )
        else:
            invoice_query = invoice_query.options(lazyload(Invoice.customer))  # read above
        invoices = {inv.id: inv for inv in s.scalars(invoice_query)} if reminders else {}
        self._load_specs(s, {r.step_id for r in reminders})
        for rem in reminders:
            g = gathered[rem.message_id]  # type: ignore[index]
            inv = invoices[rem.invoice_id]
            reason = _not_sendable(inv, g.customer, g.shop, now)
            if reason is not None:
                g.unsendable.append((inv, rem, reason))
            else:
                g.live.append((inv, rem, self.d._spec(s, rem.step_id)))
        live = [(mid, inv) for mid, g in gathered.items() for inv, _, _ in g.live]
        history = sent_history(s, {inv.id for _, inv in live})
        plans = current_instalments(s, (inv for _, inv in live))
        for g in gathered.values():
            g.history = {inv.id: history[inv.id] for inv, _, _ in g.live if inv.id in history}
            g.plans = {inv.id: plans[inv.id] for inv, _, _ in g.live if inv.id in plans}
        return gathered, self._waiting(s, live)

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
        """Every plain SENT outcome in one transaction: one Core executemany per table (the
        ORM's bulk update by primary key cost ~100 µs per message on top)."""
        with write_session(self.d.sessions) as s:
            s.execute(
                _BY_MESSAGE_ID,
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
            s.execute(
                _BY_REMINDER_ID,
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
# Updates by id for an executemany: the other keys of each parameter set are the SET clause.
_BY_MESSAGE_ID = update(_MESSAGES).where(_MESSAGES.c.id == bindparam("m_id"))
_BY_REMINDER_ID = update(_REMINDERS).where(_REMINDERS.c.id == bindparam("r_id"))


_COLUMNS: dict[type, tuple[str, ...]] = {}


def _row(obj: object) -> tuple[object, ...]:
    """The values of a row's columns."""
    keys = _COLUMNS.get(type(obj))
    if keys is None:
        mapper = cast(Mapper[Any], inspect(type(obj)))
        keys = _COLUMNS[type(obj)] = tuple(attr.key for attr in mapper.column_attrs)
    return tuple(getattr(obj, key) for key in keys)


def _inputs(g: _Gathered) -> _Inputs | None:
    """Everything ``g.context(now)`` is made of, as plain values: the shop, customer and
    invoice rows, the steps, the sent history, the current instalments. Equal inputs make
    equal contexts, so the locked re-read is compared without building its context again.
    None when the context also reads the store (B2B interest: the ECB rate table)."""
    if g.customer.is_b2b and any(spec.show_penalties for *_, spec in g.live):
        return None
    invoices = tuple((_row(inv), spec) for inv, _, spec in g.live)
    return _row(g.shop), _row(g.customer), invoices, dict(g.history), dict(g.plans)


def _same_context(
    before: _Inputs | None, current: _Gathered, ctx: ReminderContext, now: datetime
) -> bool:
    """The customer would read what was rendered (not so after a payment, a new amount, a new
    name…): the same inputs, or else the same context built from what is read now."""
    if before is not None and before == _inputs(current):
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
