"""the schedule keeps its word: the deadline each reminder announced, the letters' posting

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

``reminder.deadline_on``: the deadline the message printed (shop-local), kept with the evidence
so the invoice's next step waits for the day after it. ``shop.letter_posting_delay_days``: the
days a posted letter takes to arrive, from which a formal notice's deadline counts.
``letter_document.posted_on``/``tracking``/``replaces_id``: the owner records the posting; the
letter dated that day is a new version, the draft it replaces keeps its bytes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("deadline_on", sa.Date(), nullable=True))
    with op.batch_alter_table("shop") as batch:
        batch.add_column(
            sa.Column(
                "letter_posting_delay_days", _ID, nullable=False, server_default="2"
            )
        )
    with op.batch_alter_table("letter_document") as batch:
        batch.add_column(sa.Column("posted_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("tracking", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("replaces_id", _ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_letter_document_replaces_id_letter_document"),
            "letter_document",
            ["replaces_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("letter_document") as batch:
        batch.drop_constraint(
            op.f("fk_letter_document_replaces_id_letter_document"), type_="foreignkey"
        )
        batch.drop_column("replaces_id")
        batch.drop_column("tracking")
        batch.drop_column("posted_on")
    with op.batch_alter_table("shop") as batch:
        batch.drop_column("letter_posting_delay_days")
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("deadline_on")
