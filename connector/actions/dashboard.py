"""The owner's dashboard: where the money is and what the reminders do. Every figure is one
set-based query (GROUP BY or conditional sums) scoped by the shop, so the page costs the same
number of statements on 100 invoices or 100,000, and each query is an index range on the
shop's rows (migration 0021), never a scan of a whole table (design §8: < 300 ms at 100,000).

Days and months are the shop's: their boundaries are computed here as UTC instants and the
queries compare against them (no time-zone arithmetic in SQL, the same on SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, sessionmaker

from connector.domain.money import Money
from connector.dunning.assignment import governing_sequence, rule_spec
from connector.dunning.rules import sending_window
from connector.ledger import local_midnight
from connector.platform import InvoiceStatus
from connector.store.models import (
    Connection,
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Payment,
    Reminder,
    ReminderState,
    Sequence,
    SequenceRule,
    Shop,
    Step,
    TimelineEntry,
    TimelineKind,
)
from connector.store.sqltime import plus_days

OWED = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)
BUCKETS = ("not due", "1–30 days", "31–60 days", "61–90 days", "over 90 days")
PAID_WITHIN_DAYS = 7
MONTHS_SHOWN = 12
RATES_OVER_DAYS = 90
# The paid-within-7-days table looks at the reminders of the last 180 days: what the sequence
# does now, and a range of the (shop, sent_at) index rather than the shop's whole history.
STEP_RATES_OVER_DAYS = 180
# Beyond a year the ratio says "few sales against old receivables", not a number of days.
DSO_CEILING_DAYS = 365


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    amount: Money
    count: int
    share: Decimal  # of the largest bucket, 0..1: the bar's length


@dataclass(frozen=True, slots=True)
class StepRate:
    step: str
    sent: int
    paid_within: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.paid_within / self.sent) if self.sent else None


@dataclass(frozen=True, slots=True)
class Dso:
    """Days sales outstanding over the last ``period_days``: receivables now / sales issued in
    the period x its days. ``days`` None: nothing was sold in the period."""

    period_days: int
    days: int | None

    @property
    def ceiling(self) -> int:
        return DSO_CEILING_DAYS

    @property
    def beyond_ceiling(self) -> bool:
        """Few sales against old receivables: the ratio is real but no longer a delay."""
        return self.days is not None and self.days > DSO_CEILING_DAYS


@dataclass(frozen=True, slots=True)
class Month:
    first_day: date
    amount: Money
    share: Decimal


@dataclass(frozen=True, slots=True)
class Planned:
    step: str
    invoices: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    shop_id: int
    name: str
    timezone: str
    locale: str
    currency: str
    today: date
    outstanding: Money
    buckets: tuple[Bucket, ...]
    other_currencies: tuple[Money, ...]  # outstanding in currencies other than the shop's
    dso_30: Dso
    dso_90: Dso
    step_rates: tuple[StepRate, ...]
    messages_sent: int
    opened: int
    clicked: int
    recovered: tuple[Month, ...]
    planned_day: date
    planned: tuple[Planned, ...]

    @property
    def open_rate(self) -> int | None:
        return round(100 * self.opened / self.messages_sent) if self.messages_sent else None

    @property
    def click_rate(self) -> int | None:
        return round(100 * self.clicked / self.messages_sent) if self.messages_sent else None

    @property
    def step_rates_over_days(self) -> int:
        return STEP_RATES_OVER_DAYS

    @property
    def planned_total(self) -> int:
        return sum(p.invoices for p in self.planned)


@dataclass(frozen=True, slots=True)
class _Scope:
    """One shop as of one instant: what every figure's query is bounded by."""

    shop: Shop
    now: datetime
    today: date

    def midnight(self, day: date) -> datetime:
        return local_midnight(day, self.shop.timezone)


def _share(part: int, largest: int) -> Decimal:
    return (Decimal(part) / Decimal(largest)).quantize(Decimal("0.001")) if largest else Decimal(0)


def _month_starts(today: date, count: int) -> list[date]:
    first = today.replace(day=1)
    months = [first]
    for _ in range(count - 1):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return list(reversed(months))


