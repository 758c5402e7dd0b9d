"""webhook_event.invoice_ref: the platform's invoice id a stored delivery names

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

When the web processes only store deliveries (``RELANCE_WEBHOOK_APPLY=background|worker``), a
payment can be stored and not applied yet while a reminder for that invoice is about to go out.
The sender looks up pending deliveries by (connection, invoice) and applies them first; rows
stored before this revision have no reference and are applied by the worker as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_event", sa.Column("invoice_ref", sa.String(length=255), nullable=True))
    op.create_index(
        "ix_webhook_event_invoice_ref", "webhook_event", ["connection_id", "invoice_ref"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_event_invoice_ref", table_name="webhook_event")
    op.drop_column("webhook_event", "invoice_ref")
