"""Local servers speaking Stripe's, Shopify's and WooCommerce's wire formats.

Shipped with the app (not only the tests) because ``relance demo`` syncs its invoices through
the real adapters from them, and the tests drive every adapter against them. Each answers on
127.0.0.1 only; nothing here is used by a production shop. Their data (Stripe's OpenAPI spec
and fixtures, Shopify's Admin GraphQL schema, WooCommerce's route index and example order)
ships under ``data/`` as package data.
"""
