"""The owner's invoice list and invoice page, read for one shop. The list is one query for the
page (invoice + customer + connection, joined) and one bounded count, whatever the page size or
depth. Pages are keyset pages: a cursor holds the sort key and id of the row a page starts
after (or ends before), so page 1,000 is a range scan on the sort order's (shop, key, id) index
(``ix_invoice_shop_due``, ``_status``, ``_number``, ``_amount``), never an OFFSET.

Text search matches, case and accents folded, the start of the invoice number, of the customer's
name, of their company or of their email, each on a (shop, search key) index
(connector.store.fold), and the start of any later word of the name or company (``dup`` finds
"Dupont SARL", "dupont@x.fr" and "Jean Dupont"; ``elodie`` finds "Élodie"), which no index
serves: a scan of the shop's customers' keys, kept apart from the indexed ranges so those keep
their plans (see ``_Search``)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    UnaryExpression,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from connector.actions.errors import ActionError
from connector.actions.invoice_base import first_pause_day, the_shop
from connector.actions.schedule import NextStep, next_step
from connector.actions.timeline import (
    InvoiceNotFound,
    TimelineEntry,
    find_invoice,
    invoice_timeline,
)
from connector.domain.dates import local_date
from connector.domain.money import Money
from connector.ledger import local_midnight
from connector.platform import InvoiceStatus
from connector.shops import resolve_shop
from connector.store.fold import fold
from connector.store.models import (
    Connection,
    Customer,
    Instalment,
    Invoice,
    Sequence,
    Shop,
)

PER_PAGE = 50
MAX_PER_PAGE = 200
SEARCH_MAX = 100
# Beyond this many matches the list says "more than COUNT_BOUND": counting every row of a
# 100,000-invoice shop on each page would cost more than the page.
COUNT_BOUND = 10_000
# A search matching more than this many invoices walks the sort order's index testing each
# row (a page is found within a few pages' rows); fewer are read from the search indexes and
# sorted.
WALK_FROM = 1_000


class StatusFilter(StrEnum):
    OWED = "owed"  # open or partially paid: what the owner chases (the default)
    ALL = "all"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    PAUSED = "paused"  # owed and paused (manual pause, dispute, exclusion)


_STATUS_WHERE: dict[StatusFilter, ColumnElement[bool] | None] = {
    StatusFilter.OWED: Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID]),
    StatusFilter.ALL: None,
    **{
        StatusFilter(s.value): Invoice.status == s
        for s in InvoiceStatus
        if s.value in StatusFilter._value2member_map_
    },
    StatusFilter.PAUSED: and_(
        Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID]),
        Invoice.pause_reason.is_not(None),
    ),
}


class Aging(StrEnum):
    """Days past the due date, counted in the shop's calendar."""

    NOT_DUE = "not_due"
    D1_30 = "1-30"
    D31_60 = "31-60"
    D61_90 = "61-90"
    D90_PLUS = "over_90"


AGING_LABELS: dict[Aging, str] = {
    Aging.NOT_DUE: "not due",
    Aging.D1_30: "1–30 days",
    Aging.D31_60: "31–60 days",
    Aging.D61_90: "61–90 days",
    Aging.D90_PLUS: "90+ days",
}

# Days overdue (first, last) of each bucket; None: open-ended.
_AGING_DAYS: dict[Aging, tuple[int | None, int | None]] = {
    Aging.NOT_DUE: (None, 0),
    Aging.D1_30: (1, 30),
    Aging.D31_60: (31, 60),
    Aging.D61_90: (61, 90),
    Aging.D90_PLUS: (91, None),
}


def aging_where(aging: Aging, today: date, timezone: str) -> ColumnElement[bool]:
    """The bucket as a range of due instants (the index does the work): due on day D is
    ``today - D`` days overdue."""
    first, last = _AGING_DAYS[aging]
    conditions: list[ColumnElement[bool]] = []
    if first is not None:  # due on or before today - first
        conditions.append(
            Invoice.due_at < local_midnight(today - timedelta(days=first - 1), timezone)
        )
    if last is not None:  # due on or after today - last
        start = local_midnight(today - timedelta(days=last), timezone)
        conditions.append(Invoice.due_at >= start)
    return and_(*conditions)


