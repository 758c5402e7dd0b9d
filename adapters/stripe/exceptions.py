"""The Stripe adapter's errors and the one place stripe-python's errors become ours.

Only subclasses of :class:`connector.platform.AdapterError` ever leave the adapter.
"""

from __future__ import annotations

import re

import stripe

from connector.platform import (
    AdapterAuthError,
    AdapterError,
    AdapterMalformedResponse,
    AdapterNotFound,
    AdapterPermissionMissing,
    AdapterRateLimited,
)

# A restricted key's 403 names the permission it lacks: "… Having the 'rak_webhook_write'
# permission would allow this request to continue."
_PERMISSION = re.compile(r"'rak_([a-z_]+?)_(read|write)'")
# The dashboard's names for the resources whose permission names do not read as they are.
_RESOURCE_NAMES = {"webhook": "Webhook Endpoints", "credit_note": "Credit notes"}


class StripeUnavailable(AdapterError):
    """Network failure or 5xx after the SDK's own retries: try again later."""


class StripeRequestRejected(AdapterError):
    """Stripe refused the request itself (400): a bug or a parameter this account does not allow."""


class InvalidSyncCursor(AdapterError):
    """The stored cursor is not one this adapter wrote; clear it to run a full sync."""


class NormalizationError(ValueError):
    """A Stripe object lacks a field we need or has one of the wrong type (internal)."""


class NotOwedYet(NormalizationError):
    """A draft invoice: not finalized, nothing is owed yet (internal)."""


def is_rate_limited(exc: stripe.StripeError) -> bool:
    """A 429 (or the legacy 400 ``rate_limit`` code), whatever body came with it."""
    return isinstance(exc, stripe.RateLimitError) or exc.http_status == 429


def map_stripe_error(exc: stripe.StripeError) -> AdapterError:
    """Translate a stripe-python exception into the adapter error tree."""
    status = exc.http_status
    message = f"Stripe: {exc.user_message or exc.__class__.__name__} (HTTP {status})"
    if is_rate_limited(exc):
        return AdapterRateLimited(message)
    # A restricted key without the permission a call needs (403) is refused credentials too.
    permission = missing_permission(str(exc.user_message or "")) if status == 403 else None
    if permission is not None:
        return AdapterPermissionMissing(
            f"Stripe: the restricted key lacks the permission {permission} "
            "(edit the key in the Stripe dashboard, Developers > API keys)",
            permission,
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError) or status in (401, 403):
        return AdapterAuthError(message)
    if status == 404:
        return AdapterNotFound(message)
    if isinstance(exc, stripe.InvalidRequestError):
        return StripeRequestRejected(message)
    if isinstance(exc, stripe.APIConnectionError):
        return StripeUnavailable(message)
    if status is not None and 200 <= status < 300:
        # The SDK raises APIError("Invalid response body from API") for a 2xx it cannot decode.
        return AdapterMalformedResponse(message)
    if isinstance(exc, stripe.APIError):
        return StripeUnavailable(message)
    return AdapterError(message)


def missing_permission(message: str) -> str | None:
    """The permission a 403 names, as the dashboard shows it: 'rak_invoice_read' → "Invoices:
    Read"; None when the message names none."""
    found = _PERMISSION.search(message)
    if found is None:
        return None
    resource, level = found.groups()
    name = _RESOURCE_NAMES.get(resource) or resource.replace("_", " ").capitalize() + "s"
    return f"{name}: {level.capitalize()}"
