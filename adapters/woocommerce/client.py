"""One ``woocommerce.API`` per call, with the 429 / 5xx backoff the library lacks.

The library builds ``{url}/wp-json/wc/v3/{endpoint}`` and authenticates by itself: HTTP Basic
over https, OAuth 1.0a one-legged query signing over plain http (a local shop, the tests). It
returns the ``requests.Response`` untouched and never retries; every call here returns the
decoded JSON with the response headers and the shop's clock (``Date``), and raises only
AdapterError subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from woocommerce import API

from adapters.woocommerce import settings
from adapters.woocommerce.exceptions import (
    WooCommerceUnavailable,
    map_http_error,
)
from connector.backoff import RetryPolicy
from connector.platform import AdapterMalformedResponse, AdapterNotFound, AdapterRateLimited


@dataclass(frozen=True, slots=True)
class Fetched:
    """A decoded JSON body, its headers (lower-cased names) and the shop's clock, if sent."""

    data: Any
    headers: Mapping[str, str]
    observed_at: datetime | None


class WooCommerceApi:
    """The handful of REST calls the adapter makes, for one shop."""

    def __init__(
        self,
        api_url: str,
        consumer_key: str,
        consumer_secret: str,
        policy: RetryPolicy,
        *,
        timeout: float = settings.HTTP_TIMEOUT_SECONDS,
    ) -> None:
        self._api = API(
            url=api_url.rstrip("/"),
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            version=settings.API_VERSION,
            timeout=timeout,
        )
        self._policy = policy

    def list_orders(self, params: Mapping[str, str | int]) -> Fetched:
        return self._call("GET", "orders", params=params, what="list orders")

    def retrieve_order(self, order_id: int) -> Fetched | None:
        """One order; None when the shop answers 404 (deleted for good, or never there)."""
        try:
            return self._call("GET", f"orders/{order_id}", what=f"order {order_id}")
        except AdapterNotFound:
            return None

    def create_webhook(self, body: Mapping[str, Any]) -> Fetched:
        return self._call("POST", "webhooks", data=dict(body), what="create webhook")

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete for good (webhooks cannot be trashed: ``force`` is required)."""
        self._call(
            "DELETE", f"webhooks/{webhook_id}", params={"force": "true"}, what="delete webhook"
        )

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        what: str,
        params: Mapping[str, str | int] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Fetched:
        retry = 0
        while True:
            # A fresh dict per attempt: the library adds keys to it (query_string_auth).
            query = dict(params or {})
            try:
                if method == "GET":
                    response = self._api.get(endpoint, params=query)
                elif method == "DELETE":
                    response = self._api.delete(endpoint, params=query)
                else:
                    response = self._api.post(endpoint, data, params=query)
            except requests.RequestException as exc:
                if retry < self._policy.retries:
                    retry += 1
                    self._policy.sleep(self._policy.delay(retry, None))
                    continue
                raise WooCommerceUnavailable(
                    f"WooCommerce: {what}: {type(exc).__name__} after {retry} retries"
                ) from exc
            status = response.status_code
            if status == 429 or status >= 500:
                if retry < self._policy.retries:
                    retry += 1
                    self._policy.sleep(self._policy.delay(retry, _retry_after(response.headers)))
                    continue
                error = map_http_error(status, _json_or_none(response), what)
                if isinstance(error, AdapterRateLimited):
                    raise AdapterRateLimited(f"{error} — still throttled after {retry} retries")
                raise WooCommerceUnavailable(f"{error} — after {retry} retries")
            if not 200 <= status < 300:
                raise map_http_error(status, _json_or_none(response), what)
            try:
                body = response.json()
            except ValueError as exc:
                raise AdapterMalformedResponse(
                    f"WooCommerce: {what}: the response body is not JSON (HTTP {status})"
                ) from exc
            headers = {k.lower(): v for k, v in response.headers.items()}
            return Fetched(data=body, headers=headers, observed_at=_date_header(headers))


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _date_header(headers: Mapping[str, str]) -> datetime | None:
    raw = headers.get("date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None