def aging_of(due_at: datetime, today: date, timezone: str) -> Aging:
    late = (today - local_date(due_at, timezone)).days
    for bucket, (first, last) in _AGING_DAYS.items():
        if (first is None or late >= first) and (last is None or late <= last):
            return bucket
    return Aging.D90_PLUS


class Sort(StrEnum):
    DUE = "due"
    NUMBER = "number"
    AMOUNT = "amount"
    CUSTOMER = "customer"
    STATUS = "status"


_SORT_COLUMNS: dict[Sort, Any] = {
    Sort.DUE: Invoice.due_at,
    Sort.NUMBER: Invoice.number,
    Sort.AMOUNT: Invoice.amount_due_minor,
    Sort.CUSTOMER: func.coalesce(Customer.name, ""),  # no name sorts first, not nowhere
    Sort.STATUS: Invoice.status,
}

# A cursor's sort value, to JSON and back (bad input: ValueError/TypeError → "cursor: …").
_ENCODE: dict[Sort, Callable[[Any], str | int]] = {
    Sort.DUE: lambda v: v.isoformat(),
    Sort.NUMBER: str,
    Sort.AMOUNT: int,
    Sort.CUSTOMER: str,
    Sort.STATUS: lambda v: InvoiceStatus(v).value,
}
_DECODE: dict[Sort, Callable[[Any], Any]] = {
    Sort.DUE: lambda v: _aware(datetime.fromisoformat(v)),
    Sort.NUMBER: lambda v: _text(v),
    Sort.AMOUNT: lambda v: _whole(v),
    Sort.CUSTOMER: lambda v: _text(v),
    Sort.STATUS: InvoiceStatus,
}


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive")
    return value


def _whole(value: object) -> int:
    if type(value) is not int:
        raise TypeError("not a whole number")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