def _aging(s: Session, at: _Scope) -> tuple[tuple[Bucket, ...], tuple[Money, ...], int]:
    """Outstanding by aging bucket (and currency): one GROUP BY over the owed invoices, read
    from the covering (shop_id, status, due_at, currency, amount_due_minor) index alone."""
    cut = [at.midnight(at.today - timedelta(days=n)) for n in (0, 30, 60, 90)]
    bucket = case(
        (Invoice.due_at >= cut[0], 0),
        (Invoice.due_at >= cut[1], 1),
        (Invoice.due_at >= cut[2], 2),
        (Invoice.due_at >= cut[3], 3),
        else_=4,
    )
    rows = s.execute(
        select(
            bucket.label("bucket"),
            Invoice.currency,
            func.sum(Invoice.amount_due_minor),
            func.count(),
        )
        .where(Invoice.shop_id == at.shop.id, Invoice.status.in_(OWED))
        .group_by(bucket, Invoice.currency)
    ).all()
    currency = at.shop.currency
    by_bucket = [0] * len(BUCKETS)
    counts = [0] * len(BUCKETS)
    others: dict[str, int] = {}
    for b, cur, total, n in rows:
        if cur == currency:
            by_bucket[int(b)] += int(total or 0)
            counts[int(b)] += int(n)
        else:
            others[cur] = others.get(cur, 0) + int(total or 0)
    largest = max(by_bucket)
    buckets = tuple(
        Bucket(
            label,
            Money.from_minor(by_bucket[i], currency),
            counts[i],
            _share(by_bucket[i], largest),
        )
        for i, label in enumerate(BUCKETS)
    )
    other = tuple(Money.from_minor(v, c) for c, v in sorted(others.items()))
    return buckets, other, sum(by_bucket)


def _dso(s: Session, at: _Scope, outstanding_minor: int) -> tuple[Dso, Dso]:
    """DSO over 30 and 90 days: the sales are a range of (shop_id, currency, issued_at)."""
    since_30, since_90 = (
        at.midnight(at.today - timedelta(days=30)),
        at.midnight(at.today - timedelta(days=90)),
    )
    sales = s.execute(
        select(
            func.sum(case((Invoice.issued_at >= since_30, Invoice.total_minor), else_=0)),
            func.sum(Invoice.total_minor),
        ).where(
            Invoice.shop_id == at.shop.id,
            Invoice.currency == at.shop.currency,
            Invoice.issued_at >= since_90,
            Invoice.issued_at < at.midnight(at.today + timedelta(days=1)),
        )
    ).one()

    def dso(sold: int, days: int) -> Dso:
        if not sold:
            return Dso(days, None)
        ratio = Decimal(outstanding_minor) * days / Decimal(sold)
        return Dso(days, int(ratio.to_integral_value(ROUND_HALF_UP)))

    return dso(int(sales[0] or 0), 30), dso(int(sales[1] or 0), 90)


@dataclass(frozen=True, slots=True)
class _StepRow:
    id: int
    key: str
    position: int
    sequence_id: int
    offset_days: int
    active: bool
    is_default: bool


def _steps(s: Session, at: _Scope) -> list[_StepRow]:
    """The steps of all the shop's sequences (a few rows): their order for the step table, the
    ranges of the steps falling due."""
    rows = s.execute(
        select(
            Step.id,
            Step.key,
            Step.position,
            Step.sequence_id,
            Step.offset_days,
            Step.active,
            Sequence.is_default,
        )
        .join(Sequence, Sequence.id == Step.sequence_id)
        .where(Sequence.shop_id == at.shop.id)
    ).all()
    return [_StepRow(*row) for row in rows]


def _in_step_order(keys: Iterable[str], steps: list[_StepRow]) -> list[str]:
    first: dict[str, int] = {}
    for st in steps:
        first[st.key] = min(first.get(st.key, st.position), st.position)
    return sorted(keys, key=lambda k: (first.get(k, 0), k))


def _step_rates(s: Session, at: _Scope, steps: list[_StepRow]) -> tuple[StepRate, ...]:
    """Per step, over the reminders sent in the last 180 days (read from the reminder index
    alone): the invoices fully paid within 7 days after the step went out, i.e. paid now and
    last paid in that week. The last payments are those of the window's payments (a range of
    the payment index; a last payment before the window cannot follow a reminder in it), so
    neither every payment of the shop nor an invoice per reminder is read."""
    since = at.now - timedelta(days=STEP_RATES_OVER_DAYS)
    last_paid = (
        select(Payment.invoice_id, func.max(Payment.received_at).label("at"))
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(
            Payment.shop_id == at.shop.id,
            Payment.received_at >= since,
            Invoice.status == InvoiceStatus.PAID,
        )
        .group_by(Payment.invoice_id)
        .subquery()
    )
    paid_soon = and_(
        last_paid.c.at >= Reminder.sent_at,
        last_paid.c.at < plus_days(Reminder.sent_at, PAID_WITHIN_DAYS),
    )
    rows = s.execute(
        select(
            Reminder.step_key,
            func.count(distinct(Reminder.invoice_id)),
            func.count(distinct(case((paid_soon, Reminder.invoice_id)))),
        )
        .outerjoin(last_paid, last_paid.c.invoice_id == Reminder.invoice_id)
        .where(
            Reminder.shop_id == at.shop.id,
            Reminder.state == ReminderState.SENT,
            Reminder.sent_at >= since,
        )
        .group_by(Reminder.step_key)
    ).all()
    counts = {key: (int(n), int(p)) for key, n, p in rows}
    return tuple(StepRate(k, *counts[k]) for k in _in_step_order(counts, steps))


