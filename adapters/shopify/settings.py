"""Fixed facts and tunables of the Shopify adapter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

#: The Admin API version every request is pinned to. The GraphQL documents in ``queries`` are
#: validated against this version's schema (connector/sandbox/data/shopify/admin_2026-10.json.gz).
API_VERSION = "2026-10"

#: Where webhooks land in the core: ``{base_url}/webhooks/shopify/{connection id}``.
WEBHOOK_PATH = "/webhooks/shopify/{connection_id}"


@dataclass(frozen=True, slots=True)
class ShopifySettings:
    """Tunables; the defaults suit production, tests shrink them."""

    #: Orders per GraphQL page. The query costs about 2 + 17 points per order; Shopify refuses
    #: a single query above 1,000 points (MAX_COST_EXCEEDED), so stay well under 55.
    page_size: int = 50
    #: Refresh an expiring offline token when it has less than this left.
    refresh_margin: timedelta = timedelta(minutes=5)
    #: Each incremental run re-reads this much before the stored watermark: Shopify's order
    #: search index lags writes by a few seconds, and the two clocks may disagree.
    lookback: timedelta = timedelta(minutes=5)
    #: Retries of one request for THROTTLED, 429, 5xx and network errors, then give up.
    max_retries: int = 5
    #: First backoff delay (doubled per attempt) when the platform gives no better hint.
    backoff_base_seconds: float = 1.0
    #: Longest single wait, whatever the hint says.
    backoff_cap_seconds: float = 60.0
    #: Socket timeout of every call: GraphQL (through TimedGraphQL) and token refresh.
    http_timeout_seconds: float = 30.0
    #: Socket timeout of the install's grants (a person waits on the page meanwhile).
    oauth_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= 250:
            raise ValueError("page_size must be between 1 and 250")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