class Direction(StrEnum):
    AFTER = "after"  # the page that follows the cursor row ("next")
    BEFORE = "before"  # the page that precedes it ("previous")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: after (or before) the row with this sort value and id, in the
    list's order. Opaque in the URL (base64 of JSON), checked on the way back in."""

    direction: Direction
    sort: Sort
    value: Any
    id: int

    def token(self) -> str:
        raw = json.dumps([self.sort.value, _ENCODE[self.sort](self.value), self.id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, direction: Direction, token: str, sort: Sort) -> Cursor:
        """The cursor in ``token`` for a list sorted by ``sort`` (ActionError otherwise, e.g.
        a link kept from a list sorted another way)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            kind, value, row_id = json.loads(raw)
            if Sort(kind) is not sort or type(row_id) is not int:
                raise ValueError(kind)
            return cls(direction, sort, _DECODE[sort](value), row_id)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise ActionError(
                f"{direction.value}: not a position in this list (open its first page again)"
            ) from exc


@dataclass(frozen=True, slots=True)
class ListQuery:
    status: StatusFilter = StatusFilter.OWED
    connection_id: int | None = None
    aging: Aging | None = None
    sequence_id: int | None = None
    customer_id: int | None = None
    search: str = ""
    sort: Sort = Sort.DUE
    descending: bool = False
    cursor: Cursor | None = None  # None: the first page
    per_page: int = PER_PAGE

    def checked(self) -> ListQuery:
        if self.cursor is not None and self.cursor.sort is not self.sort:
            raise ActionError(f"{self.cursor.direction.value}: not a position in this list")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ActionError(f"per_page: between 1 and {MAX_PER_PAGE}")
        if len(self.search) > SEARCH_MAX:
            raise ActionError(f"q: at most {SEARCH_MAX} characters")
        return self


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    number: str
    customer_id: int
    customer_name: str | None
    customer_email: str | None
    customer_erased: bool
    amount_due: Money
    total: Money
    due_at: datetime
    status: str
    pause_reason: str | None
    on_plan: bool
    platform: str
    aging: Aging


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class InvoiceList:
    shop_id: int
    timezone: str
    locale: str
    query: ListQuery
    rows: list[InvoiceRow]
    total: int  # capped at COUNT_BOUND + 1: see ``more_than``
    today: date  # the shop's local day (a bulk pause runs until a later day)
    next: Cursor | None = None  # None: this is the last page
    previous: Cursor | None = None  # None: this is the first page
    connections: list[Choice] = field(default_factory=list)
    sequences: list[Choice] = field(default_factory=list)
    shop_is_empty: bool = False  # the shop has no invoice at all (asked only for an empty page)

    @property
    def first_pause_day(self) -> date:
        """The earliest day a pause may run until (the pause action's own rule)."""
        return first_pause_day(self.today)

    @property
    def more_than(self) -> int | None:
        """COUNT_BOUND when there are more matches than were counted, else None."""
        return COUNT_BOUND if self.total > COUNT_BOUND else None


def _filtered(
    shop: Shop, q: ListQuery, today: date, default_sequence: int | None
) -> Select[tuple[int]]:
    """The shop's invoices matching the filters but the text search (ids; callers add the
    search, columns, order, limits)."""
    stmt: Select[tuple[int]] = select(Invoice.id).where(Invoice.shop_id == shop.id)
    status = _STATUS_WHERE[q.status]
    if status is not None:
        stmt = stmt.where(status)
    if q.connection_id is not None:
        stmt = stmt.where(Invoice.connection_id == q.connection_id)
    if q.aging is not None:
        stmt = stmt.where(aging_where(q.aging, today, shop.timezone))
    if q.sequence_id is not None:
        seq = Invoice.sequence_id == q.sequence_id
        if q.sequence_id == default_sequence:  # no sequence of its own: the shop's default
            seq = or_(seq, Invoice.sequence_id.is_(None))
        stmt = stmt.where(seq)
    if q.customer_id is not None:
        stmt = stmt.where(Invoice.customer_id == q.customer_id)
    return stmt


_Text = InstrumentedAttribute[str] | InstrumentedAttribute[str | None]


def _prefix_range(column: _Text, folded: str) -> ColumnElement[bool]:
    """SQLite: the search key in [text, text + U+10FFFF), a range on its (shop, key) index."""
    return and_(column >= literal(folded), column < literal(folded + "\U0010ffff"))


def _prefix_like(column: _Text, folded: str) -> ColumnElement[bool]:
    """PostgreSQL: the search key LIKE 'text%' on its text_pattern_ops index (a range would
    follow the database's collation, not the characters)."""
    return column.like(_escape(folded) + "%", escape="\\")


_PREFIX: dict[str, Callable[[_Text, str], ColumnElement[bool]]] = {
    "sqlite": _prefix_range,
    "postgresql": _prefix_like,
}

_SEARCHED_CUSTOMER: tuple[_Text, ...] = (
    Customer.name_key,
    Customer.company_key,
    Customer.email_key,
)
#: Searched from the start of each word too ("dubois" finds "Léa Dubois").
_WORDS_OF_CUSTOMER: tuple[_Text, ...] = (Customer.name_key, Customer.company_key)


def _word_start(column: _Text, folded: str) -> ColumnElement[bool]:
    """A later word of the key starts with the text (the first word is the prefix search's)."""
    return column.like("% " + _escape(folded) + "%", escape="\\")


@dataclass(frozen=True, slots=True)
class _Search:
    """Invoices whose number, or whose customer's name, company or email, starts with the
    text, case and accents folded (connector.store.fold: "elodie" finds "Élodie Martin"), read
    one of two ways depending on how many match (see ``list_invoices``)."""

    folded: str
    dialect: str

    def _by_number(self, base: Select[tuple[int]]) -> Select[tuple[int]]:
        return base.where(_PREFIX[self.dialect](Invoice.number_key, self.folded))

    def _by_customer(self, base: Select[tuple[int]]) -> Select[tuple[int]]:
        prefix = _PREFIX[self.dialect]
        return base.join(Customer, Customer.id == Invoice.customer_id).where(
            or_(*(prefix(column, self.folded) for column in _SEARCHED_CUSTOMER))
        )

    def _by_word(self, base: Select[tuple[int]]) -> Select[tuple[int]]:
        """A later word of the name or company: no index, a scan of the shop's customers,
        its own part of the UNION so the prefix parts keep their index ranges."""
        return base.join(Customer, Customer.id == Invoice.customer_id).where(
            or_(*(_word_start(column, self.folded) for column in _WORDS_OF_CUSTOMER))
        )

    def _parts(self, base: Select[tuple[int]]) -> tuple[Select[tuple[int]], ...]:
        return (self._by_number(base), self._by_customer(base), self._by_word(base))

    def bounded_count(self, base: Select[tuple[int]], bound: int) -> Select[tuple[int]]:
        """How many match, up to ``bound``: each index range read at most ``bound`` rows deep,
        the union of those counted (a count above ``bound`` only says "more than")."""
        parts = [select(part.limit(bound).subquery().c.id) for part in self._parts(base)]
        return select(func.count()).select_from(union(*parts).subquery())

    def few(self, base: Select[tuple[int]]) -> Select[tuple[int]]:
        """Few matches: a UNION of the index ranges (an OR across the two tables would make
        PostgreSQL filter every invoice of the shop), then sorted."""
        return base.where(Invoice.id.in_(union(*self._parts(base))))

    def many(self, base: Select[tuple[int]]) -> Select[tuple[int]]:
        """Many matches (a one-letter search): walk the sort order's index and test each row,
        which finds a page's worth after a few pages' rows instead of sorting every match.
        The caller joins the customer."""
        prefix = _PREFIX[self.dialect]
        columns = (Invoice.number_key, *_SEARCHED_CUSTOMER)
        return base.where(
            or_(
                *(prefix(column, self.folded) for column in columns),
                *(_word_start(column, self.folded) for column in _WORDS_OF_CUSTOMER),
            )
        )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _keyset(
    query: ListQuery,
) -> tuple[list[UnaryExpression[Any]], ColumnElement[bool] | None, bool]:
    """(ORDER BY, the cursor's WHERE, whether the rows come back reversed): a "previous" page
    is read backwards from its cursor, then turned round."""
    column = _SORT_COLUMNS[query.sort]
    cursor = query.cursor
    backwards = cursor is not None and cursor.direction is Direction.BEFORE
    descending = query.descending != backwards
    order = [column.desc(), Invoice.id.desc()] if descending else [column.asc(), Invoice.id.asc()]
    if cursor is None:
        return order, None, backwards
    key = tuple_(column, Invoice.id)
    mark = tuple_(literal(cursor.value, column.type), literal(cursor.id, Invoice.id.type))
    return order, (key < mark if descending else key > mark), backwards


def _cursor(query: ListQuery, direction: Direction, row: Any) -> Cursor:
    return Cursor(direction, query.sort, row.sort_key, row.id)


def list_invoices(
    sessions: sessionmaker[Session], shop_id: int, query: ListQuery, now: datetime
) -> InvoiceList:
    """One page of the shop's invoices: one query for the rows (one more than a page, to know
    whether another follows), one count bounded at COUNT_BOUND + 1, one each for the filter
    choices (connections, sequences) — never one per row, nor more for a deeper page."""
    query = query.checked()
    with sessions() as s:
        shop = the_shop(s, shop_id)
        today = local_date(now, shop.timezone)
        sequences = s.execute(
            select(Sequence.id, Sequence.name, Sequence.is_default)
            .where(Sequence.shop_id == shop.id)
            .order_by(Sequence.name)
        ).all()
        default = next((sid for sid, _, is_default in sequences if is_default), None)
        base = _filtered(shop, query, today, default)
        folded = fold(query.search.strip())
        if folded:
            search = _Search(folded, s.get_bind().dialect.name)
            total = s.scalar(search.bounded_count(base, COUNT_BOUND + 1))
            base = search.many(base) if (total or 0) > WALK_FROM else search.few(base)
        else:
            total = s.scalar(
                select(func.count()).select_from(base.limit(COUNT_BOUND + 1).subquery())
            )
        order, after, backwards = _keyset(query)
        page = base.join(Customer, Customer.id == Invoice.customer_id)
        if after is not None:
            page = page.where(after)
        found = s.execute(
            page.with_only_columns(
                Invoice.id,
                Invoice.number,
                Invoice.customer_id,
                Customer.name,
                Customer.email,
                Customer.erased_at,
                Invoice.amount_due_minor,
                Invoice.total_minor,
                Invoice.currency,
                Invoice.due_at,
                Invoice.status,
                Invoice.pause_reason,
                Invoice.plan_due_at,
                Connection.platform,
                _SORT_COLUMNS[query.sort].label("sort_key"),
            )
            .join(Connection, Connection.id == Invoice.connection_id)
            .order_by(*order)
            .limit(query.per_page + 1)
        ).all()
        more = len(found) > query.per_page
        rows = list(found[: query.per_page])
        if backwards:
            rows.reverse()
        # Reading forwards: a next page if a row was left over, a previous one if we came from
        # a cursor. Backwards: the reverse.
        has_next = (query.cursor is not None) if backwards else more
        has_previous = more if backwards else query.cursor is not None
        # An empty first page: a new shop (nothing imported yet) is told how invoices arrive,
        # not that its filters match nothing.
        shop_is_empty = (
            not rows
            and query.cursor is None
            and s.scalar(select(Invoice.id).where(Invoice.shop_id == shop.id).limit(1)) is None
        )
        connections = s.execute(
            select(Connection.id, Connection.platform, Connection.external_account)
            .where(Connection.shop_id == shop.id)
            .order_by(Connection.id)
        ).all()
        return InvoiceList(
            shop_id=shop.id,
            timezone=shop.timezone,
            locale=shop.locale,
            query=query,
            total=total or 0,
            today=today,
            shop_is_empty=shop_is_empty,
            next=_cursor(query, Direction.AFTER, rows[-1]) if rows and has_next else None,
            previous=_cursor(query, Direction.BEFORE, rows[0]) if rows and has_previous else None,
            rows=[
                InvoiceRow(
                    id=r.id,
                    number=r.number,
                    customer_id=r.customer_id,
                    customer_name=r.name,
                    customer_email=r.email,
                    customer_erased=r.erased_at is not None,
                    amount_due=Money.from_minor(r.amount_due_minor, r.currency),
                    total=Money.from_minor(r.total_minor, r.currency),
                    due_at=r.due_at,
                    status=r.status.value,
                    pause_reason=r.pause_reason,
                    on_plan=r.plan_due_at is not None,
                    platform=r.platform,
                    aging=aging_of(r.due_at, today, shop.timezone),
                )
                for r in rows
            ],
            connections=[
                Choice(str(cid), f"{platform} {account}".strip())
                for cid, platform, account in connections
            ],
            sequences=[Choice(str(sid), name) for sid, name, _ in sequences],
        )


# -- the invoice page --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalmentRow:
    position: int
    due_at: datetime
    amount: Money
    paid: Money
    missed: bool

    @property
    def settled(self) -> bool:
        return self.paid.amount >= self.amount.amount


@dataclass(frozen=True, slots=True)
class InvoicePage:
    shop_id: int
    timezone: str
    locale: str
    id: int
    number: str
    status: str
    amount_due: Money
    total: Money
    issued_at: datetime
    due_at: datetime
    payment_url: str | None
    platform: str
    pause_reason: str | None
    paused_until: datetime | None
    customer_id: int
    customer_name: str | None
    customer_email: str | None
    customer_company: str | None
    customer_excluded: bool
    customer_erased: bool
    sequence_name: str
    next_step: NextStep
    instalments: list[InstalmentRow]
    timeline: list[TimelineEntry]
    aging: Aging
    today: date  # the shop's local day: the earliest instalment, the latest payment day
    on_plan: bool = False  # a payment plan holds (the owner may cancel it)

    @property
    def first_pause_day(self) -> date:
        """The earliest day a pause may run until (the pause action's own rule)."""
        return first_pause_day(self.today)

    @property
    def owed(self) -> bool:
        return self.status in (InvoiceStatus.OPEN.value, InvoiceStatus.PARTIALLY_PAID.value)


def invoice_page(
    sessions: sessionmaker[Session], shop_id: int, invoice_id: int, now: datetime
) -> InvoicePage:
    """One of the shop's invoices with everything its page shows (InvoiceNotFound otherwise)."""
    with sessions() as s:
        shop = the_shop(s, shop_id)
        inv = find_invoice(s, shop.id, invoice_id)
        customer = inv.customer
        platform = s.scalar(select(Connection.platform).where(Connection.id == inv.connection_id))
        seq_query = select(Sequence.name).where(Sequence.shop_id == shop.id)
        seq_query = seq_query.where(
            Sequence.id == inv.sequence_id
            if inv.sequence_id is not None
            else Sequence.is_default.is_(True)
        )
        sequence_name = s.scalar(seq_query.limit(1)) or "default"
        today = local_date(now, shop.timezone)
        instalments = [
            InstalmentRow(
                i.position,
                i.due_at,
                Money.from_minor(i.amount_minor, i.currency),
                Money.from_minor(i.paid_minor, i.currency),
                missed=i.paid_minor < i.amount_minor
                and local_date(i.due_at, shop.timezone) < today,
            )
            for i in s.scalars(
                select(Instalment)
                .where(Instalment.invoice_id == inv.id, Instalment.shop_id == shop.id)
                .order_by(Instalment.position)
            )
        ]
        return InvoicePage(
            shop_id=shop.id,
            timezone=shop.timezone,
            locale=shop.locale,
            id=inv.id,
            number=inv.number,
            status=inv.status.value,
            amount_due=inv.amount_due,
            total=inv.total,
            issued_at=inv.issued_at,
            due_at=inv.due_at,
            payment_url=inv.payment_url,
            platform=platform or "",
            pause_reason=inv.pause_reason,
            paused_until=inv.paused_until,
            customer_id=customer.id,
            customer_name=customer.name,
            customer_email=customer.email,
            customer_company=customer.company,
            customer_excluded=customer.excluded,
            customer_erased=customer.erased_at is not None,
            sequence_name=sequence_name,
            next_step=next_step(s, shop, inv, customer, now),
            instalments=instalments if inv.plan_due_at is not None or instalments else [],
            timeline=invoice_timeline(s, shop.id, inv.id),
            aging=aging_of(inv.due_at, today, shop.timezone),
            today=today,
            on_plan=inv.plan_due_at is not None,
        )


def find_by_number(
    sessions: sessionmaker[Session], shop_id: int | None, number: str
) -> tuple[int, int]:
    """(shop id, invoice id) of the invoice ``number`` of the shop (the only one when None)."""
    with sessions() as s:
        shop = resolve_shop(s, shop_id)
        invoice_id = s.scalar(
            select(Invoice.id).where(Invoice.shop_id == shop.id, Invoice.number == number)
        )
        if invoice_id is None:
            raise InvoiceNotFound(f"no invoice {number!r} in shop {shop.id}")
        return shop.id, invoice_id
