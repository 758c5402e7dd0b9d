"""One connection's GraphQL client: ShopifyAPI transport, token refresh, throttling, retries.

Every request goes through ``shopify.GraphQL().execute`` inside a session that lives for that
one call: ShopifyAPI keeps site and headers in thread-locals (and mirrors the site into class
attributes), so the session is activated, used and cleared in ``try/finally`` on the calling
thread and nothing is left behind. ``conn.api_base`` (tests, demo) replaces the
``https://{shop}`` origin through ``ShopifyResource.set_site``.

``GraphQL.execute`` (ShopifyAPI 12.7.0) opens the URL without a timeout (a stalled shop would
hang a worker for ever) and prints the body of an HTTP error to stdout: ``TimedGraphQL`` is the
library's class with an ``execute`` that passes a timeout and prints nothing.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException
from typing import Any

import shopify

from adapters.shopify import auth
from adapters.shopify.exceptions import (
    ShopifyAuthError,
    ShopifyCredentialStorageError,
    ShopifyError,
    ShopifyGraphQLError,
    ShopifyMalformedResponse,
    ShopifyRateLimited,
    ShopifyTransportError,
)
from adapters.shopify.queries import DOCUMENTS
from adapters.shopify.settings import API_VERSION, ShopifySettings
from connector.platform import ConnectionContext

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


@dataclass(slots=True)
class ThrottleStatus:
    """Shopify's leaky bucket as last reported, and when."""

    maximum: float
    available: float
    restore_rate: float
    seen_at: datetime

    def available_at(self, now: datetime) -> float:
        elapsed = max(0.0, (now - self.seen_at).total_seconds())
        return min(self.maximum, self.available + elapsed * self.restore_rate)


@contextmanager
def shopify_session(shop: str, token: str, api_base: str | None) -> Iterator[None]:
    """Activate a ShopifyAPI session on this thread for one call, then clear it."""
    session = shopify.Session(shop, API_VERSION, token)
    shopify.ShopifyResource.activate_session(session)
    try:
        if api_base:
            shopify.ShopifyResource.set_site(f"{api_base.rstrip('/')}/admin/api/{API_VERSION}")
        yield
    finally:
        shopify.ShopifyResource.clear_session()


