"""several sequences: assignment rules and the owner's templates per step and language

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

``sequence_rule``: an ordered list per shop; the first rule whose criteria all match an invoice
decides the sequence it follows (none: the default). ``step_template``: the owner's subject and
body of one step in one language (none: the shipped template).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _stamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sequence_rule",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("sequence_id", _ID, nullable=False),
        sa.Column("position", _ID, nullable=False),
        sa.Column("b2b", sa.Boolean(), nullable=True),
        sa.Column("min_amount_minor", _ID, nullable=True),
        sa.Column("max_amount_minor", _ID, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("platform", sa.String(length=255), nullable=True),
        sa.Column("connection_id", _ID, nullable=True),
        sa.Column("excluded_emails", sa.Text(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_sequence_rule_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequence.id"],
            name=op.f("fk_sequence_rule_sequence_id_sequence"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connection.id"],
            name=op.f("fk_sequence_rule_connection_id_connection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_rule")),
    )
    op.create_index(
        "ix_sequence_rule_shop_position", "sequence_rule", ["shop_id", "position"], unique=False
    )
    op.create_table(
        "step_template",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("step_id", _ID, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_step_template_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["step_id"], ["step.id"], name=op.f("fk_step_template_step_id_step"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_template")),
        sa.UniqueConstraint("step_id", "language", name=op.f("uq_step_template_step_id_language")),
    )


def downgrade() -> None:
    op.drop_table("step_template")
    op.drop_index("ix_sequence_rule_shop_position", table_name="sequence_rule")
    op.drop_table("sequence_rule")