def _email_rates(s: Session, at: _Scope) -> tuple[int, int, int]:
    """Reminder emails sent over the last 90 days (a range of (shop_id, sent_at)), and how many
    of them were opened / clicked: per message, its reminders' timeline entries of that kind,
    found by (invoice_id) — never a scan of the shop's timeline."""

    def reacted(kind: TimelineKind) -> ColumnElement[int]:
        seen = (
            select(TimelineEntry.id)
            .join(Reminder, Reminder.id == TimelineEntry.reminder_id)
            .where(
                Reminder.message_id == Message.id,
                TimelineEntry.invoice_id == Reminder.invoice_id,
                TimelineEntry.kind == kind,
            )
            .correlate(Message)
            .exists()
        )
        return func.count(case((seen, 1)))

    sent, opened, clicked = s.execute(
        select(func.count(), reacted(TimelineKind.OPENED), reacted(TimelineKind.CLICKED)).where(
            Message.shop_id == at.shop.id,
            Message.sent_at >= at.now - timedelta(days=RATES_OVER_DAYS),
            Message.kind == MessageKind.REMINDER,
            Message.state == MessageState.SENT,
        )
    ).one()
    return int(sent or 0), int(opened or 0), int(clicked or 0)


def _recovered(s: Session, at: _Scope) -> tuple[Month, ...]:
    """Money recovered per month (the shop's months), last 12: one GROUP BY over a range of
    the (shop_id, currency, received_at, amount_minor) index."""
    currency = at.shop.currency
    starts = _month_starts(at.today, MONTHS_SHOWN)
    bounds = [at.midnight(d) for d in starts]
    month = case(
        *[(Payment.received_at >= b, i) for i, b in reversed(list(enumerate(bounds)))],
        else_=-1,
    )
    rows = dict(
        (int(i), int(total or 0))
        for i, total in s.execute(
            select(month.label("m"), func.sum(Payment.amount_minor))
            .where(
                Payment.shop_id == at.shop.id,
                Payment.currency == currency,
                Payment.received_at >= bounds[0],
                Payment.received_at < at.midnight(at.today + timedelta(days=1)),
            )
            .group_by(month)
        ).all()
    )
    top = max(rows.values(), default=0)
    return tuple(
        Month(d, Money.from_minor(rows.get(i, 0), currency), _share(rows.get(i, 0), top))
        for i, d in enumerate(starts)
    )


