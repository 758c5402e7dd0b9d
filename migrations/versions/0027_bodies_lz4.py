"""rendered bodies compressed with lz4 on PostgreSQL

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30

Marking a message SENDING writes its rendered bodies (message.body_html, body_text;
reminder.body_text). A row over ~2 kB is compressed on write, with pglz by default: ~20 µs of
server CPU per message body measured, out of ~1 ms per sent message. lz4 does it for about
half, and the values are no larger. Only new values are written with it (no table rewrite: the
catalog changes, existing values stay pglz and stay readable). A server built without lz4, an
older PostgreSQL (no per-column compression before 14) and SQLite are left as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("message", "body_html"), ("message", "body_text"), ("reminder", "body_text"))


def _has_lz4() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    choices = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return bool(choices) and "lz4" in choices


def upgrade() -> None:
    if _has_lz4():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _has_lz4():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")
