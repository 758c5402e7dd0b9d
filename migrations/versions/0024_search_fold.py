"""the invoice list's text search folds case and accents alike on SQLite and PostgreSQL

Revision ID: 0024
Revises: 0020
Create Date: 2026-11-30

SQLite's lower() folds ASCII only ("Élodie" was not found by "élodie"). The prefix indexes of
0020 become indexes on ``relance_fold(column)`` (connector.store.fold): on PostgreSQL an
IMMUTABLE SQL function created here, on SQLite the same table registered on every connection.
The indexes are built from the rows as they are: no backfill to run, nothing stored to drift.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.store.fold import FUNCTION, postgresql_function

revision: str = "0024"
# Chained after the current head (0020) so the branch has one head; the lead re-chains at merge.
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = {
    "invoice_shop_number": ("invoice", "number"),
    "customer_shop_name": ("customer", "name"),
    "customer_shop_company": ("customer", "company"),
    "customer_shop_email": ("customer", "email"),
}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(postgresql_function())
    ops = " text_pattern_ops" if postgresql else ""
    for name, (table, column) in _COLUMNS.items():
        op.drop_index(f"ix_{name}_lower", table_name=table)
        op.create_index(f"ix_{name}_fold", table, ["shop_id", sa.text(f"{FUNCTION}({column}){ops}")])


def downgrade() -> None:
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    for name, (table, column) in _COLUMNS.items():
        op.drop_index(f"ix_{name}_fold", table_name=table)
        op.create_index(f"ix_{name}_lower", table, ["shop_id", sa.text(f"lower({column}){ops}")])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {FUNCTION}(text)")
