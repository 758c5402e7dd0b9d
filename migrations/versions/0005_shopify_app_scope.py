"""webhook_event: Shopify deliveries deduplicated per app, not per connection

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Every shop shares the app secret and ``X-Shopify-Event-Id`` is unique across shops, so the
scope of a Shopify delivery's dedupe key becomes ``"shopify"`` (it was ``"shopify:<connection
id>"``): a delivery captured for one shop and replayed to another's URL is a duplicate. A store
may already hold one event id under several connections (such a replay): the first stored row
takes the new scope, the others keep theirs, so the unique constraint cannot fail.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE webhook_event SET scope = 'shopify' "
        "WHERE platform = 'shopify' AND scope <> 'shopify' AND id = ("
        "SELECT MIN(other.id) FROM webhook_event AS other "
        "WHERE other.platform = 'shopify' AND other.dedupe_key = webhook_event.dedupe_key)"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE webhook_event SET scope = 'shopify:' || CAST(connection_id AS VARCHAR) "
        "WHERE scope = 'shopify' AND connection_id IS NOT NULL"
    )
