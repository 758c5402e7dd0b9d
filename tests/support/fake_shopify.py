"""Moved to :mod:`connector.sandbox.shopify` (shipped: `relance demo` uses it); kept so tests import
it from here as before."""

from connector.sandbox.shopify import *  # noqa: F403
