"""steps: what a step's email says — a reminder (the default) or the statement of account

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30

``step.content``: ``reminder`` (every existing step) or ``statement``: when the step falls due,
the customer gets their statement of account (every open invoice and the total), one a day,
the same ``message`` kind and daily key as the statement sent on the owner's request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
# Chained after the current head (0020) so the branch has one head; the lead re-chains at merge.
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("step") as batch:
        batch.add_column(
            sa.Column("content", sa.String(length=24), nullable=False, server_default="reminder")
        )


def downgrade() -> None:
    # A statement step becomes an ordinary reminder step (its reminders are kept, as evidence).
    with op.batch_alter_table("step") as batch:
        batch.drop_column("content")
