"""oauth_state: the one-time states of the Shopify install

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``oauth_state``: the SHA-256 of each ``state`` sent to Shopify's authorize page, the shop it
was issued for, when it expires and when it was used (once). Nothing else refers to it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oauth_state",
        sa.Column("id", _ID, nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_state")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_state_state_hash")),
    )


def downgrade() -> None:
    op.drop_table("oauth_state")
