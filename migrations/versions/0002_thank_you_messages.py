"""thank-you messages: message.kind and message.invoice_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

A thank-you after payment is a ``message`` row of kind ``thank_you`` naming its invoice:

* ``kind`` (``reminder`` | ``thank_you``, existing rows are reminders) and ``invoice_id``;
* one message of a kind per invoice: ``uq_message_invoice_id_kind`` (reminder messages leave
  ``invoice_id`` NULL, and NULLs never collide) — one thank-you per invoice, ever;
* the daily rule (one message per customer, channel and local day) becomes a partial unique
  index over reminder messages only, so a thank-you never blocks nor is blocked by a reminder.

New enum values (``message.state`` ``pending``; ``timeline_entry.kind`` ``thank_you_*``) need
no DDL: enums are stored as VARCHAR(24) without a CHECK constraint (``str_enum``).

On SQLite, dropping the old unique constraint recreates the table (batch mode); env.py turns
foreign-key enforcement off around the migration so existing reminders keep pointing at their
messages while the table is swapped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REMINDERS_ONLY = sa.text("kind = 'reminder'")


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "reminder", "thank_you", name="messagekind", native_enum=False, length=24
                ),
                server_default="reminder",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "invoice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.drop_constraint("uq_message_customer_id_channel_local_day", type_="unique")
        batch_op.create_foreign_key(
            batch_op.f("fk_message_invoice_id_invoice"),
            "invoice",
            ["invoice_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_message_invoice_id_kind"), ["invoice_id", "kind"]
        )
        batch_op.create_index(
            "uq_message_reminder_customer_day",
            ["customer_id", "channel", "local_day"],
            unique=True,
            sqlite_where=_REMINDERS_ONLY,
            postgresql_where=_REMINDERS_ONLY,
        )


def downgrade() -> None:
    # Thank-you rows cannot live under the old daily rule: they go (reminders stay).
    op.execute(sa.text("DELETE FROM message WHERE kind <> 'reminder'"))
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("uq_message_reminder_customer_day")
        batch_op.drop_constraint(batch_op.f("uq_message_invoice_id_kind"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_message_invoice_id_invoice"), type_="foreignkey")
        batch_op.create_unique_constraint(
            batch_op.f("uq_message_customer_id_channel_local_day"),
            ["customer_id", "channel", "local_day"],
        )
        batch_op.drop_column("invoice_id")
        batch_op.drop_column("kind")
