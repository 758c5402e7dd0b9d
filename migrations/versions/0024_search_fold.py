"""the invoice list's text search folds case and accents alike on SQLite and PostgreSQL

Revision ID: 0024
Revises: 0022
Create Date: 2026-11-30

SQLite's lower() folds ASCII only ("Élodie" was not found by "élodie"), PostgreSQL's follows
the database's locale. Each searched column gets a folded copy written with it by Python
(connector.store.fold): ``invoice.number_key``, ``customer.name_key``, ``company_key``,
``email_key``, backfilled here, indexed on (shop, key) in place of 0020's lower() indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from connector.store.fold import key

revision: str = "0024"
# Chained after the current head (0020) so the branch has one head; the lead re-chains at merge.
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEARCHED = {"invoice": ("number",), "customer": ("name", "company", "email")}
_BATCH = 5_000


def _backfill(table: str, columns: tuple[str, ...]) -> None:
    """Every row's keys, read and written a batch of ids at a time (100,000 invoices: seconds)."""
    bind = op.get_bind()
    t = sa.table(table, sa.column("id"), *(sa.column(c) for c in columns))
    keys = sa.table(table, sa.column("id"), *(sa.column(f"{c}_key") for c in columns))
    last = 0
    while True:
        rows = bind.execute(sa.select(t).where(t.c.id > last).order_by(t.c.id).limit(_BATCH)).all()
        if not rows:
            return
        bind.execute(
            keys.update()
            .where(keys.c.id == sa.bindparam("b_id"))
            .values({f"{c}_key": sa.bindparam(f"b_{c}") for c in columns}),
            [{"b_id": r.id, **{f"b_{c}": key(getattr(r, c)) for c in columns}} for r in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    for table, columns in _SEARCHED.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(sa.Column(f"{column}_key", sa.Text(), nullable=True))
        _backfill(table, columns)
        for column in columns:
            op.drop_index(f"ix_{table}_shop_{column}_lower", table_name=table)
            op.create_index(
                f"ix_{table}_shop_{column}_key", table, ["shop_id", sa.text(f"{column}_key{ops}")]
            )


def downgrade() -> None:
    """Columns first (on SQLite a batch recreates the table, losing expression indexes), then
    0020's lower() indexes back."""
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    for table, columns in _SEARCHED.items():
        for column in columns:
            op.drop_index(f"ix_{table}_shop_{column}_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(f"{column}_key")
    for table, columns in _SEARCHED.items():
        for column in columns:
            op.create_index(
                f"ix_{table}_shop_{column}_lower",
                table,
                ["shop_id", sa.text(f"lower({column}){ops}")],
            )
