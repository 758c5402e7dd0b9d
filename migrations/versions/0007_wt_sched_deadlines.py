"""the schedule keeps its word: the deadline each reminder announced, the letters' posting

Revision ID: 0007_wt_sched
Revises: 0006
Create Date: 2026-11-30

``reminder.deadline_on``: the deadline the message printed (shop-local), kept with the evidence
so the invoice's next step waits for the day after it. ``shop.letter_posting_delay_days``: the
days a posted letter takes to arrive, from which a formal notice's deadline counts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_wt_sched"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("deadline_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("deadline_on")
