"""the dashboard over 100,000 invoices: one index range per figure, read from the index alone

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30

Each figure of the owner's dashboard (connector.actions.dashboard) is a range of one of these,
never a scan of a table: the aging buckets and the steps falling due read the owed invoices by
(shop, status, due_at) with the currency and amount in the index; the DSO reads the sales of
the period by (shop, currency, issued_at); the paid-within-7-days table the reminders sent in
the window by (shop, state, sent_at) with their step and invoice; the recovered-per-month
chart the payments of the period by (shop, received_at), with the currency, amount and invoice
(also the window's last payments for the step table); the open rate the messages by
(shop, sent_at). SQLite picks them without ANALYZE (their leading equality columns decide).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_invoice_shop_status_due": (
        "invoice",
        ["shop_id", "status", "due_at", "currency", "amount_due_minor"],
    ),
    "ix_invoice_shop_issued": ("invoice", ["shop_id", "currency", "issued_at", "total_minor"]),
    "ix_reminder_shop_sent": (
        "reminder",
        ["shop_id", "state", "sent_at", "step_key", "invoice_id"],
    ),
    "ix_payment_shop_received": (
        "payment",
        ["shop_id", "received_at", "currency", "amount_minor", "invoice_id"],
    ),
    "ix_message_shop_sent": ("message", ["shop_id", "sent_at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
