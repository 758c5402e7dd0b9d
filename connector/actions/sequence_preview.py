"""Seeing before doing: a draft's wording on a real invoice, what goes out on the next business
day, and a whole tick's dry run. Nothing here writes to the store."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select

from connector.actions.sequences import SequenceNotFound, wording_step
from connector.dunning.compose import build_context, sent_history
from connector.dunning.drafts import Draft, render_draft
from connector.dunning.dry_run import DryRunReport, dry_run, next_business_opening
from connector.dunning.render_pool import RenderPool
from connector.dunning.rendering import message_problems
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


def next_business_day(
    svc: Services, shop_id: int | None, now: datetime | None = None
) -> DryRunReport:
    """What the engine would send at the opening of the shop's next business day."""
    now = now or datetime.now(UTC)
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        when = next_business_opening(shop, now)
        the_shop = shop.id
    return dry_run(svc.sessions, when, shop_id=the_shop)


def tick_dry_run(svc: Services, now: datetime, shop_id: int | None = None) -> DryRunReport:
    """A whole tick as if it were ``now``: planned and rendered, nothing claimed or sent."""
    return dry_run(svc.sessions, now, shop_id=shop_id)
