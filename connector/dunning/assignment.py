"""Which sequence an invoice follows: the shop's ordered rules, first match wins, else default.

Resolved when the engine plans (StepCatalog), never stored: a customer who becomes a business,
a partial payment that changes the amount due or an edited rule take effect on the next tick
with no re-assignment pass to forget. ``Invoice.sequence_id`` set by hand pins an invoice and
wins over the rules. The same criteria exist twice — a Python predicate for the planner, a SQL
condition for the counts on the owner's pages — side by side in one table per criterion, so the
two cannot drift apart unnoticed (tests/engine/test_sequence_rules.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.orm import Session

from connector.store.idset import among
from connector.store.models import Connection, Customer, Invoice, SequenceRule


class Criterion(StrEnum):
    B2B = "b2b"
    MIN_AMOUNT = "min_amount_minor"
    MAX_AMOUNT = "max_amount_minor"
    CURRENCY = "currency"
    PLATFORM = "platform"
    CONNECTION = "connection_id"
    EXCLUDED_EMAILS = "excluded_emails"


@dataclass(frozen=True, slots=True)
class Traits:
    """What the rules look at, for one invoice."""

    is_b2b: bool
    amount_due_minor: int
    currency: str
    platform: str
    connection_id: int
    customer_email: str


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: int
    sequence_id: int
    position: int
    b2b: bool | None = None
    min_amount_minor: int | None = None
    max_amount_minor: int | None = None
    currency: str | None = None
    platform: str | None = None
    connection_id: int | None = None
    excluded_emails: frozenset[str] = frozenset()

    def is_set(self, criterion: Criterion) -> bool:
        value = getattr(self, criterion.value)
        return bool(value) if criterion is Criterion.EXCLUDED_EMAILS else value is not None

    def matches(self, traits: Traits) -> bool:
        return all(_CRITERIA[c].matches(self, traits) for c in Criterion if self.is_set(c))

    def condition(self) -> ColumnElement[bool]:
        """The same test as SQL over invoice ⋈ customer ⋈ connection."""
        parts = [_CRITERIA[c].sql(self) for c in Criterion if self.is_set(c)]
        return and_(true(), *parts)


@dataclass(frozen=True, slots=True)
class _Handler:
    matches: Callable[[RuleSpec, Traits], bool]
    sql: Callable[[RuleSpec], ColumnElement[bool]]


def _emails(rule: RuleSpec) -> frozenset[str]:
    return rule.excluded_emails


_CRITERIA: dict[Criterion, _Handler] = {
    Criterion.B2B: _Handler(
        lambda r, t: t.is_b2b == r.b2b, lambda r: Customer.is_b2b.is_(bool(r.b2b))
    ),
    Criterion.MIN_AMOUNT: _Handler(
        lambda r, t: t.amount_due_minor >= (r.min_amount_minor or 0),
        lambda r: Invoice.amount_due_minor >= (r.min_amount_minor or 0),
    ),
    Criterion.MAX_AMOUNT: _Handler(
        lambda r, t: t.amount_due_minor < (r.max_amount_minor or 0),
        lambda r: Invoice.amount_due_minor < (r.max_amount_minor or 0),
    ),
    Criterion.CURRENCY: _Handler(
        lambda r, t: t.currency == r.currency, lambda r: Invoice.currency == r.currency
    ),
    Criterion.PLATFORM: _Handler(
        lambda r, t: t.platform == r.platform, lambda r: Connection.platform == r.platform
    ),
    Criterion.CONNECTION: _Handler(
        lambda r, t: t.connection_id == r.connection_id,
        lambda r: Invoice.connection_id == r.connection_id,
    ),
    Criterion.EXCLUDED_EMAILS: _Handler(
        lambda r, t: t.customer_email.lower() not in r.excluded_emails,
        lambda r: func.lower(func.coalesce(Customer.email, "")).not_in(sorted(r.excluded_emails)),
    ),
}


def rule_spec(row: SequenceRule) -> RuleSpec:
    emails = frozenset(
        line.strip().lower() for line in (row.excluded_emails or "").splitlines() if line.strip()
    )
    return RuleSpec(
        id=row.id,
        sequence_id=row.sequence_id,
        position=row.position,
        b2b=row.b2b,
        min_amount_minor=row.min_amount_minor,
        max_amount_minor=row.max_amount_minor,
        currency=row.currency,
        platform=row.platform,
        connection_id=row.connection_id,
        excluded_emails=emails,
    )


@dataclass(frozen=True, slots=True)
class ShopRules:
    """One shop's rules in order, with its connections' platforms (loaded once per tick)."""

    rules: tuple[RuleSpec, ...] = ()
    platforms: tuple[tuple[int, str], ...] = ()

    def first_match(self, traits: Traits) -> int | None:
        """The sequence of the first rule that matches (None: the default)."""
        for rule in self.rules:
            if rule.matches(traits):
                return rule.sequence_id
        return None

    def sequence_for(self, invoice: Invoice) -> int | None:
        if not self.rules:
            return None
        customer = invoice.customer
        traits = Traits(
            is_b2b=customer.is_b2b,
            amount_due_minor=invoice.amount_due_minor,
            currency=invoice.currency,
            platform=dict(self.platforms).get(invoice.connection_id, ""),
            connection_id=invoice.connection_id,
            customer_email=customer.email or "",
        )
        return self.first_match(traits)


def load_rules(session: Session, shop_id: int) -> ShopRules:
    rows = session.scalars(
        select(SequenceRule)
        .where(SequenceRule.shop_id == shop_id)
        .order_by(SequenceRule.position, SequenceRule.id)
    ).all()
    if not rows:
        return ShopRules()
    platforms = session.execute(
        select(Connection.id, Connection.platform).where(Connection.shop_id == shop_id)
    ).all()
    return ShopRules(
        tuple(rule_spec(r) for r in rows), tuple((cid, platform) for cid, platform in platforms)
    )


def load_rules_of(session: Session, shop_ids: Iterable[int]) -> dict[int, ShopRules]:
    """:func:`load_rules` for many shops at once: one query for all their rules, and one for
    the connections of the shops that have any (a batch of a tick spans many shops)."""
    ids = list(shop_ids)
    rows: dict[int, list[SequenceRule]] = {sid: [] for sid in ids}
    for rule in session.scalars(
        select(SequenceRule)
        .where(among(session, SequenceRule.shop_id, ids))
        .order_by(SequenceRule.position, SequenceRule.id)
    ):
        rows[rule.shop_id].append(rule)
    with_rules = [sid for sid in ids if rows[sid]]
    platforms: dict[int, list[tuple[int, str]]] = {sid: [] for sid in with_rules}
    if with_rules:
        for cid, sid, platform in session.execute(
            select(Connection.id, Connection.shop_id, Connection.platform).where(
                among(session, Connection.shop_id, with_rules)
            )
        ):
            platforms[sid].append((cid, platform))
    return {
        sid: ShopRules(tuple(rule_spec(r) for r in rows[sid]), tuple(platforms[sid]))
        if rows[sid]
        else ShopRules()
        for sid in ids
    }


def governing_sequence(rules: Iterable[RuleSpec], default_id: int) -> ColumnElement[int]:
    """SQL: the sequence each invoice row follows (pinned, else first matching rule, else
    ``default_id``), for set-based counts over invoice ⋈ customer ⋈ connection."""
    whens = [(rule.condition(), rule.sequence_id) for rule in rules]
    by_rule = case(*whens, else_=default_id) if whens else None
    if by_rule is None:
        return func.coalesce(Invoice.sequence_id, default_id)
    return func.coalesce(Invoice.sequence_id, by_rule)
