"""the invoice list over 100,000 invoices: keyset indexes per sort order, prefix search indexes

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30

Each sort the owner's list offers gets a (shop_id, key, id) index so a page is a range scan
after the previous page's last row (keyset), however deep; ``ix_invoice_shop_status`` and
``ix_invoice_shop_number`` gain ``id``. The text search matches prefixes of lower(number) on the
invoice and lower(name/company/email) on the customer: an expression index on each, with
``text_pattern_ops`` on PostgreSQL so ``LIKE 'abc%'`` uses it under any collation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
# Chained after the current head (0016) so the branch has one head; the lead re-chains at merge.
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREFIX = {
    "ix_invoice_shop_number_lower": ("invoice", "number"),
    "ix_customer_shop_name_lower": ("customer", "name"),
    "ix_customer_shop_company_lower": ("customer", "company"),
    "ix_customer_shop_email_lower": ("customer", "email"),
}


def upgrade() -> None:
    ops = " text_pattern_ops" if op.get_bind().dialect.name == "postgresql" else ""
    op.drop_index("ix_invoice_shop_status", table_name="invoice")
    op.drop_index("ix_invoice_shop_number", table_name="invoice")
    op.create_index("ix_invoice_shop_status", "invoice", ["shop_id", "status", "id"])
    op.create_index("ix_invoice_shop_number", "invoice", ["shop_id", "number", "id"])
    op.create_index("ix_invoice_shop_amount", "invoice", ["shop_id", "amount_due_minor", "id"])
    for name, (table, column) in _PREFIX.items():
        op.create_index(name, table, ["shop_id", sa.text(f"lower({column}){ops}")])


def downgrade() -> None:
    for name, (table, _) in _PREFIX.items():
        op.drop_index(name, table_name=table)
    op.drop_index("ix_invoice_shop_amount", table_name="invoice")
    op.drop_index("ix_invoice_shop_number", table_name="invoice")
    op.drop_index("ix_invoice_shop_status", table_name="invoice")
    op.create_index("ix_invoice_shop_number", "invoice", ["shop_id", "number"])
    op.create_index("ix_invoice_shop_status", "invoice", ["shop_id", "status"])
