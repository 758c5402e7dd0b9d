"""WooCommerceAdapter: the PlatformAdapter for WooCommerce orders paid offline (REST wc/v3)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.woocommerce import settings
from adapters.woocommerce.client import Fetched, RetryPolicy, WooCommerceApi
from adapters.woocommerce.cursor import SyncCursor
from adapters.woocommerce.exceptions import (
    NormalizationError,
    UnknownStatus,
    WooCommerceConfigError,
)
from adapters.woocommerce.normalize import (
    is_tracked,
    normalize_order,
    order_id,
    parse_gmt,
    row_from_order,
)
from adapters.woocommerce.webhooks import parse_event, verify
from connector.platform import (
    AdapterAuthError,
    AdapterError,
    AdapterMalformedResponse,
    AdapterNotFound,
    ConnectionContext,
    CredentialField,
    InvoiceRow,
    NormalizedEvent,
    NormalizedInvoice,
    SyncPage,
    WebhookRegistration,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class WooCommerceAdapter:
    """Orders awaiting a bank transfer, cheque or cash payment: sync, webhooks, status checks.

    The constructor takes no argument in production (the entry point calls
    ``WooCommerceAdapter()``); tests inject ``sleep`` (backoff), ``clock`` (webhook deletions)
    and a smaller page size.
    """

    platform = settings.PLATFORM
    credential_fields: tuple[CredentialField, ...] = (
        CredentialField(
            "site_url",
            "the shop's WordPress address, e.g. https://shop.example",
            secret=False,
            is_account=True,
        ),
        CredentialField(
            "consumer_key",
            "REST API consumer key (ck_…; WooCommerce > Settings > Advanced > REST API, "
            "Read/Write: Write is needed to create the webhooks)",
        ),
        CredentialField("consumer_secret", "REST API consumer secret (cs_…)"),
    )

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = utc_now,
        retries: int = settings.RETRIES,
        page_size: int = settings.PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be between 1 and 100 (the WP REST maximum)")
        self._policy = RetryPolicy(
            sleep=sleep,
            retries=retries,
            base_delay=settings.BASE_DELAY,
            max_delay=settings.MAX_DELAY,
        )
        self._clock = clock
        self._page_size = page_size

    # -- PlatformAdapter -------------------------------------------------------------------

    def sync(self, conn: ConnectionContext, cursor: str | None) -> Iterator[SyncPage]:
        """Owed orders (first pass) or every changed order (later passes); one page per page.

        Each page is normalized completely before it is yielded; a page that cannot be read
        raises AdapterMalformedResponse naming the field, and nothing of it is yielded. The
        cursor of a page resumes right after it (see ``cursor.py``).
        """
        state = SyncCursor.decode(cursor)
        api = self._api(conn)  # validates the credentials before the first page
        site, checkout = site_url(conn), checkout_path(conn)
        return self._pages(api, state, site, checkout)

    def _pages(
        self, api: WooCommerceApi, state: SyncCursor, site: str, checkout: str
    ) -> Iterator[SyncPage]:
        full = not state.incremental
        while True:
            page = state.current.page if state.current else 1
            fetched = api.list_orders(self.order_query(state.since, page))
            state = state.start(fetched.observed_at)
            orders, total_pages = _orders_page(fetched, page)
            invoices: list[InvoiceRow] = []
            for obj in orders:
                try:
                    state = state.saw(parse_gmt(obj.get("date_modified_gmt"), "date_modified_gmt"))
                    invoice = row_from_order(obj, site_url=site, checkout_path=checkout)
                except UnknownStatus as exc:
                    log.info("woocommerce: skipping order: %s", exc)
                    continue
                except NormalizationError as exc:
                    raise AdapterMalformedResponse(
                        f"WooCommerce: orders page {page}: {exc}"
                    ) from exc
                if invoice.status.is_owed and not is_tracked(obj):
                    continue  # an abandoned card checkout: never dunned
                if full and not invoice.status.is_owed:
                    continue  # a first pass only brings what is owed
                invoices.append(invoice)
            if page < total_pages:
                state = state.next_page()
                yield SyncPage(invoices=invoices, cursor=state.encode())
            else:
                yield SyncPage(invoices=invoices, cursor=state.finish().encode())
                return

    def order_query(self, since: datetime | None, page: int) -> dict[str, str | int]:
        """The ``GET /orders`` parameters of one page (checked against the route index)."""
        params: dict[str, str | int] = {
            "status": "any",
            "per_page": self._page_size,
            "page": page,
            "orderby": settings.ORDERBY,
            "order": settings.ORDER,
        }
        if since is not None:
            bound = since.astimezone(UTC) - timedelta(seconds=settings.LOOKBACK_SECONDS)
            params["modified_after"] = bound.strftime("%Y-%m-%dT%H:%M:%S")
            params["dates_are_gmt"] = "true"
        return params

    def verify_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> bool:
        return verify(conn.webhook_secret, headers, raw_body)

    def parse_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> NormalizedEvent:
        return parse_event(
            headers,
            raw_body,
            site_url=site_url(conn),
            checkout_path=checkout_path(conn),
            now=self._clock,
        )

    def fetch_status(self, conn: ConnectionContext, external_id: str) -> NormalizedInvoice | None:
        """One ``GET /orders/{id}``; None when the shop answers 404."""
        try:
            oid = order_id(external_id)
        except NormalizationError as exc:
            raise AdapterNotFound(f"not a WooCommerce order id: {external_id!r}") from exc
        fetched = self._api(conn).retrieve_order(oid)
        if fetched is None:
            return None
        try:
            return normalize_order(
                fetched.data, site_url=site_url(conn), checkout_path=checkout_path(conn)
            )
        except NormalizationError as exc:
            raise AdapterMalformedResponse(f"WooCommerce: order {oid}: {exc}") from exc

    def check_credentials(self, conn: ConnectionContext) -> None:
        """One ``GET /orders?per_page=1``, without the sync's retries (an owner is waiting):
        401 → the keys are refused; 404 or a body that is not WooCommerce's → no WooCommerce
        REST API at that address."""
        quick = RetryPolicy(sleep=self._policy.sleep, retries=0, base_delay=0.0, max_delay=0.0)
        site = site_url(conn)
        api = WooCommerceApi(conn.api_base or site, *_keys(conn), quick, timeout=CHECK_TIMEOUT)
        try:
            fetched = api.list_orders({"per_page": 1, "page": 1})
        except AdapterAuthError as exc:
            raise AdapterAuthError(
                f"WooCommerce at {site} refused these keys ({exc}); check the consumer key and "
                "secret, and that they have Read/Write permission"
            ) from exc
        except AdapterNotFound as exc:
            raise AdapterNotFound(
                f"no WooCommerce REST API answers at {site} (HTTP 404); check the store address"
            ) from exc
        except AdapterMalformedResponse as exc:
            raise AdapterMalformedResponse(
                f"{site} answered, but not as a WooCommerce store does; check the store address"
            ) from exc
        except AdapterError as exc:
            raise type(exc)(
                f"{site} could not be reached ({exc}); check the store address"
            ) from exc
        if not isinstance(fetched.data, list):
            raise AdapterMalformedResponse(
                f"{site} answered, but not as a WooCommerce store does; check the store address"
            )

    def register_webhooks(self, conn: ConnectionContext, base_url: str) -> WebhookRegistration:
        """One webhook per order topic to ``{base_url}/webhooks/woocommerce/{conn.id}``, all
        signed with one new secret (returned; the core stores it encrypted).

        Webhooks an earlier registration created stay (WooCommerce disables them after a few
        deliveries that fail verification); see the report on deleting them.
        """
        api = self._api(conn)
        url = base_url.rstrip("/") + settings.WEBHOOK_PATH.format(connection_id=conn.id)
        secret = secrets.token_urlsafe(32)
        ids: list[str] = []
        try:
            for topic in settings.WEBHOOK_TOPICS:
                created = api.create_webhook(
                    {
                        "name": settings.WEBHOOK_NAME.format(topic=topic),
                        "topic": topic,
                        "delivery_url": url,
                        "secret": secret,
                        "status": "active",
                    }
                )
                ids.append(_webhook_id(created, topic))
        except AdapterError:
            self._remove_quietly(api, ids)  # all or nothing: none left half-registered
            raise
        return WebhookRegistration(secret=secret, external_ids=ids)

    def unregister_webhooks(self, conn: ConnectionContext, external_ids: Sequence[str]) -> None:
        """Delete our webhooks; one already deleted (404) is what we wanted."""
        api = self._api(conn)
        for webhook_id in external_ids:
            try:
                api.delete_webhook(webhook_id)
            except AdapterNotFound:
                continue

    def _remove_quietly(self, api: WooCommerceApi, ids: Sequence[str]) -> None:
        for webhook_id in ids:
            try:
                api.delete_webhook(webhook_id)
            except AdapterError as exc:
                log.warning("could not delete WooCommerce webhook %s: %s", webhook_id, exc)

    # -- helpers ---------------------------------------------------------------------------

    def _api(self, conn: ConnectionContext) -> WooCommerceApi:
        return WooCommerceApi(conn.api_base or site_url(conn), *_keys(conn), self._policy)


CHECK_TIMEOUT = 10.0  # seconds: the test call of a connect, while the owner waits


def _keys(conn: ConnectionContext) -> tuple[str, str]:
    key = conn.credentials.get("consumer_key")
    secret = conn.credentials.get("consumer_secret")
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise AdapterAuthError("WooCommerce: the connection has no consumer key and secret")
    return key, secret


def site_url(conn: ConnectionContext) -> str:
    """The shop's address (the ``site_url`` credential, which the core may keep as the
    connection's external account); payment links point there, even with an API override."""
    value = conn.credentials.get("site_url") or conn.external_account
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise WooCommerceConfigError(f"WooCommerce: not a site URL: {value!r}")
    return value.rstrip("/")


