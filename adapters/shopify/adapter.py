"""ShopifyAdapter: the core's PlatformAdapter for Shopify (GraphQL Admin API, pinned 2026-10)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.shopify import oauth, webhooks
from adapters.shopify.client import Clock, ShopifyClient, Sleep
from adapters.shopify.cursor import SyncCursor
from adapters.shopify.exceptions import ShopifyMalformedResponse, ShopifyUserError
from adapters.shopify.normalize import (
    OWED_FINANCIAL_STATUSES,
    MalformedOrder,
    financial_status,
    graphql_has_terms,
    invoice_from_graphql,
    is_tracked,
    legacy_id,
    row_from_graphql,
    utc_now,
)
from adapters.shopify.settings import WEBHOOK_PATH, ShopifySettings
from connector.platform import (
    AccountProfile,
    AdapterError,
    AdapterNotFound,
    AppCredentials,
    ConnectionContext,
    CredentialField,
    InvoiceRow,
    NormalizedEvent,
    NormalizedInvoice,
    SyncPage,
    WebhookRegistration,
)

log = logging.getLogger(__name__)

_ORDER_GID = "gid://shopify/Order/"


class ShopifyAdapter:
    """Unpaid Shopify orders in, payment webhooks out. Stateless between calls."""

    platform = "shopify"
    # X-Shopify-Event-Id is unique across shops: the core dedupes per app, not per connection.
    event_ids_span_accounts = True
    # Every shop's deliveries are signed with the app's client secret: the core confirms an
    # order a connection has never seen with Shopify before it becomes an invoice.
    shared_webhook_secret = True
    # `relance connect shopify --help`: the public app's door is not this command.
    connect_help = (
        "A shop installing the Relance app needs no command: Shopify sends its owner to "
        "RELANCE_BASE_URL/shopify/install, and the token, webhooks and first sync follow (README, "
        "'Register the app in a Shopify Partner dashboard'). This command connects a custom "
        "app's Admin API token instead."
    )
    credential_fields: tuple[CredentialField, ...] = (
        CredentialField(
            "shop",
            "the shop's myshopify.com domain, e.g. acme.myshopify.com",
            secret=False,
            is_account=True,
            flag="shop-domain",  # --shop is every command's tenant (shop id) option
        ),
        CredentialField("access_token", "offline Admin API access token"),
        CredentialField(
            "refresh_token", "refresh token of an expiring offline token", required=False
        ),
        CredentialField(
            "expires_at",
            "when the access token expires (ISO 8601, UTC if no offset)",
            required=False,
            secret=False,
        ),
        CredentialField("client_id", "the app's client id (API key)", secret=False),
        CredentialField(
            "client_secret", "the app's client secret: refreshes tokens, verifies webhooks"
        ),
    )

    def __init__(
        self,
        settings: ShopifySettings | None = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings or ShopifySettings()
        self._sleep = sleep
        self._clock = clock

    def client(self, conn: ConnectionContext) -> ShopifyClient:
        """A GraphQL client for one connection (one per call of the public methods)."""
        return ShopifyClient(conn, self.settings, sleep=self._sleep, clock=self._clock)

    # --- sync --------------------------------------------------------------------------------

    def sync(self, conn: ConnectionContext, cursor: str | None) -> Iterator[SyncPage]:
        """Owed orders (first run) or every changed order (later runs), oldest update first.

        Each page is normalized completely before it is yielded; a page that cannot be read
        raises AdapterMalformedResponse and nothing of it is yielded. The cursor of a page
        resumes right after it (see ``cursor.py``).
        """
        state = SyncCursor.decode(cursor)
        client = self.client(conn)  # validates the shop before the first page
        if not state.in_run:
            state = state.start(self._clock())
        query = self.search_query(state.since)
        full_run = state.since is None
        while True:
            data = client.execute(
                "RelanceOrders",
                {"first": self.settings.page_size, "after": state.after, "query": query},
            )
            nodes, has_next, end_cursor = _orders_page(data)
            invoices: list[InvoiceRow] = []
            for node in nodes:
                try:
                    invoice = row_from_graphql(node)
                    tracked = is_tracked(
                        financial_status(node.get("displayFinancialStatus")),
                        graphql_has_terms(node),
                    )
                except MalformedOrder as exc:
                    raise ShopifyMalformedResponse(f"order page: {exc}") from exc
                state = state.saw(invoice.updated_at)
                if not tracked or (full_run and not invoice.status.is_owed):
                    continue
                invoices.append(invoice)
            if has_next:
                assert end_cursor is not None  # checked by _orders_page
                state = state.next_page(end_cursor)
                yield SyncPage(invoices=invoices, cursor=state.encode())
            else:
                yield SyncPage(invoices=invoices, cursor=state.finish().encode())
                return

    def search_query(self, since: datetime | None) -> str:
        """The ``orders(query:)`` string of a run (Shopify search syntax; dates quoted)."""
        if since is None:
            return " OR ".join(
                f"financial_status:{status.lower()}" for status in OWED_FINANCIAL_STATUSES
            )
        bound = (since - self.settings.lookback).astimezone(UTC)
        return f"updated_at:>='{bound.strftime('%Y-%m-%dT%H:%M:%SZ')}'"

    # --- single order ------------------------------------------------------------------------

    def fetch_status(self, conn: ConnectionContext, external_id: str) -> NormalizedInvoice | None:
        """One ``order(id:)`` query; None when Shopify has no such order."""
        try:
            order_id = legacy_id(external_id)
        except MalformedOrder as exc:
            raise AdapterNotFound(f"not a Shopify order id: {external_id!r}") from exc
        data = self.client(conn).execute("RelanceOrder", {"id": f"{_ORDER_GID}{order_id}"})
        if "order" not in data:
            raise ShopifyMalformedResponse("order query answered without an order field")
        node = data["order"]
        if node is None:
            return None
        try:
            return invoice_from_graphql(node)
        except MalformedOrder as exc:
            raise ShopifyMalformedResponse(f"order {order_id}: {exc}") from exc

    # --- webhooks ----------------------------------------------------------------------------

    def verify_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> bool:
        return webhooks.verify(conn, headers, raw_body)

    def parse_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> NormalizedEvent:
        return webhooks.parse(conn, headers, raw_body, now=self._clock)

    def register_webhooks(self, conn: ConnectionContext, base_url: str) -> WebhookRegistration:
        """Subscribe the order topics to ``{base_url}/webhooks/shopify/{conn.id}``; idempotent.

        ``secret`` is None: Shopify signs with the app's client secret, which the credentials
        already hold. Compliance topics are app configuration, not subscriptions. The shop's id
        is stored with the credentials (``shop_id``): deliveries naming another are refused.
        """
        uri = base_url.rstrip("/") + WEBHOOK_PATH.format(connection_id=conn.id)
        client = self.client(conn)
        data = client.execute("RelanceWebhookSubscriptions", {"first": 100, "uri": uri})
        _remember_shop_id(conn, data)
        existing = _existing_subscriptions(data, uri)
        ids: list[str] = []
        created: list[str] = []
        try:
            for topic in webhooks.SUBSCRIBED_TOPICS:
                if topic in existing:
                    ids.append(existing[topic])
                    continue
                data = client.execute(
                    "RelanceWebhookSubscriptionCreate",
                    {"topic": topic, "subscription": {"uri": uri, "format": "JSON"}},
                )
                created.append(_created_subscription(data, topic))
                ids.append(created[-1])
        except AdapterError:
            self._remove_quietly(client, created)  # all or nothing: only what this call made
            raise
        return WebhookRegistration(secret=None, external_ids=ids)

    def unregister_webhooks(self, conn: ConnectionContext, external_ids: Sequence[str]) -> None:
        """Delete our subscriptions; one Shopify no longer has is what we wanted."""
        client = self.client(conn)
        for subscription_id in external_ids:
            _deleted_subscription(
                client.execute("RelanceWebhookSubscriptionDelete", {"id": subscription_id}),
                subscription_id,
            )

    def _remove_quietly(self, client: ShopifyClient, ids: Sequence[str]) -> None:
        for subscription_id in ids:
            try:
                _deleted_subscription(
                    client.execute("RelanceWebhookSubscriptionDelete", {"id": subscription_id}),
                    subscription_id,
                )
            except AdapterError as exc:
                log.warning("could not delete Shopify subscription %s: %s", subscription_id, exc)

    # --- the app's install and the embedded admin (connector.platform.InstallsAsApp) ----------

    def account_of(self, value: str) -> str:
        return oauth.shop_host(value)

    def verify_signed_query(
        self, app: AppCredentials, params: Mapping[str, str | list[str]], now: datetime
    ) -> str:
        return oauth.verify_signed_query(app, params, now)

    def authorize_url(
        self, app: AppCredentials, account: str, redirect_uri: str, state: str
    ) -> str:
        return oauth.authorize_url(app, account, redirect_uri, state)

    def exchange_code(
        self, app: AppCredentials, account: str, code: str, now: datetime
    ) -> dict[str, Any]:
        return oauth.exchange_code(
            app, account, code, now=now, timeout=self.settings.oauth_timeout_seconds
        )

    def verify_session_token(self, app: AppCredentials, token: str, now: datetime) -> str:
        return oauth.verify_session_token(app, token, now)

    def exchange_session_token(
        self, app: AppCredentials, account: str, token: str, now: datetime
    ) -> dict[str, Any]:
        return oauth.exchange_session_token(
            app, account, token, now=now, timeout=self.settings.oauth_timeout_seconds
        )

    def account_profile(self, conn: ConnectionContext) -> AccountProfile:
        """``shop { name email ianaTimezone currencyCode }`` of the connection's shop."""
        data = self.client(conn).execute("RelanceShopProfile", {})
        shop = data.get("shop")
        if not isinstance(shop, Mapping):
            raise ShopifyMalformedResponse("shop query answered no shop")
        name, email = shop.get("name"), shop.get("email")
        if not isinstance(name, str) or not isinstance(email, str):
            raise ShopifyMalformedResponse("shop query answered no name or email")
        domain = shop.get("myshopifyDomain")
        return AccountProfile(
            account=domain if isinstance(domain, str) else conn.external_account,
            name=name,
            email=email,
            timezone=_text(shop.get("ianaTimezone")),
            currency=_text(shop.get("currencyCode")),
        )


