"""The operator's read-only overview of every shop, as plain values for the page.

Only the deployment's operator sees it (behind RELANCE_OVERVIEW_TOKEN): it spans shops by
design. Owners' own pages are scoped by their shop and come with owner accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connector.domain.money import Money
from connector.store.models import Customer, Invoice, Shop, Task, TaskState

INVOICES_SHOWN = 200
TASKS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class ShopLine:
    id: int
    name: str
    timezone: str
    locale: str


@dataclass(frozen=True, slots=True)
class TaskLine:
    shop: ShopLine
    title: str
    kind: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    shop: ShopLine
    number: str
    customer_email: str | None
    amount_due: Money
    due_at: datetime
    status: str
    next_action_at: datetime | None


@dataclass(frozen=True, slots=True)
class Overview:
    shops: list[ShopLine]
    tasks: list[TaskLine]
    invoices: list[InvoiceLine]


def operator_overview(sessions: sessionmaker[Session]) -> Overview:
    """Shops, their open tasks and their invoices due first, in three queries."""
    with sessions() as s:
        shops = [
            ShopLine(row.id, row.name, row.timezone, row.locale)
            for row in s.execute(
                select(Shop.id, Shop.name, Shop.timezone, Shop.locale).order_by(Shop.id)
            )
        ]
        by_id = {shop.id: shop for shop in shops}
        tasks = s.execute(
            select(Task.shop_id, Task.title, Task.kind, Task.created_at)
            .where(Task.state == TaskState.OPEN)
            .order_by(Task.id.desc())
            .limit(TASKS_SHOWN)
        ).all()
        invoices = s.execute(
            select(
                Invoice.shop_id,
                Invoice.number,
                Customer.email,
                Invoice.amount_due_minor,
                Invoice.currency,
                Invoice.due_at,
                Invoice.status,
                Invoice.next_action_at,
            )
            .join(Customer, Customer.id == Invoice.customer_id)
            .order_by(Invoice.due_at, Invoice.id)
            .limit(INVOICES_SHOWN)
        ).all()
    return Overview(
        shops=shops,
        tasks=[
            TaskLine(
                shop=by_id[t.shop_id], title=t.title, kind=t.kind.value, opened_at=t.created_at
            )
            for t in tasks
        ],
        invoices=[
            InvoiceLine(
                shop=by_id[i.shop_id],
                number=i.number,
                customer_email=i.email,
                amount_due=Money.from_minor(i.amount_due_minor, i.currency),
                due_at=i.due_at,
                status=i.status.value,
                next_action_at=i.next_action_at,
            )
            for i in invoices
        ],
    )
