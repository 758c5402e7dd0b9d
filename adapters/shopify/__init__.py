"""Shopify adapter: unpaid orders via the GraphQL Admin API (2026-10), payment webhooks.

Registered as ``shopify = "adapters.shopify:ShopifyAdapter"`` in the ``relance.adapters``
entry-point group; the core never imports it by name.
"""

from adapters.shopify.adapter import ShopifyAdapter
from adapters.shopify.settings import API_VERSION, ShopifySettings

__all__ = ["API_VERSION", "ShopifyAdapter", "ShopifySettings"]
