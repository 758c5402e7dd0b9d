"""the dashboard's "steps due" tile over 100,000 invoices, read from indexes alone

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30

The tile (connector.actions.dashboard._planned) reads every owed invoice a tick at the next
opening would look at, one due_at range per step. With (shop, status, due_at, next_action_at,
paused_until, sequence_id, customer_id, id) it reads them from the index alone instead of one
table row each. The few customers never to remind (excluded, erased) are a range of
(shop, excluded, erased_at): a small set the invoices are checked against, not a customer row
read per invoice.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_invoice_shop_status_due_plan": (
        "invoice",
        [
            "shop_id",
            "status",
            "due_at",
            "next_action_at",
            "paused_until",
            "sequence_id",
            "customer_id",
            "id",
        ],
    ),
    "ix_customer_shop_unreachable": ("customer", ["shop_id", "excluded", "erased_at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
