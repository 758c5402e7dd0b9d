"""the owner's actions on invoices: who did what (invoice_event), payment plans (instalment)

Revision ID: 0015
Revises: 0009
Create Date: 2026-11-30

``invoice_event``: one row per owner action (mark paid, pause, plan, dispute, resume, send now,
exclude / include, write off) with the actor and what they gave; never updated, never deleted.
``instalment``: a payment plan's instalments; ``invoice.plan_due_at`` is the next unpaid one's
due date, which the sequence counts from while the plan holds. ``ix_invoice_shop_due``: the
owner's invoice list, a shop's invoices by due date. ``ix_webhook_event_shop_kind_at``: an
invoice's timeline finds the mail provider's delivery reports of its messages.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "invoice_event",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("invoice_id", _ID, nullable=True),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_invoice_event_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoice.id"],
            name=op.f("fk_invoice_event_invoice_id_invoice"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_invoice_event_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_event")),
    )
    op.create_index("ix_invoice_event_invoice_at", "invoice_event", ["invoice_id", "at"])
    op.create_index("ix_invoice_event_customer_at", "invoice_event", ["customer_id", "at"])
    op.create_table(
        "instalment",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("position", _ID, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_minor", _ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_minor", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_instalment_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoice.id"],
            name=op.f("fk_instalment_invoice_id_invoice"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instalment")),
        sa.UniqueConstraint("invoice_id", "position", name=op.f("uq_instalment_invoice_id_position")),
    )
    with op.batch_alter_table("invoice") as batch:
        batch.add_column(sa.Column("plan_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_invoice_shop_due", "invoice", ["shop_id", "due_at", "id"])
    op.create_index(
        "ix_webhook_event_shop_kind_at", "webhook_event", ["shop_id", "kind", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_event_shop_kind_at", table_name="webhook_event")
    op.drop_index("ix_invoice_shop_due", table_name="invoice")
    with op.batch_alter_table("invoice") as batch:
        batch.drop_column("plan_due_at")
    op.drop_table("instalment")
    op.drop_index("ix_invoice_event_customer_at", table_name="invoice_event")
    op.drop_index("ix_invoice_event_invoice_at", table_name="invoice_event")
    op.drop_table("invoice_event")