# --- response shapes -------------------------------------------------------------------------


def _orders_page(data: Mapping[str, Any]) -> tuple[list[Any], bool, str | None]:
    orders = data.get("orders")
    if not isinstance(orders, Mapping):
        raise ShopifyMalformedResponse("orders page has no orders connection")
    nodes = orders.get("nodes")
    page_info = orders.get("pageInfo")
    if not isinstance(nodes, list) or not isinstance(page_info, Mapping):
        raise ShopifyMalformedResponse("orders page has no nodes or no pageInfo")
    has_next = page_info.get("hasNextPage")
    end_cursor = page_info.get("endCursor")
    if not isinstance(has_next, bool):
        raise ShopifyMalformedResponse("pageInfo.hasNextPage is not a boolean")
    if has_next and (not isinstance(end_cursor, str) or not end_cursor):
        raise ShopifyMalformedResponse("pageInfo says there is a next page but has no endCursor")
    return nodes, has_next, end_cursor if isinstance(end_cursor, str) else None


def _remember_shop_id(conn: ConnectionContext, data: Mapping[str, Any]) -> None:
    """Store the shop's id in the connection's credentials, unless they already hold it."""
    shop = data.get("shop")
    try:
        shop_id = legacy_id(shop.get("id") if isinstance(shop, Mapping) else None)
    except MalformedOrder as exc:
        raise ShopifyMalformedResponse(f"shop query answered no shop id: {exc}") from exc
    if conn.credentials.get("shop_id") == shop_id:
        return
    updated = {**conn.credentials, "shop_id": shop_id}
    conn.save_credentials(updated)
    conn.credentials = updated


