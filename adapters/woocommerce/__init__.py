"""WooCommerce adapter: orders awaiting an offline payment (REST wc/v3), signed order webhooks.

Registered as ``woocommerce = "adapters.woocommerce:WooCommerceAdapter"`` in the
``relance.adapters`` entry-point group; the core never imports it by name.
"""

from adapters.woocommerce.adapter import WooCommerceAdapter
from adapters.woocommerce.settings import API_VERSION

__all__ = ["API_VERSION", "WooCommerceAdapter"]
