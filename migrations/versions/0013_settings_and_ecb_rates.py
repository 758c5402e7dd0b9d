"""the owner's settings: the ECB rate by half-year, a contractual B2B rate, prescription on/off

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30

``ecb_rate``: the ECB main refinancing rate in force on 1 January / 1 July of each half-year
(L441-10 II Code de commerce), seeded here; ``shop_ecb_rate``: a rate an owner adds for their
shop (the next half-year's), which wins over the shipped one for that shop only. Source of
the values, the ECB's key interest rates:
https://www.ecb.europa.eu/stats/policy_and_exchange_rates/key_ecb_interest_rates/html/index.en.html
(the MRO rate in force on each 1 January / 1 July: 0.05 % until the 16 March 2016 cut to 0.00 %,
2.50 % from 21 December 2022, 4.00 % from 21 June 2023, 4.50 % from 20 September 2023, 4.25 %
from 12 June 2024, 3.15 % from 18 December 2024, 2.15 % from 11 June 2025).

``shop``: ``contractual_rate_bp`` (nullable: ECB + margin) and ``prescription_enabled``
(server default true: existing shops keep stopping at prescription).
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: (year, half, rate in basis points) — the rate in force on the half-year's first day.
ECB_RATES = [
    (2015, 1, 5), (2015, 2, 5), (2016, 1, 5), (2016, 2, 0),
    (2017, 1, 0), (2017, 2, 0), (2018, 1, 0), (2018, 2, 0),
    (2019, 1, 0), (2019, 2, 0), (2020, 1, 0), (2020, 2, 0),
    (2021, 1, 0), (2021, 2, 0), (2022, 1, 0), (2022, 2, 0),
    (2023, 1, 250), (2023, 2, 400), (2024, 1, 450), (2024, 2, 425),
    (2025, 1, 315), (2025, 2, 215), (2026, 1, 215),
]  # fmt: skip


def upgrade() -> None:
    table = op.create_table(
        "ecb_rate",
        sa.Column("id", _ID, nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("rate_bp", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ecb_rate")),
        sa.UniqueConstraint("starts_on", name=op.f("uq_ecb_rate_starts_on")),
    )
    op.create_table(
        "shop_ecb_rate",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("rate_bp", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shop.id"], name=op.f("fk_shop_ecb_rate_shop_id_shop"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_ecb_rate")),
        sa.UniqueConstraint(
            "shop_id", "starts_on", name=op.f("uq_shop_ecb_rate_shop_id_starts_on")
        ),
    )
    now = datetime(2026, 11, 30, tzinfo=UTC)
    op.bulk_insert(
        table,
        [
            {
                "starts_on": date(year, 1 if half == 1 else 7, 1),
                "rate_bp": bp,
                "created_at": now,
                "updated_at": now,
            }
            for year, half, bp in ECB_RATES
        ],
    )
    with op.batch_alter_table("shop") as batch:
        batch.add_column(sa.Column("contractual_rate_bp", _ID, nullable=True))
        batch.add_column(
            sa.Column(
                "prescription_enabled", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("shop") as batch:
        batch.drop_column("prescription_enabled")
        batch.drop_column("contractual_rate_bp")
    op.drop_table("shop_ecb_rate")
    op.drop_table("ecb_rate")
