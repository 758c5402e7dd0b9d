"""The Shopify adapter's errors: each one is a subclass of the core's AdapterError tree.

Library and transport exceptions (``urllib.error.HTTPError``, ``URLError``, ``OSError``,
``json.JSONDecodeError``, ``ValueError`` from parsing) never leave the adapter: the client and
the normalizers map them to one of these at the boundary.
"""

from __future__ import annotations

from typing import Any

from connector.platform import (
    AdapterAuthError,
    AdapterError,
    AdapterMalformedResponse,
    AdapterRateLimited,
)


class ShopifyError(AdapterError):
    """Base of the errors only this adapter raises (other than the core's own kinds)."""


class ShopifyConfigError(ShopifyError):
    """The connection's settings cannot work (bad shop domain, missing credential)."""


class ShopifyAuthError(AdapterAuthError):
    """Shopify refused the access token (401/403 or ACCESS_DENIED) and refresh did not help."""


class ShopifyTokenRefreshError(ShopifyAuthError):
    """The refresh token was refused (invalid_grant, invalid_client): the owner must reconnect."""


class ShopifyCredentialStorageError(ShopifyError):
    """A refreshed token pair could not be saved; it was not used, the old pair still stands."""


class ShopifyRateLimited(AdapterRateLimited):
    """Still THROTTLED / 429 after the retry budget."""


class ShopifyMalformedResponse(AdapterMalformedResponse):
    """Not JSON, or JSON that does not have the shape of the query that was sent."""


class ShopifyTransportError(ShopifyError):
    """Network failure or 5xx after the retry budget, or an unexpected HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ShopifyGraphQLError(ShopifyError):
    """A GraphQL ``errors`` answer that is neither throttling nor access denial."""

    def __init__(self, message: str, errors: list[Any]) -> None:
        super().__init__(message)
        self.errors = errors


class ShopifyUserError(ShopifyError):
    """A mutation answered ``userErrors`` (for example an invalid webhook address)."""


class ShopifyCursorError(ShopifyError):
    """The stored sync cursor is not one this adapter wrote."""
