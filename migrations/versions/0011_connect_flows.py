"""connect flows: one-time grants, "sync now" and sync progress

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

``connect_grant``: the one-time token of a WooCommerce authorization (its ``user_id``) or a
Stripe Connect OAuth ``state``, bound to the shop and owner who started it, stored hashed,
single use and expiring. ``connection``: ``sync_requested_at`` (the owner's "sync now", picked
up by the worker), and the progress of the current or last sync run (``sync_started_at``,
``sync_pages``, ``sync_invoices``), written with each page.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("connection") as batch:
        batch.add_column(sa.Column("sync_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sync_started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sync_pages", _ID, nullable=False, server_default="0"))
        batch.add_column(sa.Column("sync_invoices", _ID, nullable=False, server_default="0"))
    op.create_table(
        "connect_grant",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "woocommerce", "stripe_connect", name="grantpurpose", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connection_id", _ID, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_connect_grant_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owner.id"],
            name=op.f("fk_connect_grant_owner_id_owner"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_connect_grant_connection_id_connection"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_grant")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_connect_grant_token_hash")),
    )
    op.create_index(op.f("ix_connect_grant_shop_id"), "connect_grant", ["shop_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_connect_grant_shop_id"), table_name="connect_grant")
    op.drop_table("connect_grant")
    with op.batch_alter_table("connection") as batch:
        for column in ("sync_invoices", "sync_pages", "sync_started_at", "sync_requested_at"):
            batch.drop_column(column)
