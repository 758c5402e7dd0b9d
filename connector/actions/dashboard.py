"""The owner's dashboard: where the money is and what the reminders do. Every figure is one
set-based query (GROUP BY or conditional sums) scoped by the shop, so the page costs the same
number of statements on 100 invoices or 100,000.

Days and months are the shop's: their boundaries are computed here as UTC instants and the
queries compare against them (no time-zone arithmetic in SQL, the same on SQLite and
PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, case, distinct, func, literal, or_, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.selectable import ScalarSelect

from connector.domain.money import Money
from connector.dunning.rules import sending_window
from connector.ledger import local_midnight
from connector.platform import InvoiceStatus
from connector.store.base import UTCDateTime
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    Payment,
    Reminder,
    ReminderState,
    Sequence,
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
    dso_30: int | None  # days; None: no sales in the period
    dso_90: int | None
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
    def planned_total(self) -> int:
        return sum(p.invoices for p in self.planned)


def _share(part: int, largest: int) -> Decimal:
    return (Decimal(part) / Decimal(largest)).quantize(Decimal("0.001")) if largest else Decimal(0)


def _month_starts(today: date, count: int) -> list[date]:
    first = today.replace(day=1)
    months = [first]
    for _ in range(count - 1):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(first)
    return list(reversed(months))


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
        today = window.local_date(now)
        tz = shop.timezone

        def midnight(day: date) -> datetime:
            return local_midnight(day, tz)

        # 1. Outstanding by aging bucket (and currency): one GROUP BY.
        cut = [midnight(today - timedelta(days=n)) for n in (0, 30, 60, 90)]
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
                func.count(Invoice.id),
            )
            .where(Invoice.shop_id == shop_id, Invoice.status.in_(OWED))
            .group_by(bucket, Invoice.currency)
        ).all()
        currency = shop.currency
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
        outstanding_minor = sum(by_bucket)

        # 2. DSO over 30 and 90 days: receivables now / sales issued in the period x days.
        since_30, since_90 = (
            midnight(today - timedelta(days=30)),
            midnight(today - timedelta(days=90)),
        )
        sales = s.execute(
            select(
                func.sum(case((Invoice.issued_at >= since_30, Invoice.total_minor), else_=0)),
                func.sum(case((Invoice.issued_at >= since_90, Invoice.total_minor), else_=0)),
            ).where(
                Invoice.shop_id == shop_id,
                Invoice.currency == currency,
                Invoice.issued_at >= since_90,
                Invoice.issued_at < midnight(today + timedelta(days=1)),
            )
        ).one()
        sales_30, sales_90 = int(sales[0] or 0), int(sales[1] or 0)

        def dso(sold: int, days: int) -> int | None:
            if not sold:
                return None
            return int(
                (Decimal(outstanding_minor) * days / Decimal(sold)).to_integral_value(ROUND_HALF_UP)
            )

        # 3. Per step: invoices fully paid within 7 days after the step went out.
        last_paid = (
            select(Payment.invoice_id, func.max(Payment.received_at).label("at"))
            .where(Payment.shop_id == shop_id)
            .group_by(Payment.invoice_id)
            .subquery()
        )
        paid_soon = and_(
            Invoice.status == InvoiceStatus.PAID,
            last_paid.c.at >= Reminder.sent_at,
            last_paid.c.at < plus_days(Reminder.sent_at, PAID_WITHIN_DAYS),
        )
        step_rows = s.execute(
            select(
                Reminder.step_key,
                func.min(Step.position),
                func.count(distinct(Reminder.invoice_id)),
                func.count(distinct(case((paid_soon, Reminder.invoice_id)))),
            )
            .join(Step, Step.id == Reminder.step_id)
            .join(Invoice, Invoice.id == Reminder.invoice_id)
            .outerjoin(last_paid, last_paid.c.invoice_id == Reminder.invoice_id)
            .where(Reminder.shop_id == shop_id, Reminder.state == ReminderState.SENT)
            .group_by(Reminder.step_key)
            .order_by(func.min(Step.position), Reminder.step_key)
        ).all()

        # 4. Open and click rates of the reminder emails sent over the last 90 days.
        rates_since = now - timedelta(days=RATES_OVER_DAYS)
        sent_ids = select(Message.id).where(
            Message.shop_id == shop_id,
            Message.kind == MessageKind.REMINDER,
            Message.state == MessageState.SENT,
            Message.sent_at >= rates_since,
        )

        def reacted(kind: TimelineKind) -> ScalarSelect[int]:
            return (
                select(func.count(distinct(Reminder.message_id)))
                .join(TimelineEntry, TimelineEntry.reminder_id == Reminder.id)
                .where(
                    TimelineEntry.shop_id == shop_id,
                    TimelineEntry.kind == kind,
                    Reminder.message_id.in_(sent_ids),
                )
                .scalar_subquery()
            )

        sent_n, opened_n, clicked_n = s.execute(
            select(
                select(func.count()).select_from(sent_ids.subquery()).scalar_subquery(),
                reacted(TimelineKind.OPENED),
                reacted(TimelineKind.CLICKED),
            )
        ).one()

        # 5. Money recovered per month (the shop's months), last 12: one GROUP BY.
        starts = _month_starts(today, MONTHS_SHOWN)
        bounds = [midnight(d) for d in starts]
        month = case(
            *[(Payment.received_at >= b, i) for i, b in reversed(list(enumerate(bounds)))],
            else_=-1,
        )
        month_rows = dict(
            (int(i), int(total or 0))
            for i, total in s.execute(
                select(month.label("m"), func.sum(Payment.amount_minor))
                .where(
                    Payment.shop_id == shop_id,
                    Payment.currency == currency,
                    Payment.received_at >= bounds[0],
                    Payment.received_at < midnight(today + timedelta(days=1)),
                )
                .group_by(month)
            ).all()
        )
        top_month = max(month_rows.values(), default=0)
        recovered = tuple(
            Month(
                d,
                Money.from_minor(month_rows.get(i, 0), currency),
                _share(month_rows.get(i, 0), top_month),
            )
            for i, d in enumerate(starts)
        )

        # 6. Steps falling due by the next business day, per step: one GROUP BY over the
        # owed, unpaused invoices of reachable customers whose step has no reminder yet.
        planned_day = window.local_date(window.opening_on_or_after(today + timedelta(days=1)))
        default_seq = (
            select(Sequence.id)
            .where(Sequence.shop_id == shop_id, Sequence.is_default.is_(True))
            .limit(1)
            .scalar_subquery()
        )
        # The step falls due on due day + offset: bound the invoice's due date on the step's
        # side (six rows), so each step is an index range on (shop_id, due_at).
        first = midnight(today + timedelta(days=1))
        last = midnight(planned_day + timedelta(days=1))
        done = (
            select(Reminder.id)
            .where(Reminder.invoice_id == Invoice.id, Reminder.step_id == Step.id)
            .exists()
        )
        planned_rows = s.execute(
            select(Step.key, func.min(Step.position), func.count(distinct(Invoice.id)))
            .join(
                Step,
                and_(
                    Step.sequence_id == func.coalesce(Invoice.sequence_id, default_seq),
                    Step.active.is_(True),
                ),
            )
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(
                Invoice.shop_id == shop_id,
                Invoice.status.in_(OWED),
                or_(Invoice.paused_until.is_(None), Invoice.paused_until < now),
                Customer.excluded.is_(False),
                Customer.erased_at.is_(None),
                Invoice.due_at >= plus_days(literal(first, UTCDateTime()), -Step.offset_days),
                Invoice.due_at < plus_days(literal(last, UTCDateTime()), -Step.offset_days),
                ~done,
            )
            .group_by(Step.key)
            .order_by(func.min(Step.position))
        ).all()

        return Dashboard(
            shop_id=shop.id,
            name=shop.name,
            timezone=tz,
            locale=shop.locale,
            currency=currency,
            today=today,
            outstanding=Money.from_minor(outstanding_minor, currency),
            buckets=buckets,
            other_currencies=tuple(Money.from_minor(v, c) for c, v in sorted(others.items())),
            dso_30=dso(sales_30, 30),
            dso_90=dso(sales_90, 90),
            step_rates=tuple(StepRate(key, int(n), int(p)) for key, _, n, p in step_rows),
            messages_sent=int(sent_n or 0),
            opened=int(opened_n or 0),
            clicked=int(clicked_n or 0),
            recovered=recovered,
            planned_day=planned_day,
            planned=tuple(Planned(key, int(n)) for key, _, n in planned_rows),
        )


__all__ = ["BUCKETS", "Dashboard", "dashboard"]