class TimedGraphQL(shopify.GraphQL):
    """ShopifyAPI's GraphQL endpoint and headers (from the active session), posted with a
    socket timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> str:
        headers = self.merge_headers(
            {"Accept": "application/json", "Content-Type": "application/json"}, self.headers
        )
        data = {"query": query, "variables": variables, "operationName": operation_name}
        request = urllib.request.Request(self.endpoint, json.dumps(data).encode("utf-8"), headers)
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            return str(response.read().decode("utf-8"))


class ShopifyClient:
    """GraphQL Admin API for one connection. Not shared between threads."""

    def __init__(
        self,
        conn: ConnectionContext,
        settings: ShopifySettings,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock,
    ) -> None:
        self._conn = conn
        self._settings = settings
        self._sleep = sleep
        self._clock = clock
        self.shop = auth.normalize_shop(conn.credentials.get("shop") or conn.external_account)
        self._throttle: ThrottleStatus | None = None
        self._estimated_cost: dict[str, float] = {}

    # --- public ------------------------------------------------------------------------------

    def execute(self, operation: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """Run a registered operation; return its ``data`` or raise an AdapterError."""
        document = DOCUMENTS.get(operation)
        if document is None:
            raise ValueError(f"unregistered GraphQL operation {operation!r}")
        refreshed = False  # at most one refresh per request, proactive or after a 401
        attempt = 0
        while True:
            if not refreshed and auth.needs_refresh(
                self._conn.credentials, self._clock(), self._settings.refresh_margin
            ):
                self._refresh()
                refreshed = True
            self._wait_for_bucket(operation)
            try:
                raw = self._post(document, operation, variables)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    if not refreshed and self._conn.credentials.get("refresh_token"):
                        log.info("shopify %s: 401, refreshing the access token", self.shop)
                        self._refresh()
                        refreshed = True
                        continue
                    raise ShopifyAuthError(
                        f"Shopify refused the access token for {self.shop}"
                    ) from exc
                if exc.code in (402, 403, 423):
                    # 402 frozen shop (unpaid plan), 403 missing scope / app not approved,
                    # 423 locked shop: nothing a retry fixes.
                    raise ShopifyAuthError(
                        f"Shopify refused access to {self.shop} (HTTP {exc.code})"
                    ) from exc
                if exc.code == 429:
                    attempt = self._next_attempt(attempt, "HTTP 429", rate_limited=True)
                    self._sleep(self._retry_after(exc, attempt))
                    continue
                if exc.code >= 500:
                    attempt = self._next_attempt(attempt, f"HTTP {exc.code}")
                    self._sleep(self._backoff(attempt))
                    continue
                raise ShopifyTransportError(
                    f"Shopify answered HTTP {exc.code} for {operation}", status=exc.code
                ) from exc
            except (urllib.error.URLError, OSError, HTTPException) as exc:
                attempt = self._next_attempt(attempt, f"network error: {exc}")
                self._sleep(self._backoff(attempt))
                continue

            payload = self._decode(raw)
            self._record_cost(operation, payload)
            errors = payload.get("errors")
            if errors:
                code = _error_code(errors)
                if code == "THROTTLED":
                    attempt = self._next_attempt(attempt, "THROTTLED", rate_limited=True)
                    self._sleep(self._throttle_wait(operation, attempt))
                    continue
                if code == "ACCESS_DENIED":
                    raise ShopifyAuthError(f"{operation}: access denied ({_error_message(errors)})")
                if code == "INTERNAL_SERVER_ERROR":
                    attempt = self._next_attempt(attempt, "INTERNAL_SERVER_ERROR")
                    self._sleep(self._backoff(attempt))
                    continue
                raise ShopifyGraphQLError(f"{operation}: {_error_message(errors)}", errors)
            data = payload.get("data")
            if not isinstance(data, dict):
                raise ShopifyMalformedResponse(f"{operation}: the answer has no data object")
            return data

    # --- transport ---------------------------------------------------------------------------

    def _post(self, document: str, operation: str, variables: Mapping[str, Any]) -> str:
        token = self._conn.credentials.get("access_token")
        if not isinstance(token, str) or not token:
            raise ShopifyAuthError("the connection has no access token")
        with shopify_session(self.shop, token, self._conn.api_base):
            result = TimedGraphQL(self._settings.http_timeout_seconds).execute(
                document, variables=dict(variables), operation_name=operation
            )
        if not isinstance(result, str):
            raise ShopifyMalformedResponse(f"{operation}: unexpected transport result")
        return result

    @staticmethod
    def _decode(raw: str) -> dict[str, Any]:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise ShopifyMalformedResponse("Shopify answered something that is not JSON") from exc
        if not isinstance(payload, dict):
            raise ShopifyMalformedResponse("Shopify answered JSON that is not an object")
        return payload

    # --- token refresh -----------------------------------------------------------------------

    def _refresh(self) -> None:
        """Refresh, persist through ``conn.save_credentials``, and only then use the new pair."""
        base = (self._conn.api_base or f"https://{self.shop}").rstrip("/")
        updated = auth.refresh_credentials(
            self._conn.credentials,
            token_url=f"{base}/admin/oauth/access_token",
            now=self._clock(),
            timeout=self._settings.http_timeout_seconds,
        )
        try:
            self._conn.save_credentials(updated)
        except Exception as exc:  # the core's storage: whatever it raises, do not go on
            raise ShopifyCredentialStorageError(
                "the refreshed Shopify token pair could not be saved; it was not used"
            ) from exc
        self._conn.credentials = updated
        log.info("shopify %s: access token refreshed", self.shop)

    # --- throttling and retries --------------------------------------------------------------

    def _record_cost(self, operation: str, payload: Mapping[str, Any]) -> None:
        cost = (payload.get("extensions") or {}).get("cost")
        if not isinstance(cost, Mapping):
            return
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float) and not isinstance(requested, bool):
            self._estimated_cost[operation] = float(requested)
        status = cost.get("throttleStatus")
        if isinstance(status, Mapping):
            try:
                self._throttle = ThrottleStatus(
                    maximum=float(status["maximumAvailable"]),
                    available=float(status["currentlyAvailable"]),
                    restore_rate=float(status["restoreRate"]),
                    seen_at=self._clock(),
                )
            except (KeyError, TypeError, ValueError):
                log.warning("shopify %s: unreadable throttleStatus %r", self.shop, status)

    def _wait_for_bucket(self, operation: str) -> None:
        """Before a call: wait until the bucket holds what this query cost last time."""
        throttle = self._throttle
        needed = self._estimated_cost.get(operation)
        if throttle is None or needed is None or throttle.restore_rate <= 0:
            return
        needed = min(needed, throttle.maximum)
        available = throttle.available_at(self._clock())
        if available < needed:
            wait = min(
                (needed - available) / throttle.restore_rate, self._settings.backoff_cap_seconds
            )
            log.debug("shopify %s: bucket at %.0f, waiting %.2fs", self.shop, available, wait)
            self._sleep(wait)

    def _throttle_wait(self, operation: str, attempt: int) -> float:
        throttle = self._throttle
        needed = self._estimated_cost.get(operation)
        if throttle is not None and needed is not None and throttle.restore_rate > 0:
            deficit = min(needed, throttle.maximum) - throttle.available_at(self._clock())
            return min(
                max(deficit / throttle.restore_rate, 0.5), self._settings.backoff_cap_seconds
            )
        return self._backoff(attempt)

    def _retry_after(self, exc: urllib.error.HTTPError, attempt: int) -> float:
        header = exc.headers.get("Retry-After") if exc.headers is not None else None
        if header:
            try:
                return min(max(float(header), 0.0), self._settings.backoff_cap_seconds)
            except ValueError:
                pass
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        delay = self._settings.backoff_base_seconds * (2 ** max(attempt - 1, 0))
        return float(min(delay, self._settings.backoff_cap_seconds))

    def _next_attempt(self, attempt: int, reason: str, *, rate_limited: bool = False) -> int:
        attempt += 1
        if attempt > self._settings.max_retries:
            message = f"Shopify {self.shop}: {reason}, still failing after {attempt - 1} retries"
            error: ShopifyError | ShopifyRateLimited
            error = ShopifyRateLimited(message) if rate_limited else ShopifyTransportError(message)
            raise error
        log.info("shopify %s: %s, retry %d", self.shop, reason, attempt)
        return attempt


def _error_code(errors: Any) -> str | None:
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        extensions = errors[0].get("extensions")
        if isinstance(extensions, Mapping) and isinstance(extensions.get("code"), str):
            return str(extensions["code"])
    return None


def _error_message(errors: Any) -> str:
    if isinstance(errors, list):
        messages = [str(e.get("message")) for e in errors if isinstance(e, Mapping)]
        return "; ".join(messages) or "unknown error"
    return str(errors)