def _existing_subscriptions(data: Mapping[str, Any], uri: str) -> dict[str, str]:
    connection = data.get("webhookSubscriptions")
    nodes = connection.get("nodes") if isinstance(connection, Mapping) else None
    if not isinstance(nodes, list):
        raise ShopifyMalformedResponse("webhookSubscriptions answered without nodes")
    found: dict[str, str] = {}
    for node in nodes:
        if not isinstance(node, Mapping):
            raise ShopifyMalformedResponse("webhook subscription is not an object")
        topic, sub_id = node.get("topic"), node.get("id")
        if node.get("uri") == uri and isinstance(topic, str) and isinstance(sub_id, str):
            found.setdefault(topic, sub_id)
    return found


def _created_subscription(data: Mapping[str, Any], topic: str) -> str:
    payload = data.get("webhookSubscriptionCreate")
    if not isinstance(payload, Mapping):
        raise ShopifyMalformedResponse("webhookSubscriptionCreate answered no payload")
    errors = payload.get("userErrors") or []
    if errors:
        messages = "; ".join(
            str(e.get("message")) for e in errors if isinstance(e, Mapping)
        ) or str(errors)
        raise ShopifyUserError(f"cannot subscribe {topic}: {messages}")
    subscription = payload.get("webhookSubscription")
    sub_id = subscription.get("id") if isinstance(subscription, Mapping) else None
    if not isinstance(sub_id, str) or not sub_id:
        raise ShopifyMalformedResponse(f"webhookSubscriptionCreate({topic}) returned no id")
    return sub_id


def _deleted_subscription(data: Mapping[str, Any], subscription_id: str) -> None:
    """A delete answered: done, or already gone (a user error on ``id``); anything else raises."""
    payload = data.get("webhookSubscriptionDelete")
    if not isinstance(payload, Mapping):
        raise ShopifyMalformedResponse("webhookSubscriptionDelete answered no payload")
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, Mapping)]
    if errors and not all(e.get("field") == ["id"] for e in errors):
        messages = "; ".join(str(e.get("message")) for e in errors)
        raise ShopifyUserError(f"cannot delete {subscription_id}: {messages}")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