def _planned(
    s: Session, at: _Scope, all_steps: list[_StepRow], opening: datetime, planned_day: date
) -> tuple[Planned, ...]:
    """Steps due by the next business day, per step, as a tick at its opening would find them
    (the sequences page's dry run says which go out and which wait): the owed, unpaused
    invoices of reachable customers the engine looks at by then (``next_action_at``), each
    under the sequence the planner gives it (pinned, else the shop's first matching rule, else
    the default: ``governing_sequence``), counted under the one step it is due for — the
    latest of its sequence whose day has come by then, with no reminder for it or a later
    step. A backlog (an overdue invoice imported, a step held while nothing could go out)
    counts under the step that catches it up, as the engine sends only that one; a step
    before the due date counts only while it can still go out before it.

    A step is due on due day + offset, so each of the shop's few active steps is one range of
    the (shop_id, status, due_at, …) index, bounded here from its offset and the next step's:
    one SELECT per step in a UNION ALL, each invoice read once (the backlog included) and from
    the index alone (migration 0026): the customers never to remind are a small set checked
    by id, not a customer row per invoice, and customer and connection are joined only when
    an assignment rule reads them. The reminder check is one index seek per invoice."""
    shop_id = at.shop.id
    steps = [st for st in all_steps if st.active]
    if not steps:
        return ()
    rules = s.scalars(
        select(SequenceRule)
        .where(SequenceRule.shop_id == shop_id)
        .order_by(SequenceRule.position, SequenceRule.id)
    ).all()
    default_id = next((st.sequence_id for st in steps if st.is_default), 0)  # 0: no such id
    governing = governing_sequence([rule_spec(r) for r in rules], default_id)
    last = at.midnight(planned_day + timedelta(days=1))

    def follows(sequence_id: int) -> ColumnElement[bool]:
        """The invoice follows the sequence: ``governing_sequence``'s answer; without rules,
        written on the column itself so PostgreSQL estimates how many rows match."""
        if rules:
            return governing == sequence_id
        if sequence_id == default_id:
            return or_(Invoice.sequence_id.is_(None), Invoice.sequence_id == sequence_id)
        return Invoice.sequence_id == sequence_id

    # Excluded or erased: few customers, two ranges of (shop_id, excluded, erased_at) (a
    # boolean compared, not IS TRUE, which PostgreSQL does not look up in an index).
    unreachable = union_all(
        select(Customer.id).where(Customer.shop_id == shop_id, Customer.excluded),
        select(Customer.id).where(
            Customer.shop_id == shop_id, ~Customer.excluded, Customer.erased_at.is_not(None)
        ),
    )

    def falling_due(st: _StepRow) -> Select[tuple[int, int]]:
        """(the step's id, how many invoices are due for it)."""
        offsets = [o.offset_days for o in steps if o.sequence_id == st.sequence_id]
        after = min((o for o in offsets if o > st.offset_days), default=None)
        # A reminder for this step or one further along: the invoice is past this step.
        past = [
            o.id
            for o in all_steps
            if o.sequence_id == st.sequence_id and o.offset_days >= st.offset_days
        ]
        done = (
            select(Reminder.id)
            .where(Reminder.invoice_id == Invoice.id, Reminder.step_id.in_(past))
            .exists()
        )
        bounds = [Invoice.due_at < last - timedelta(days=st.offset_days)]
        lower = [last - timedelta(days=after)] if after is not None else []  # next step's day
        if st.offset_days < 0:  # not yet come by then / before the due date, or not at all
            lower.append(last)
        if lower:  # one bound, so SQLite weighs the index ranges without statistics
            bounds.append(Invoice.due_at >= max(lower))
        due = select(literal(st.id).label("step_id"), func.count().label("invoices")).select_from(
            Invoice
        )
        if rules:  # a rule may read the customer (B2B, email) or the connection (platform)
            due = due.join(Customer, Customer.id == Invoice.customer_id).join(
                Connection, Connection.id == Invoice.connection_id
            )
        return due.where(
            Invoice.shop_id == shop_id,
            Invoice.status.in_(OWED),
            *bounds,
            follows(st.sequence_id),
            Invoice.next_action_at <= opening,  # NULL: the engine has nothing more to do
            or_(Invoice.paused_until.is_(None), Invoice.paused_until <= opening),
            Invoice.customer_id.not_in(unreachable),
            ~done,
        )

    counts: dict[int, int] = {
        int(step_id): int(n)
        for step_id, n in s.execute(union_all(*(falling_due(st) for st in steps))).all()
    }
    by_key: dict[str, int] = {}
    for st in steps:
        if counts.get(st.id):
            by_key[st.key] = by_key.get(st.key, 0) + counts[st.id]
    return tuple(Planned(k, by_key[k]) for k in _in_step_order(by_key, steps))


def dashboard(
    sessions: sessionmaker[Session], shop_id: int, *, now: datetime | None = None
) -> Dashboard:
    """The shop's dashboard as of ``now`` (default: the clock)."""
    now = now or datetime.now(UTC)
    with sessions() as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise LookupError(f"shop {shop_id} does not exist")
        window = sending_window(shop)
        at = _Scope(shop, now, window.local_date(now))
        buckets, others, outstanding_minor = _aging(s, at)
        dso_30, dso_90 = _dso(s, at, outstanding_minor)
        sent, opened, clicked = _email_rates(s, at)
        steps = _steps(s, at)
        opening = window.opening_on_or_after(at.today + timedelta(days=1))
        planned_day = window.local_date(opening)
        return Dashboard(
            shop_id=shop.id,
            name=shop.name,
            timezone=shop.timezone,
            locale=shop.locale,
            currency=shop.currency,
            today=at.today,
            outstanding=Money.from_minor(outstanding_minor, shop.currency),
            buckets=buckets,
            other_currencies=others,
            dso_30=dso_30,
            dso_90=dso_90,
            step_rates=_step_rates(s, at, steps),
            messages_sent=sent,
            opened=opened,
            clicked=clicked,
            recovered=_recovered(s, at),
            planned_day=planned_day,
            planned=_planned(s, at, steps, opening, planned_day),
        )


__all__ = ["BUCKETS", "DSO_CEILING_DAYS", "Dashboard", "Dso", "dashboard"]
