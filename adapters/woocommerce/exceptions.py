"""The WooCommerce adapter's errors and the one place WP REST error answers become ours.

Only subclasses of :class:`connector.platform.AdapterError` ever leave the adapter; ``requests``
exceptions and JSON errors are mapped at the client boundary.
"""

from __future__ import annotations

from typing import Any

from connector.platform import (
    AdapterAuthError,
    AdapterError,
    AdapterMalformedResponse,
    AdapterNotFound,
    AdapterRateLimited,
)


class WooCommerceError(AdapterError):
    """Base of the errors only this adapter raises (other than the core's own kinds)."""


class WooCommerceConfigError(WooCommerceError):
    """The connection cannot work (no site URL, no key)."""


class WooCommerceUnavailable(WooCommerceError):
    """Network failure or 5xx after the retry budget: try again later."""


class WooCommerceRequestRejected(WooCommerceError):
    """The shop refused the request itself (400): a bug, or a WooCommerce older than 5.8."""


class InvalidSyncCursor(WooCommerceError):
    """The stored cursor is not one this adapter wrote; clear it to run a full sync."""


class NormalizationError(ValueError):
    """An order lacks a field we need or has one of the wrong type (internal)."""


class UnknownStatus(NormalizationError):
    """A status this adapter cannot classify (a plugin's custom status, ``checkout-draft``)."""


def wp_error(body: Any) -> tuple[str, str]:
    """``(code, message)`` of a WP REST error body ``{"code", "message", "data": {"status"}}``."""
    if isinstance(body, dict):
        return str(body.get("code") or "unknown"), str(body.get("message") or "")
    return "unknown", ""


def map_http_error(status: int, body: Any, what: str) -> AdapterError:
    """A non-2xx answer that is not retried → the adapter error tree."""
    code, message = wp_error(body)
    text = f"WooCommerce: {what}: {code} {message} (HTTP {status})".replace("  ", " ")
    if status == 429:
        return AdapterRateLimited(text)
    if status in (401, 403):
        return AdapterAuthError(text)
    if status == 404:
        return AdapterNotFound(text)
    if status >= 500:
        return WooCommerceUnavailable(text)
    if 400 <= status < 500:
        return WooCommerceRequestRejected(text)
    return AdapterMalformedResponse(text)
