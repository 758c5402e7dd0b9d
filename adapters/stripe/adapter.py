"""StripeAdapter: the PlatformAdapter for Stripe invoices sent for manual payment (send_invoice)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import stripe

from adapters.stripe import oauth, settings
from adapters.stripe.client import RetryPolicy, StripeApi, build_client
from adapters.stripe.exceptions import NormalizationError, NotOwedYet
from adapters.stripe.normalize import normalize_invoice
from adapters.stripe.sync import StripeSync
from adapters.stripe.webhooks import object_id, parse_event, verify_signature
from connector.platform import (
    AdapterAuthError,
    AdapterError,
    AdapterMalformedResponse,
    AdapterNotFound,
    ConnectionContext,
    CredentialField,
    NormalizedEvent,
    NormalizedInvoice,
    SyncPage,
    WebhookRegistration,
)

log = logging.getLogger(__name__)

_CLIENT_CACHE_SIZE = 64


class StripeAdapter:
    """Stripe invoices with ``collection_method=send_invoice``: sync, webhooks, status checks.

    The constructor takes no argument in production (the entry point calls ``StripeAdapter()``);
    tests inject ``sleep`` (429 backoff), ``clock`` (sync windows) and the SDK's network retries.
    """

    platform = settings.PLATFORM
    credential_fields = (
        CredentialField(
            "api_key",
            "Stripe restricted key (rk_…) with read access to Invoices, Customers, Credit notes "
            "and Events, and write access to Webhook endpoints",
        ),
        CredentialField(
            "account",
            "Connected account id (acct_…) when connecting through Stripe Connect",
            required=False,
            secret=False,
            is_account=True,
        ),
    )

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rate_limit_retries: int = settings.RATE_LIMIT_RETRIES,
        max_network_retries: int = settings.MAX_NETWORK_RETRIES,
        page_size: int = settings.PAGE_SIZE,
    ) -> None:
        self._policy = RetryPolicy(
            sleep=sleep,
            retries=rate_limit_retries,
            base_delay=settings.RATE_LIMIT_BASE_DELAY,
            max_delay=settings.RATE_LIMIT_MAX_DELAY,
        )
        self._clock = clock
        self._network_retries = max_network_retries
        self._page_size = page_size
        self._clients: dict[tuple[str, str | None, str | None], stripe.StripeClient] = {}
        self._lock = threading.Lock()

    # -- PlatformAdapter -------------------------------------------------------------------

    def sync(self, conn: ConnectionContext, cursor: str | None) -> Iterator[SyncPage]:
        """Owed invoices and status changes since ``cursor``; one page per Stripe page."""
        sync = StripeSync(self._api(conn), clock=self._clock, page_size=self._page_size)
        return sync.pages(cursor)

    def verify_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> bool:
        return verify_signature(conn.webhook_secret, headers, raw_body)

    def parse_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> NormalizedEvent:
        return parse_event(raw_body, connect_account=connect_account(conn))

    def fetch_status(self, conn: ConnectionContext, external_id: str) -> NormalizedInvoice | None:
        """One ``GET /v1/invoices/{id}``; None when Stripe answers 404."""
        fetched = self._api(conn).retrieve_invoice(external_id)
        if fetched is None:
            return None
        try:
            return normalize_invoice(fetched.data, observed_at=fetched.observed_at)
        except NotOwedYet as exc:
            raise AdapterMalformedResponse(f"Stripe: {exc}; a draft is never owed") from exc
        except NormalizationError as exc:
            raise AdapterMalformedResponse(f"Stripe: {exc}") from exc

    def invoice_for_payment(self, conn: ConnectionContext, payment_external_id: str) -> str | None:
        """The invoice a PaymentIntent paid, through InvoicePayment (``GET /v1/invoice_payments``
        filtered by the payment): since API 2025-03-31 neither Charge, PaymentIntent, Refund nor
        Dispute names its invoice. A bare charge id (no PaymentIntent) cannot be looked up."""
        if not payment_external_id.startswith("pi_"):
            return None
        page = self._api(conn).list_invoice_payments(
            {
                "payment": {"type": "payment_intent", "payment_intent": payment_external_id},
                "limit": 10,
            }
        )
        items = page.data.get("data")
        if not isinstance(items, list):
            raise AdapterMalformedResponse("Stripe: invoice payment list is not a list")
        found = {
            ref
            for item in items
            if isinstance(item, dict) and (ref := object_id(item.get("invoice")))
        }
        if len(found) > 1:  # one PaymentIntent pays one invoice; anything else is not ours to guess
            log.warning("Stripe payment %s names several invoices: %s", payment_external_id, found)
            return None
        return next(iter(found), None)

    def oauth_authorize_url(
        self, client_id: str, state: str, redirect_uri: str, *, connect_base: str, secret_key: str
    ) -> str:
        """Where the owner approves the connection on Stripe (Connect OAuth)."""
        return oauth.authorize_url(
            client_id, state, redirect_uri, connect_base=connect_base, secret_key=secret_key
        )

    def oauth_exchange_code(self, code: str, *, secret_key: str, connect_base: str) -> str:
        """The connected account (acct_…) an OAuth code grants."""
        return oauth.exchange_code(code, secret_key=secret_key, connect_base=connect_base)

    def check_credentials(self, conn: ConnectionContext) -> None:
        """One read of each kind the sync makes (invoices with their customer, events): a
        restricted key lacking one is refused with Stripe's 403, which names the permission.
        Creating the webhook endpoint, the connect's next call, tries Webhook Endpoints: Write."""
        api = self._api(conn)
        api.list_invoices({"limit": 1, "expand": list(settings.INVOICE_LIST_EXPAND)})
        api.list_events({"limit": 1})

    def register_webhooks(self, conn: ConnectionContext, base_url: str) -> WebhookRegistration:
        """Create our endpoint (``connect=true`` for a connected account), then remove older
        endpoints with the same URL so Stripe does not deliver twice with a stale secret."""
        api = self._api(conn)
        url = base_url.rstrip("/") + settings.WEBHOOK_PATH.format(connection_id=conn.id)
        account = connect_account(conn)
        created = api.create_webhook_endpoint(
            {
                "url": url,
                "enabled_events": list(settings.WEBHOOK_EVENTS),
                "api_version": settings.API_VERSION,
                "connect": account is not None,
                "description": settings.WEBHOOK_DESCRIPTION,
                "metadata": {"relance_connection": str(conn.id)},
            }
        )
        endpoint_id, secret = created.data.get("id"), created.data.get("secret")
        if not isinstance(endpoint_id, str) or not isinstance(secret, str) or not secret:
            if isinstance(endpoint_id, str) and endpoint_id:  # all or nothing: not left behind
                self.unregister_webhooks(conn, [endpoint_id])
            raise AdapterMalformedResponse("Stripe: webhook endpoint created without a secret")
        try:
            self._remove_stale_endpoints(api, url, keep=endpoint_id)
        except AdapterError as exc:  # the new secret matters more; the owner can clean up
            log.warning("could not remove older Stripe webhook endpoints for %s: %s", url, exc)
        return WebhookRegistration(secret=secret, external_ids=[endpoint_id])

    def unregister_webhooks(self, conn: ConnectionContext, external_ids: Sequence[str]) -> None:
        """Delete our endpoints; one already deleted (404) is what we wanted."""
        api = self._api(conn)
        for endpoint_id in external_ids:
            try:
                api.delete_webhook_endpoint(endpoint_id)
            except AdapterNotFound:
                continue

    # -- helpers ---------------------------------------------------------------------------

    def _remove_stale_endpoints(self, api: StripeApi, url: str, *, keep: str) -> None:
        after: str | None = None
        stale: list[str] = []
        while True:
            page = api.list_webhook_endpoints(
                {"limit": 100, **({"starting_after": after} if after else {})}
            )
            items = page.data.get("data")
            if not isinstance(items, list):
                raise AdapterMalformedResponse("Stripe: webhook endpoint list is not a list")
            for item in items:
                if isinstance(item, dict) and item.get("url") == url and item.get("id") != keep:
                    stale.append(str(item["id"]))
            if not page.data.get("has_more") or not items:
                break
            after = str(items[-1].get("id"))
        for endpoint_id in stale:
            api.delete_webhook_endpoint(endpoint_id)

    def _api(self, conn: ConnectionContext) -> StripeApi:
        api_key = conn.credentials.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise AdapterAuthError("Stripe: the connection has no api_key")
        account = connect_account(conn)
        client = self._client(api_key, account, conn.api_base)
        platform = self._client(api_key, None, conn.api_base) if account else None
        return StripeApi(client, self._policy, platform_client=platform)

    def _client(self, api_key: str, account: str | None, api_base: str | None) -> Any:
        key = (api_key, account, api_base)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) >= _CLIENT_CACHE_SIZE:
                    self._clients.clear()
                client = build_client(
                    api_key,
                    account=account,
                    api_base=api_base,
                    max_network_retries=self._network_retries,
                )
                self._clients[key] = client
            return client


def connect_account(conn: ConnectionContext) -> str | None:
    """The connected account (``acct_…``) this connection acts for, or None for a direct key.

    The ``account`` credential is ``is_account``: the core may keep it in ``credentials`` or move
    it to ``external_account``; both are read. ``external_account`` must stay empty otherwise.
    """
    value = conn.credentials.get("account") or conn.external_account or None
    return str(value) if value else None
