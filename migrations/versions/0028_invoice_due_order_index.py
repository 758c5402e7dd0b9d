"""the due invoices in the order a tick claims them: (next_action_at, id)

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30

A tick reads the due invoices batch after batch, earliest next_action_at first, and resumes
each read after the last invoice it took (connector.dunning.claims.due_customers): with many
invoices due at the same instant (every shop's window opening at 09:00) only the invoice id
orders them, so the index is (next_action_at, id) and a read starts where the last one ended
instead of walking, on PostgreSQL, the dead index entries every claim leaves at the front
until a vacuum. It replaces the index on next_action_at alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invoice_next_action", "invoice", ["next_action_at", "id"])
    op.drop_index("ix_invoice_next_action_at", table_name="invoice")


def downgrade() -> None:
    op.create_index("ix_invoice_next_action_at", "invoice", ["next_action_at"])
    op.drop_index("ix_invoice_next_action", table_name="invoice")
