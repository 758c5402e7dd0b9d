"""tasks: who a task is assigned to, and the comments people leave on it

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

``task.assignee``: free text (a person's name or email), NULL: nobody yet. ``task_comment``: one
row per comment, never updated; a task's comments in order by (task_id, at).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
# Chained after 0015 (wt-invoices, merged into this branch) so the branch has one head; the
# lead re-chains at merge.
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("assignee", sa.String(length=255), nullable=True))
    op.create_table(
        "task_comment",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("task_id", _ID, nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_task_comment_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_task_comment_task_id_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_comment")),
    )
    op.create_index("ix_task_comment_task_at", "task_comment", ["task_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_task_comment_task_at", table_name="task_comment")
    op.drop_table("task_comment")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("assignee")
