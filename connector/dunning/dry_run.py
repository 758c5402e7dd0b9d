"""What a tick would do at ``now``, without doing it: plan with the real claimer, then roll back.

The claim (connector.dunning.claims) runs exactly as in a tick, inside one transaction that is
rolled back: the reminders, messages, tasks and timeline entries it would write vanish, and the
store is left as it was, row for row. What each message would say is rendered after the
rollback, with no transaction held (owner templates in the limited pool); a render that fails
is reported for its message and the others still are. Used by ``relance tick --dry-run`` and by
the sequences page's "what goes out on the next business day".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connector.dunning.claims import Claimer, Outcome, StepCatalog, due_customer_ids
from connector.dunning.compose import build_context, sent_history
from connector.dunning.context import ReminderContext
from connector.dunning.render_pool import GuardedRenderer, RenderPool
from connector.dunning.rendering import ReminderRenderer, RenderedMessage, TemplateError
from connector.dunning.rules import sending_window
from connector.dunning.sequence import spec_of
from connector.dunning.statements import statement_mail, statement_of
from connector.store.db import write_session
from connector.store.models import Channel, Customer, Invoice, Message, Reminder, Shop, Step

_BATCH = 500
_MAX_ROUNDS = 10_000


@dataclass(frozen=True, slots=True)
class PlannedItem:
    invoice: str
    step: str
    channel: str
    amount_due: str  # formatted in the invoice's currency


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    shop_id: int
    channel: str
    recipient: str | None
    items: tuple[PlannedItem, ...]
    subject: str | None = None
    text: str | None = None
    error: str | None = None  # the render failed: why (the message would fail, others go)

    def as_dict(self) -> dict[str, object]:
        return {
            "shop": self.shop_id,
            "channel": self.channel,
            "recipient": self.recipient,
            "subject": self.subject,
            "error": self.error,
            "invoices": [
                {"invoice": i.invoice, "step": i.step, "channel": i.channel, "amount": i.amount_due}
                for i in self.items
            ],
        }


@dataclass(slots=True)
class DryRunReport:
    now: datetime
    messages: list[PlannedMessage] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # skipped, handed off, waiting…

    def as_dict(self) -> dict[str, object]:
        return {
            "now": self.now.isoformat(),
            "dry_run": True,
            "messages": [m.as_dict() for m in self.messages],
            "outcomes": [
                {"invoice": o.invoice, "step": o.step, "outcome": o.outcome, "reason": o.reason}
                for o in self.outcomes
            ],
        }


@dataclass(frozen=True, slots=True)
class _Pending:
    shop_id: int
    channel: str
    recipient: str | None
    items: tuple[PlannedItem, ...]
    ctx: ReminderContext | None  # None: a letter or a task (no email to render)
    ready: RenderedMessage | None = None  # a statement: its wording, made in the claim


def dry_run(
    sessions: sessionmaker[Session],
    now: datetime,
    *,
    shop_id: int | None = None,
    renderer: ReminderRenderer | None = None,
    pool: RenderPool | None = None,
) -> DryRunReport:
    if now.tzinfo is None:
        raise ValueError("a dry run needs a timezone-aware 'now'")
    report = DryRunReport(now)
    pending: list[_Pending] = []
    with write_session(sessions) as s:
        try:
            claimer = Claimer(s, worker="dry-run", lease_until=now, catalog=StepCatalog())
            for _ in range(_MAX_ROUNDS):
                customers = due_customer_ids(s, now, _BATCH, skip_locked=False, shop_id=shop_id)
                if not customers:
                    break
                claimed = claimer.claim_customers(customers, now, skip_locked=False)
                report.outcomes.extend(claimed.outcomes)
                pending += [_message(s, mid, now) for mid in claimed.message_ids]
                pending += [_statement(s, mid, now) for mid in claimed.statement_ids]
                pending += [_letter(s, rid) for rid in claimed.letter_reminder_ids]
                s.flush()
        finally:
            s.rollback()  # nothing of the claim is kept: the store stays as it was
    guarded = GuardedRenderer(renderer or ReminderRenderer(), pool)
    for item in pending:
        report.messages.append(_rendered(item, guarded))
    return report


def _rendered(item: _Pending, guarded: GuardedRenderer) -> PlannedMessage:
    base = PlannedMessage(item.shop_id, item.channel, item.recipient, item.items)
    if item.ready is not None:
        return replace(base, subject=item.ready.subject, text=item.ready.text)
    if item.ctx is None:
        return base
    try:
        message = guarded.render(item.ctx)
    except TemplateError as exc:
        return PlannedMessage(
            item.shop_id, item.channel, item.recipient, item.items, error=str(exc)
        )
    return replace(base, subject=message.subject, text=message.text)


def _message(s: Session, message_id: int, now: datetime) -> _Pending:
    msg = s.get(Message, message_id)
    assert msg is not None
    shop = s.get(Shop, msg.shop_id)
    assert shop is not None
    rows = s.execute(
        select(Reminder, Invoice, Step)
        .join(Invoice, Invoice.id == Reminder.invoice_id)
        .join(Step, Step.id == Reminder.step_id)
        .where(Reminder.message_id == message_id)
        .order_by(Invoice.due_at, Invoice.id)
    ).all()
    items = [(inv, spec_of(step)) for _, inv, step in rows]
    customer = rows[0][1].customer
    history = sent_history(s, [inv.id for inv, _ in items])
    ctx = build_context(shop, customer, items, now, history)
    return _Pending(
        shop.id,
        msg.channel.value,
        msg.recipient,
        tuple(
            PlannedItem(
                inv.number, spec.key, spec.channel.value, inv.amount_due.format(shop.locale)
            )
            for inv, spec in items
        ),
        ctx,
    )


def _statement(s: Session, message_id: int, now: datetime) -> _Pending:
    """A statement step's message: the statement of account as it would go (every open
    invoice of the customer; those whose statement step it is name that step)."""
    msg = s.get(Message, message_id)
    assert msg is not None
    shop, customer = s.get(Shop, msg.shop_id), s.get(Customer, msg.customer_id)
    assert shop is not None and customer is not None
    steps = dict(
        s.execute(
            select(Reminder.invoice_id, Reminder.step_key).where(Reminder.message_id == msg.id)
        )
        .tuples()
        .all()
    )
    statement = statement_of(s, shop, customer, now)
    items = tuple(
        PlannedItem(
            line.number,
            steps.get(line.invoice_id, "statement"),
            msg.channel.value,
            line.amount_due.format(shop.locale),
        )
        for line in statement.lines
    )
    ready = statement_mail(statement, shop.payment_instructions)
    return _Pending(shop.id, msg.channel.value, msg.recipient, items, None, ready)


def _letter(s: Session, reminder_id: int) -> _Pending:
    rem = s.get(Reminder, reminder_id)
    assert rem is not None
    inv = s.get(Invoice, rem.invoice_id)
    shop = s.get(Shop, rem.shop_id)
    assert inv is not None and shop is not None
    item = PlannedItem(
        inv.number, rem.step_key, rem.channel.value, inv.amount_due.format(shop.locale)
    )
    return _Pending(shop.id, rem.channel.value, inv.customer.postal_address, (item,), None)


def _item(inv: Invoice, step: str, channel: Channel, locale: str) -> PlannedItem:
    return PlannedItem(inv.number, step, channel.value, inv.amount_due.format(locale))


def next_business_opening(shop: Shop, now: datetime) -> datetime:
    """The opening of the shop's sending window on the next allowed day after today."""
    window = sending_window(shop)
    today: date = window.local_date(now)
    return window.opening_on_or_after(today + timedelta(days=1))
