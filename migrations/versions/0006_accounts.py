"""owner accounts and their memberships of shops

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``owner``: one row per person who signs in (email unique, stored lowercased; a scrypt password
hash). ``membership``: which shops an owner belongs to (one row per pair). Shops created before
this revision have no member: the first owner to sign up on an empty store, or
``relance owner create``, is the way in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "owner",
        sa.Column("id", _ID, nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner")),
        sa.UniqueConstraint("email", name=op.f("uq_owner_email")),
    )
    op.create_table(
        "membership",
        sa.Column("id", _ID, nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column(
            "role", sa.Enum("owner", name="role", native_enum=False, length=24), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owner.id"], name=op.f("fk_membership_owner_id_owner"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_membership_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("owner_id", "shop_id", name=op.f("uq_membership_owner_id_shop_id")),
    )
    op.create_index(op.f("ix_membership_owner_id"), "membership", ["owner_id"])
    op.create_index(op.f("ix_membership_shop_id"), "membership", ["shop_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_membership_shop_id"), table_name="membership")
    op.drop_index(op.f("ix_membership_owner_id"), table_name="membership")
    op.drop_table("membership")
    op.drop_table("owner")