def checkout_path(conn: ConnectionContext) -> str:
    value = conn.settings.get("checkout_path")
    return value if isinstance(value, str) and value else settings.CHECKOUT_PATH


def _orders_page(fetched: Fetched, page: int) -> tuple[list[dict[str, Any]], int]:
    """The orders of a list page and ``X-WP-TotalPages``, or AdapterMalformedResponse."""
    raw_pages = fetched.headers.get("x-wp-totalpages")
    if raw_pages is None or not raw_pages.strip().isdigit():
        raise AdapterMalformedResponse(
            f"WooCommerce: orders page {page}: X-WP-TotalPages header is {raw_pages!r}"
        )
    if not isinstance(fetched.data, list):
        raise AdapterMalformedResponse(
            f"WooCommerce: orders page {page}: the body is not a list of orders"
        )
    for item in fetched.data:
        if not isinstance(item, dict):
            raise AdapterMalformedResponse(
                f"WooCommerce: orders page {page}: an order is not an object"
            )
    return fetched.data, int(raw_pages)


def _webhook_id(created: Fetched, topic: str) -> str:
    data = created.data
    webhook_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, int | str) or not webhook_id:
        raise AdapterMalformedResponse(f"WooCommerce: webhook {topic} created without an id")
    return str(webhook_id)
