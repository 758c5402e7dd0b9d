"""reminders: one retry of a bounced email step once the owner fixed the address

Revision ID: 0019
Revises: 0016
Create Date: 2026-11-30

``reminder.attempt``: 0 for a step's send, 1 for its single retry (a new row and a new message:
the bounced first attempt stays as it was, as evidence). The unique key becomes (invoice, step,
attempt) and a check keeps attempt to 0 or 1: a second retry cannot be claimed, even by a racing
worker. ``reminder.retry``: allowed (the owner fixed the address) → used | dropped.

``uq_message_statement_customer_day``: one statement of account per customer and local day (two
clicks, or two requests at once, send one).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
# Chained after 0016 (this branch's head) so the branch has one head; the lead re-chains.
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(
            sa.Column(
                "attempt",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=False,
                server_default="0",
            )
        )
        batch.add_column(sa.Column("retry", sa.String(length=24), nullable=True))
        batch.drop_constraint("uq_reminder_invoice_id_step_id", type_="unique")
        batch.create_unique_constraint(
            "uq_reminder_invoice_id_step_id_attempt", ["invoice_id", "step_id", "attempt"]
        )
        batch.create_check_constraint("ck_reminder_attempt_once", "attempt IN (0, 1)")
    op.create_index(
        "uq_message_statement_customer_day",
        "message",
        ["customer_id", "local_day"],
        unique=True,
        sqlite_where=sa.text("kind = 'statement'"),
        postgresql_where=sa.text("kind = 'statement'"),
    )


def downgrade() -> None:
    op.drop_index("uq_message_statement_customer_day", table_name="message")
    op.execute("DELETE FROM reminder WHERE attempt <> 0")
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("ck_reminder_attempt_once", type_="check")
        batch.drop_constraint("uq_reminder_invoice_id_step_id_attempt", type_="unique")
        batch.create_unique_constraint("uq_reminder_invoice_id_step_id", ["invoice_id", "step_id"])
        batch.drop_column("retry")
        batch.drop_column("attempt")
