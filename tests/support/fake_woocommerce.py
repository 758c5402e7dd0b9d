"""Moved to :mod:`connector.sandbox.woocommerce` (shipped: `relance demo` uses it); kept so
tests import it from here as before."""

from connector.sandbox.woocommerce import *  # noqa: F403
