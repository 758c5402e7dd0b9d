"""Stripe adapter: owed ``send_invoice`` invoices, their status changes, and signed webhooks.

Registered as the ``stripe`` entry point of ``relance.adapters``; the core never imports it by name.
"""

from adapters.stripe.adapter import StripeAdapter
from adapters.stripe.settings import API_VERSION

__all__ = ["API_VERSION", "StripeAdapter"]
