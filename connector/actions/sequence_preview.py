"""Seeing before doing: a draft's wording on a real invoice, what goes out on the next business
day, and a whole tick's dry run. Nothing here writes to the store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from connector.actions.sequences import SequenceNotFound, wording_step
from connector.dunning.compose import build_context, sent_history
from connector.dunning.drafts import Draft, render_draft
from connector.dunning.dry_run import (
    DryRunReport,
    PlannedMessage,
    dry_run,
    next_business_opening,
)
from connector.dunning.render_pool import RenderPool
from connector.dunning.rendering import message_problems
from connector.dunning.rules import sending_window
from connector.dunning.sequence import spec_of
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import resolve_shop
from connector.store.models import Customer, Invoice

_OPEN = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)


@dataclass(frozen=True, slots=True)
class SampleInvoice:
    id: int
    number: str
    customer: str
    b2b: bool


def preview_invoices(svc: Services, shop_id: int | None, limit: int = 10) -> list[SampleInvoice]:
    """A few of the shop's open invoices to preview on: businesses and consumers both."""
    out: list[SampleInvoice] = []
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        for b2b in (True, False):
            rows = s.execute(
                select(Invoice.id, Invoice.number, Customer.name, Customer.email)
                .join(Customer, Customer.id == Invoice.customer_id)
                .where(
                    Invoice.shop_id == shop.id,
                    Invoice.status.in_(_OPEN),
                    Customer.is_b2b.is_(b2b),
                )
                .order_by(Invoice.due_at.desc(), Invoice.id.desc())
                .limit(limit // 2)
            ).all()
            out += [SampleInvoice(i, n, name or email or "", b2b) for i, n, name, email in rows]
    return out


@dataclass(frozen=True, slots=True)
class Preview:
    subject: str
    text: str
    html: str
    problems: tuple[str, ...]  # mandatory mentions this message would leave out


def preview_template(
    svc: Services,
    shop_id: int | None,
    step_id: int,
    invoice_id: int,
    *,
    language: str,
    subject: str,
    body: str,
    now: datetime | None = None,
    pool: RenderPool | None = None,
) -> Preview:
    """The draft rendered on one of the shop's own invoices, as its customer would read it.

    Rendered in the limited pool (DraftError with the place and reason on any failure)."""
    now = now or datetime.now(UTC)
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        spec = spec_of(wording_step(s, shop, step_id))
        invoice = s.scalar(
            select(Invoice).where(Invoice.id == invoice_id, Invoice.shop_id == shop.id)
        )
        if invoice is None:
            raise SequenceNotFound(f"invoice: no invoice {invoice_id} in this shop")
        ctx = build_context(
            shop,
            invoice.customer,
            [(invoice, spec)],
            now,
            sent_history(s, [invoice.id]),
            locale=language,
        )
    draft = Draft(language, subject, body)
    message = render_draft(draft, spec, ctx, pool)
    problems = message_problems(replace(ctx, templates=()), message)
    return Preview(message.subject, message.text, message.html, tuple(problems))


@dataclass(frozen=True, slots=True)
class Waiting:
    """A step due that day that does not go out, and the engine's reason (as it stores it)."""

    invoice: str
    step: str
    reason: str


@dataclass(frozen=True, slots=True)
class NextDay:
    """The shop's next business day as a tick at its opening would judge it (the same claim,
    rolled back): the messages that go out, and the steps due that wait, each with its reason
    (no way to pay, a statement first…). A step due is one or the other: nothing due is left
    unsaid, and "nothing goes out" never hides a step that waits."""

    now: datetime
    messages: list[PlannedMessage]
    waiting: tuple[Waiting, ...]
    # The days before it on which nothing goes out, and why (a public holiday by its name, a
    # weekend): the shop's own sending window says so, as it does for the engine.
    days_off: tuple[tuple[date, str], ...] = ()

    @property
    def going_out(self) -> int:
        return sum(len(m.items) for m in self.messages)

    @property
    def due(self) -> int:
        return self.going_out + len(self.waiting)

    def due_by_step(self) -> Counter[str]:
        """Steps due that day per step key, going out or waiting (the dashboard's tile)."""
        steps = Counter(item.step for m in self.messages for item in m.items)
        steps.update(w.step for w in self.waiting)
        return steps


def next_business_day(svc: Services, shop_id: int | None, now: datetime | None = None) -> NextDay:
    """What the engine would do at the opening of the shop's next business day."""
    now = now or datetime.now(UTC)
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        when = next_business_opening(shop, now)
        the_shop = shop.id
        window = sending_window(shop)
    report = dry_run(svc.sessions, when, shop_id=the_shop)
    day, first = window.local_date(now) + timedelta(days=1), window.local_date(when)
    days_off: list[tuple[date, str]] = []
    while day < first:
        holiday = window.calendar.holiday_name(day)
        days_off.append((day, f"public holiday: {holiday}" if holiday else "weekend"))
        day += timedelta(days=1)
    waiting = tuple(
        Waiting(o.invoice, o.step, o.reason)
        for o in report.outcomes
        if o.outcome == "waiting" and o.step is not None
    )
    return NextDay(report.now, report.messages, waiting, tuple(days_off))


def tick_dry_run(svc: Services, now: datetime, shop_id: int | None = None) -> DryRunReport:
    """A whole tick as if it were ``now``: planned and rendered, nothing claimed or sent."""
    return dry_run(svc.sessions, now, shop_id=shop_id)
