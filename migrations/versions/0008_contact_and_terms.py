"""shop settings for what every message must say: a named contact, the letters' signatory,
whether the shop has terms and conditions, the consumer mediator

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Every column is nullable or has a server default, so existing shops keep working: without a
contact name the messages name the shop; without terms confirmed none are cited.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop") as batch:
        batch.add_column(sa.Column("contact_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("signatory_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("signatory_role", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column(
                "has_terms_and_conditions",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(sa.Column("consumer_mediator", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shop") as batch:
        batch.drop_column("consumer_mediator")
        batch.drop_column("has_terms_and_conditions")
        batch.drop_column("signatory_role")
        batch.drop_column("signatory_name")
        batch.drop_column("contact_name")
