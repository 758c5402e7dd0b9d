"""Moved to :mod:`connector.sandbox.stripe` (shipped: `relance demo` uses it); kept so tests import
it from here as before."""

from connector.sandbox.stripe import *  # noqa: F403
