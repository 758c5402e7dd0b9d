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


@dataclass(frozen=True, slots=True)
class TaskLine:
    shop_name: str
    title: str
    kind: str
    opened_at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    shop_name: str
    number: str
    customer_email: str | None
    amount_due: Money
    due_at: datetime
    status: str
    next_action_at: datetime | None
    timezone: str


@dataclass(frozen=True, slots=True)
class Overview:
    shops: list[ShopLine]
    tasks: list[TaskLine]
    invoices: list[InvoiceLine]


def operator_overview(sessions: sessionmaker[Session]) -> Overview:
    """Shops, their open tasks and their invoices due first, in three queries."""
    with sessions() as s:
        shops = s.execute(select(Shop.id, Shop.name, Shop.timezone).order_by(Shop.id)).all()
        by_id = {row.id: row for row in shops}
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
        shops=[ShopLine(row.id, row.name, row.timezone) for row in shops],
        tasks=[
            TaskLine(
                shop_name=by_id[t.shop_id].name,
                title=t.title,
                kind=t.kind.value,
                opened_at=t.created_at,
                timezone=by_id[t.shop_id].timezone,
            )
            for t in tasks
        ],
        invoices=[
            InvoiceLine(
                shop_name=by_id[i.shop_id].name,
                number=i.number,
                customer_email=i.email,
                amount_due=Money.from_minor(i.amount_due_minor, i.currency),
                due_at=i.due_at,
                status=i.status.value,
                next_action_at=i.next_action_at,
                timezone=by_id[i.shop_id].timezone,
            )
            for i in invoices
        ],
    )
