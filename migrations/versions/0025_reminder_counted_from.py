"""reminders: the day each step's offset counted from

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30

``reminder.counted_from``: the shop-local day the step's offset was counted from — the invoice's
due date, or under a payment plan the instalment's. The engine measures how far along its
sequence an invoice is by ``due_on - counted_from`` (an offset), not by ``due_on`` (a day):
reminders dated from instalments no longer put the invoice's own steps behind it once the plan
is cancelled. Backfilled from each invoice's due date in its shop's time zone, which keeps what
the engine decided for every existing row — except a reminder made under the payment plan the
invoice is on now: it was counted from an instalment (its ``due_on`` less its step's offset is one
of the plan's instalment days), and keeps that basis, or the plan's later steps would be judged
behind and a formal notice could go before the reminders that lead to it.
"""

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

from connector.domain.dates import local_date
from connector.store.base import UTCDateTime

revision: str = "0025"
# Chained after the current head (0024) so the branch has one head; the lead re-chains at merge.
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000


def _backfill() -> None:
    """Every reminder's day, a batch of invoices at a time (their due date in their shop's
    time zone, or the instalment a reminder under the current plan was counted from), written
    with one executemany per batch."""
    bind = op.get_bind()
    invoice = sa.table(
        "invoice", sa.column("id"), sa.column("shop_id"), sa.column("due_at", UTCDateTime())
    )
    shop = sa.table("shop", sa.column("id"), sa.column("timezone"))
    reminder = sa.table(
        "reminder",
        sa.column("id"),
        sa.column("invoice_id"),
        sa.column("step_id"),
        sa.column("due_on", sa.Date()),
        sa.column("counted_from", sa.Date()),
    )
    step = sa.table("step", sa.column("id"), sa.column("offset_days"))
    instalment = sa.table("instalment", sa.column("invoice_id"), sa.column("due_at", UTCDateTime()))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(invoice.c.id, invoice.c.due_at, shop.c.timezone)
            .join(shop, shop.c.id == invoice.c.shop_id)
            .where(invoice.c.id > last)
            .order_by(invoice.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            reminder.update()
            .where(reminder.c.invoice_id == sa.bindparam("b_invoice"))
            .values(counted_from=sa.bindparam("b_day")),
            [{"b_invoice": r.id, "b_day": local_date(r.due_at, r.timezone)} for r in rows],
        )
        _backfill_plans(bind, {r.id: r.timezone for r in rows}, reminder, step, instalment)
        last = rows[-1].id


def _backfill_plans(
    bind: sa.Connection,
    zones: dict[int, str],
    reminder: sa.TableClause,
    step: sa.TableClause,
    instalment: sa.TableClause,
) -> None:
    """Reminders of invoices on a plan now, counted from one of its instalments' days."""
    days: dict[int, set[date]] = {}
    for invoice_id, due_at in bind.execute(
        sa.select(instalment.c.invoice_id, instalment.c.due_at).where(
            instalment.c.invoice_id.in_(list(zones))
        )
    ):
        days.setdefault(invoice_id, set()).add(local_date(due_at, zones[invoice_id]))
    if not days:
        return
    moved = []
    for reminder_id, invoice_id, due_on, offset_days in bind.execute(
        sa.select(reminder.c.id, reminder.c.invoice_id, reminder.c.due_on, step.c.offset_days)
        .join(step, step.c.id == reminder.c.step_id)
        .where(reminder.c.invoice_id.in_(list(days)))
    ):
        basis = due_on - timedelta(days=offset_days)
        if basis in days[invoice_id]:
            moved.append({"b_reminder": reminder_id, "b_day": basis})
    if moved:
        bind.execute(
            reminder.update()
            .where(reminder.c.id == sa.bindparam("b_reminder"))
            .values(counted_from=sa.bindparam("b_day")),
            moved,
        )


def upgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("counted_from", sa.Date(), nullable=True))
    _backfill()
    with op.batch_alter_table("reminder") as batch:
        batch.alter_column("counted_from", existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("counted_from")
