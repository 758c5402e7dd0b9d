"""The signed-in owner's shop home: its name and its invoices, every query by that shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connector.domain.money import Money
from connector.store.models import Customer, Invoice, Shop, Task, TaskState

INVOICES_SHOWN = 200
TASKS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class HomeInvoice:
    id: int
    number: str
    customer_email: str | None
    customer_name: str | None
    amount_due: Money
    due_at: datetime | None
    status: str


@dataclass(frozen=True, slots=True)
class ShopHome:
    shop_id: int
    name: str
    timezone: str
    locale: str
    invoice_count: int
    invoices: list[HomeInvoice]
    # What the owner must do: open tasks (newest first), and whether reminders for invoices
    # without a payment link wait for the shop's payment instructions.
    open_tasks: list[str]
    needs_payment_instructions: bool


def shop_home(sessions: sessionmaker[Session], shop_id: int) -> ShopHome:
    """One shop's page data; the caller has checked the owner is a member of it."""
    with sessions() as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise LookupError(f"shop {shop_id} does not exist")
        count = s.scalar(select(func.count()).where(Invoice.shop_id == shop_id)) or 0
        rows = s.execute(
            select(
                Invoice.id,
                Invoice.number,
                Customer.email,
                Customer.name,
                Invoice.amount_due_minor,
                Invoice.currency,
                Invoice.due_at,
                Invoice.status,
            )
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.shop_id == shop_id, Customer.shop_id == shop_id)
            .order_by(Invoice.due_at, Invoice.id)
            .limit(INVOICES_SHOWN)
        ).all()
        tasks = s.scalars(
            select(Task.title)
            .where(Task.shop_id == shop_id, Task.state == TaskState.OPEN)
            .order_by(Task.id.desc())
            .limit(TASKS_SHOWN)
        ).all()
        return ShopHome(
            shop_id=shop.id,
            name=shop.name,
            timezone=shop.timezone,
            locale=shop.locale,
            invoice_count=count,
            invoices=[
                HomeInvoice(
                    id=r.id,
                    number=r.number,
                    customer_email=r.email,
                    customer_name=r.name,
                    amount_due=Money.from_minor(r.amount_due_minor, r.currency),
                    due_at=r.due_at,
                    status=r.status.value,
                )
                for r in rows
            ],
            open_tasks=list(tasks),
            needs_payment_instructions=not (shop.payment_instructions or "").strip(),
        )
