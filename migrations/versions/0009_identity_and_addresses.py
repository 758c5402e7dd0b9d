"""the creditor's identification for letters (R123-237 Code de commerce)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

``shop``: legal form, SIREN (9 digits), RCS city, registered office, and the postal address
letters are sent from when it is not the registered office. All optional: without them no
letter is made, and a task says what is missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_form", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("siren", sa.String(length=9), nullable=True))
        batch_op.add_column(sa.Column("rcs_city", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("registered_office", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("postal_address", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shop", schema=None) as batch_op:
        for column in ("postal_address", "registered_office", "rcs_city", "siren", "legal_form"):
            batch_op.drop_column(column)
