"""Fixed choices of the WooCommerce adapter: API version, paging, statuses, retry budget.

Nothing here reads the environment; the adapter's constructor takes overrides for tests.
"""

from __future__ import annotations

from typing import Final

PLATFORM: Final = "woocommerce"

# The REST namespace every request goes to (``{site}/wp-json/wc/v3/...``). ``modified_after`` and
# ``dates_are_gmt`` need WooCommerce 5.8 or later.
API_VERSION: Final = "wc/v3"

PAGE_SIZE: Final = 100  # the WP REST maximum ``per_page``
HTTP_TIMEOUT_SECONDS: Final = 30.0

# Paging is by order id, ascending: an order's place in that order never changes when it is
# modified during a pass (with ``orderby=modified`` a modified order jumps to the end and every
# later one moves back a slot, so a page boundary skips one). ``modified`` is not in the route
# index's ``orderby`` enum either.
ORDERBY: Final = "id"
ORDER: Final = "asc"

# Each incremental pass re-reads this much before the stored watermark. ``modified_after`` is
# strict and WordPress stores whole seconds, so orders modified in the watermark's second would be
# lost without it; it also covers skew between the web server's Date header and PHP's clock.
LOOKBACK_SECONDS: Final = 300

# Order statuses in which something is still owed. ``failed`` counts: WooCommerce lets the
# customer pay a failed order again through the order-pay page (``needs_payment()`` is true for
# pending and failed).
OWED_STATUSES: Final = frozenset({"pending", "on-hold", "failed"})
PAID_STATUSES: Final = frozenset({"processing", "completed"})
# Statuses whose order-pay page takes a payment (``wc_get_is_pending_statuses``-like); on-hold
# bank transfers and cheques are settled outside the shop.
PAYABLE_STATUSES: Final = frozenset({"pending", "failed"})

# Payment methods settled outside the shop: bank transfer, cheque, cash on delivery. The empty
# method is an order created in the admin for the customer to pay through the order-pay link.
# Owed orders of other methods (card gateways) are abandoned checkouts, never dunned.
OFFLINE_PAYMENT_METHODS: Final = frozenset({"bacs", "cheque", "cod", ""})

# Order meta the shop (or an invoicing plugin) may carry a due date in, first match wins.
DUE_DATE_META_KEYS: Final = ("_relance_due_date", "_due_date", "due_date")
# Meta that marks a business customer (EU VAT plugins).
VAT_META_KEYS: Final = ("_billing_vat_number", "_vat_number", "vat_number", "_billing_eu_vat")

# The order-pay page, relative to the site URL; a connection setting ``checkout_path`` overrides
# it for shops whose checkout page has another slug (``/commande/`` on many French shops).
CHECKOUT_PATH: Final = "/checkout/"

WEBHOOK_TOPICS: Final = ("order.created", "order.updated", "order.deleted", "order.restored")
WEBHOOK_PATH: Final = "/webhooks/woocommerce/{connection_id}"
WEBHOOK_NAME: Final = "Relance payment reminders ({topic})"
SIGNATURE_HEADER: Final = "X-WC-Webhook-Signature"
TOPIC_HEADER: Final = "X-WC-Webhook-Topic"
DELIVERY_HEADER: Final = "X-WC-Webhook-Delivery-ID"

# 429 and 5xx / network errors: bounded exponential backoff with jitter, then give up.
RETRIES: Final = 5  # retries after the first attempt
BASE_DELAY: Final = 1.0  # seconds; doubles per retry
MAX_DELAY: Final = 30.0
