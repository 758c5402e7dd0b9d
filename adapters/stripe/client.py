"""One ``stripe.StripeClient`` per connection, with the 429 backoff the SDK lacks.

Every call returns the JSON object exactly as Stripe sent it plus Stripe's clock at that moment
(the ``Date`` header), and raises only AdapterError subclasses. Calls go through
``StripeClient.raw_request`` (same requestor, headers, API version, network retries and error
classes as ``client.v1.*``) because building StripeObjects costs ~4 ms per invoice, 5× the
whole HTTP round trip, for objects the adapter would only turn back into dicts; the params keep
the SDK's TypedDicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import stripe
from stripe.params import (
    EventListParams,
    InvoiceListParams,
    InvoicePaymentListParams,
    InvoiceRetrieveParams,
    WebhookEndpointCreateParams,
    WebhookEndpointListParams,
)

from adapters.stripe import settings
from adapters.stripe.exceptions import is_rate_limited, map_stripe_error
from connector.backoff import RetryPolicy
from connector.platform import AdapterMalformedResponse, AdapterNotFound, AdapterRateLimited


@dataclass(frozen=True, slots=True)
class Fetched:
    """A decoded JSON object and when Stripe produced it (None if the response had no Date)."""

    data: dict[str, Any]
    observed_at: datetime | None


def build_client(
    api_key: str,
    *,
    account: str | None,
    api_base: str | None,
    max_network_retries: int,
    timeout: float = 30.0,
) -> stripe.StripeClient:
    """A client pinned to ``settings.API_VERSION``; never touches the global ``stripe.api_key``."""
    return stripe.StripeClient(
        api_key,
        stripe_account=account or None,
        stripe_version=settings.API_VERSION,
        base_addresses={"api": api_base.rstrip("/")} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


class StripeApi:
    """The handful of Stripe calls the adapter makes, for one connection."""

    def __init__(
        self,
        client: stripe.StripeClient,
        policy: RetryPolicy,
        platform_client: stripe.StripeClient | None = None,
    ) -> None:
        self._client = client
        # Connect: webhook endpoints live on the platform account (no Stripe-Account header).
        self._platform = platform_client or client
        self._policy = policy

    def list_invoices(self, params: InvoiceListParams) -> Fetched:
        return self._call(self._client, "get", "/v1/invoices", params)

    def list_events(self, params: EventListParams) -> Fetched:
        return self._call(self._client, "get", "/v1/events", params)

    def retrieve_invoice(self, invoice_id: str) -> Fetched | None:
        """The invoice with its customer expanded; None if Stripe does not know it."""
        params: InvoiceRetrieveParams = {"expand": list(settings.INVOICE_RETRIEVE_EXPAND)}
        try:
            return self._call(self._client, "get", f"/v1/invoices/{_id(invoice_id)}", params)
        except AdapterNotFound:
            return None

    def list_invoice_payments(self, params: InvoicePaymentListParams) -> Fetched:
        return self._call(self._client, "get", "/v1/invoice_payments", params)

    def create_webhook_endpoint(self, params: WebhookEndpointCreateParams) -> Fetched:
        return self._call(self._platform, "post", "/v1/webhook_endpoints", params)

    def list_webhook_endpoints(self, params: WebhookEndpointListParams) -> Fetched:
        return self._call(self._platform, "get", "/v1/webhook_endpoints", params)

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self._call(self._platform, "delete", f"/v1/webhook_endpoints/{_id(endpoint_id)}", {})

    def _call(
        self, client: stripe.StripeClient, method: str, url: str, params: Mapping[str, Any]
    ) -> Fetched:
        retry = 0
        while True:
            try:
                response = client.raw_request(method, url, **params)
            except stripe.StripeError as exc:
                if is_rate_limited(exc) and retry < self._policy.retries:
                    retry += 1
                    self._policy.sleep(self._policy.delay(retry, _retry_after(exc.headers)))
                    continue
                error = map_stripe_error(exc)
                if isinstance(error, AdapterRateLimited):
                    error = AdapterRateLimited(f"{error} — still throttled after {retry} retries")
                raise error from exc
            if not isinstance(response.data, dict):
                raise AdapterMalformedResponse("Stripe: the response body is not a JSON object")
            return Fetched(data=response.data, observed_at=_date_header(response.headers))


def _id(object_id: str) -> str:
    """An object id as one URL path segment."""
    return quote(object_id, safe="")


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _date_header(headers: Mapping[str, str] | None) -> datetime | None:
    raw = _header(headers, "Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    raw = _header(headers, "Retry-After")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None
