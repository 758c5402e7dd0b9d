"""letter_document: letters to post kept in the store; connection.webhook_ids

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A deployment's worker disk does not survive the next deploy: letters rendered there vanished
while their reminders and tasks still pointed at the file. The PDF bytes now live in
``letter_document``; ``reminder.letter_id`` and ``task.letter_id`` name them. The old path
columns stay for rows written before this revision.

``connection.webhook_ids`` keeps the platform's ids of the webhooks a connect registered, so
``relance connections remove`` can delete them there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "letter_document",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("invoice_id", _ID, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_letter_document_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoice.id"],
            name=op.f("fk_letter_document_invoice_id_invoice"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_document")),
    )
    op.create_index(
        "ix_letter_document_shop_invoice", "letter_document", ["shop_id", "invoice_id"]
    )
    with op.batch_alter_table("connection", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_ids", sa.JSON(), nullable=True))
    for table in ("reminder", "task"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("letter_id", _ID, nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_letter_id_letter_document"),
                "letter_document",
                ["letter_id"],
                ["id"],
            )


def downgrade() -> None:
    for table in ("task", "reminder"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_letter_id_letter_document"), type_="foreignkey"
            )
            batch_op.drop_column("letter_id")
    with op.batch_alter_table("connection", schema=None) as batch_op:
        batch_op.drop_column("webhook_ids")
    op.drop_index("ix_letter_document_shop_invoice", table_name="letter_document")
    op.drop_table("letter_document")
