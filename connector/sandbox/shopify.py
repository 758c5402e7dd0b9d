"""A local Shopify Admin API stand-in that speaks the wire format, for adapter tests.

- ``POST /admin/api/<version>/graphql.json``: ``X-Shopify-Access-Token`` auth (401 with
  Shopify's body when unknown or expired), documents *executed* with graphql-core against the
  real Admin schema (so an invalid document gets Shopify-style ``errors``, and a field the store
  lacks comes back as a non-null error), ``orders`` with the search grammar the adapter uses,
  keyset cursors sorted by ``updatedAt`` instant, ``extensions.cost`` with a leaky bucket
  (THROTTLED at HTTP 200 when the bucket cannot pay), ``order(id:)``, ``webhookSubscriptions``
  and ``webhookSubscriptionCreate``.
- ``POST /admin/oauth/access_token``: ``grant_type=refresh_token`` issues a new pair with
  ``expires_in`` / ``refresh_token_expires_in`` and retires the refresh token it was given.
- The app's install, as Shopify's OAuth speaks it (see "OAuth" below): ``GET
  /admin/oauth/authorize`` approves at once and redirects to the app's ``redirect_uri`` with a
  signed ``code``/``hmac``/``host``/``shop``/``state``/``timestamp``; ``POST
  /admin/oauth/access_token`` also takes the authorization code (once) and token exchange (a
  session token signed with the client secret), each answering an expiring offline token with
  its refresh token when ``expiring=1``; ``shop`` answers name, email, zone and currency.
- Scripted trouble, consumed one GraphQL request at a time: ``"throttled"``, ``"http429"``,
  ``"http500"``, ``"malformed_json"``, ``"malformed_page"``, ``"expire_token"``, ``"ok"``.
- :func:`sign_webhook` / :func:`webhook_headers`: a delivery signed as Shopify signs it.

Time (token expiry, bucket refill) comes from a :class:`FakeClock` shared with the adapter, whose
``sleep`` advances it: tests are exact and never wait.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import itertools
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import graphql
from graphql import GraphQLError, GraphQLSchema

API_VERSION = "2026-10"
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "shopify" / "admin_2026-10.json.gz"
INVALID_TOKEN_BODY = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}


@lru_cache(maxsize=2)
def load_admin_schema(path: str = str(SCHEMA_PATH)) -> GraphQLSchema:
    """The Admin GraphQL schema from Shopify's introspection JSON (gzipped)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        introspection = json.load(handle)
    return graphql.build_client_schema(introspection["data"], assume_valid=True)


class FakeClock:
    """Aware UTC time that only moves when told to; ``sleep`` records and advances."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


def _money_bag(amount: str, currency: str) -> dict[str, Any]:
    money = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def make_order(
    order_id: int,
    *,
    updated_at: str,
    financial: str = "PENDING",
    total: str = "100.00",
    outstanding: str | None = None,
    currency: str = "EUR",
    created_at: str | None = None,
    due_at: str | None = "2026-04-05T00:00:00Z",
    terms: bool = True,
    cancelled_at: str | None = None,
    email: str | None = "buyer@example.com",
    customer_id: int | None = 7001,
    company: str | None = None,
    locale: str | None = "fr-FR",
) -> dict[str, Any]:
    """An Order in GraphQL shape, with every field the adapter's fragment selects."""
    owed = outstanding if outstanding is not None else total
    customer = None
    if customer_id is not None:
        customer = {
            "id": f"gid://shopify/Customer/{customer_id}",
            "displayName": "Camille Martin",
            "firstName": "Camille",
            "lastName": "Martin",
            "locale": "fr",
            "defaultEmailAddress": {"emailAddress": email} if email else None,
            "defaultPhoneNumber": None,
        }
    payment_terms = None
    if terms:
        payment_terms = {
            "paymentTermsType": "NET",
            "paymentSchedules": {
                "nodes": [
                    {"issuedAt": created_at or updated_at, "dueAt": due_at, "completedAt": None}
                ]
            },
        }
    return {
        "id": f"gid://shopify/Order/{order_id}",
        "legacyResourceId": str(order_id),
        "name": f"#{order_id}",
        "email": email,
        "phone": None,
        "createdAt": created_at or updated_at,
        "processedAt": created_at or updated_at,
        "updatedAt": updated_at,
        "cancelledAt": cancelled_at,
        "test": False,
        "displayFinancialStatus": financial,
        "customerLocale": locale,
        "statusPageUrl": f"https://relance-test.myshopify.com/1/orders/{order_id}/authenticate",
        "currentTotalPriceSet": _money_bag(total, currency),
        "totalOutstandingSet": _money_bag(owed, currency),
        "paymentTerms": payment_terms,
        "customer": customer,
        "purchasingEntity": (
            {"__typename": "PurchasingCompany", "company": {"name": company}}
            if company
            else ({"__typename": "Customer"} if customer else None)
        ),
        "billingAddress": {"company": company},
    }


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"naive timestamp {value!r}")
    return parsed.astimezone(UTC)


# --- the search grammar the adapter relies on --------------------------------------------------

_TERM = re.compile(r"""(?P<field>[a-z_]+):(?P<op>>=|<=|>|<)?(?P<value>'[^']*'|"[^"]*"|[^\s()]+)""")


def _parse_search(query: str) -> list[list[tuple[str, str, str, bool]]]:
    """``a OR b c`` -> [[a], [b, c]] (AND binds tighter); unknown syntax is an error."""
    groups: list[list[tuple[str, str, str, bool]]] = [[]]
    position = 0
    text = query.strip()
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        if text.startswith("OR ", position):
            groups.append([])
            position += 3
            continue
        if text.startswith("AND ", position):
            position += 4
            continue
        match = _TERM.match(text, position)
        if match is None:
            raise GraphQLError(f"fake Shopify cannot read search query at {text[position:]!r}")
        raw = match.group("value")
        quoted = raw[:1] in ("'", '"')
        value = raw[1:-1] if quoted else raw
        groups[-1].append((match.group("field"), match.group("op") or "=", value, quoted))
        position = match.end()
    if any(not group for group in groups):
        raise GraphQLError("fake Shopify: empty term around OR")
    return groups


def _matches(order: Mapping[str, Any], term: tuple[str, str, str, bool]) -> bool:
    field, op, value, quoted = term
    if field == "financial_status":
        return op == "=" and str(order["displayFinancialStatus"]).lower() == value.lower()
    if field == "status":
        cancelled = order.get("cancelledAt") is not None
        return {"cancelled": cancelled, "open": not cancelled, "not_closed": True}[value]
    if field == "updated_at":
        if not quoted:
            raise GraphQLError("date values must be quoted")
        bound = _instant(value.replace("Z", "+00:00"))
        actual = _instant(order["updatedAt"])
        return {
            ">=": actual >= bound,
            ">": actual > bound,
            "<=": actual <= bound,
            "<": actual < bound,
            "=": actual == bound,
        }[op]
    raise GraphQLError(f"fake Shopify does not know the search field {field!r}")


def _sort_key(order: Mapping[str, Any]) -> tuple[datetime, int]:
    return (_instant(order["updatedAt"]), int(order["legacyResourceId"]))


def _encode_cursor(order: Mapping[str, Any]) -> str:
    updated, order_id = _sort_key(order)
    raw = json.dumps({"last_id": order_id, "last_value": updated.isoformat()})
    return base64.b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        data = json.loads(base64.b64decode(cursor.encode()))
        return (datetime.fromisoformat(data["last_value"]), int(data["last_id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


# --- the server -------------------------------------------------------------------------------


class FakeShopify:
    """One shop. Start with ``with FakeShopify(...) as fake:``; ``fake.base_url`` is its origin."""

    def __init__(
        self,
        *,
        clock: FakeClock,
        client_id: str = "client-id-1",
        client_secret: str = "shpss_test_secret",
        bucket_max: float = 2000.0,
        restore_rate: float = 100.0,
        per_order_cost: int = 17,
        refreshed_token_ttl: float = 3600.0,
        schema: GraphQLSchema | None = None,
        shop_id: int = 690933842,
    ) -> None:
        self.clock = clock
        self.shop_id = shop_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.bucket_max = bucket_max
        self.restore_rate = restore_rate
        self.per_order_cost = per_order_cost
        self.refreshed_token_ttl = refreshed_token_ttl
        self.schema = schema or load_admin_schema()
        self.orders: dict[str, dict[str, Any]] = {}
        self.webhook_subscriptions: list[dict[str, Any]] = []
        self._subscription_ids = itertools.count(1)
        self.access_tokens: dict[str, datetime | None] = {}
        self.refresh_tokens: set[str] = set()
        self.graphql_requests: list[dict[str, Any]] = []
        self.refresh_requests: list[dict[str, Any]] = []
        self.responses: list[str] = []  # "ok", "throttled", "http429", "401", ... per request
        self._script: deque[str] = deque()
        self._lock = threading.RLock()
        self._available = bucket_max
        self._bucket_at = clock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # OAuth (additive): the shop this fake is, what it says about itself, codes issued.
        self.shop_domain = "relance-test.myshopify.com"
        self.shop_name = "Relance Test Shop"
        self.shop_email = "owner@relance-test.example"
        self.shop_timezone = "Europe/Paris"
        self.shop_currency = "EUR"
        self.codes: dict[str, str] = {}  # code -> redirect_uri, until used
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeShopify:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the fake with `with FakeShopify(...)`"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- test controls -----------------------------------------------------------------------

    def add_orders(self, *orders: dict[str, Any]) -> None:
        with self._lock:
            for order in orders:
                self.orders[order["id"]] = order

    def update_order(self, order_id: int, **fields: Any) -> None:
        with self._lock:
            self.orders[f"gid://shopify/Order/{order_id}"].update(fields)

    def issue_token_pair(self, ttl: float | None = 3600.0) -> dict[str, Any]:
        """A token answer as Shopify's token endpoint gives it, registered as valid."""
        with self._lock:
            access = f"shpat_{uuid.uuid4().hex}"
            refresh = f"shprt_{uuid.uuid4().hex}"
            self.access_tokens[access] = (
                None if ttl is None else self.clock() + timedelta(seconds=ttl)
            )
            self.refresh_tokens.add(refresh)
        answer: dict[str, Any] = {
            "access_token": access,
            "scope": "read_orders,read_customers,read_payment_terms",
            "refresh_token": refresh,
            "refresh_token_expires_in": 7776000,
        }
        if ttl is not None:
            answer["expires_in"] = int(ttl)
        return answer

    def expire_token(self, token: str) -> None:
        with self._lock:
            self.access_tokens[token] = self.clock() - timedelta(seconds=1)

    def script(self, *actions: str) -> None:
        """Queue trouble for the next GraphQL requests, one action per request."""
        known = {
            "ok",
            "throttled",
            "http429",
            "http500",
            "malformed_json",
            "malformed_page",
            "expire_token",
        }
        unknown = set(actions) - known
        if unknown:
            raise ValueError(f"unknown script actions {unknown}")
        with self._lock:
            self._script.extend(actions)

    def drain_bucket(self, to: float = 0.0) -> None:
        with self._lock:
            self._refill()
            self._available = to

    @property
    def bucket_available(self) -> float:
        with self._lock:
            self._refill()
            return self._available

    def operations(self) -> list[str]:
        return [r["operation"] for r in self.graphql_requests]

    # --- bucket ------------------------------------------------------------------------------

    def _refill(self) -> None:
        now = self.clock()
        elapsed = max(0.0, (now - self._bucket_at).total_seconds())
        self._available = min(self.bucket_max, self._available + elapsed * self.restore_rate)
        self._bucket_at = now

    def _cost_extension(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.bucket_max,
                    "currentlyAvailable": round(self._available, 3),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def _requested_cost(self, document: graphql.DocumentNode, variables: Mapping[str, Any]) -> int:
        cost = 0
        for definition in document.definitions:
            if not isinstance(definition, graphql.OperationDefinitionNode):
                continue
            mutation = definition.operation == graphql.OperationType.MUTATION
            for selection in definition.selection_set.selections:
                if not isinstance(selection, graphql.FieldNode):
                    continue
                first = 1
                for argument in selection.arguments or ():
                    if argument.name.value == "first":
                        value = argument.value
                        if isinstance(value, graphql.VariableNode):
                            first = int(variables.get(value.name.value) or 1)
                        elif isinstance(value, graphql.IntValueNode):
                            first = int(value.value)
                name = selection.name.value
                if mutation:
                    cost += 10
                elif name == "orders":
                    cost += 2 + first * self.per_order_cost
                elif name == "order":
                    cost += 1 + self.per_order_cost
                else:
                    cost += 2 + first
        return cost

    # --- resolvers ---------------------------------------------------------------------------

    def _resolve_orders(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
        sortKey: str | None = None,
        reverse: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        if first is None or not 1 <= first <= 250:
            raise GraphQLError("The `first` argument must be between 1 and 250.")
        with self._lock:
            orders = [json.loads(json.dumps(o)) for o in self.orders.values()]
        if query:
            groups = _parse_search(query)
            orders = [o for o in orders if any(all(_matches(o, t) for t in g) for g in groups)]
        if sortKey == "UPDATED_AT":
            orders.sort(key=_sort_key, reverse=reverse)
        else:
            orders.sort(key=lambda o: int(o["legacyResourceId"]), reverse=reverse)
        if after:
            position = _decode_cursor(after)
            orders = [o for o in orders if _sort_key(o) > position]
        page = orders[:first]
        return {
            "nodes": page,
            "pageInfo": {
                "hasNextPage": len(orders) > first,
                "hasPreviousPage": after is not None,
                "startCursor": _encode_cursor(page[0]) if page else None,
                "endCursor": _encode_cursor(page[-1]) if page else None,
            },
        }

    def _resolve_order(self, _info: Any, id: str, **_: Any) -> dict[str, Any] | None:
        with self._lock:
            order = self.orders.get(id)
            return None if order is None else json.loads(json.dumps(order))

    def _resolve_subscriptions(
        self, _info: Any, first: int | None = None, uri: str | None = None, **_: Any
    ) -> dict[str, Any]:
        with self._lock:
            nodes = [s for s in self.webhook_subscriptions if uri is None or s["uri"] == uri]
        return {"nodes": nodes[: first or 50]}

    def _resolve_subscription_create(
        self, _info: Any, topic: str, webhookSubscription: dict[str, Any]
    ) -> dict[str, Any]:
        uri = webhookSubscription.get("uri") or ""
        with self._lock:
            if not re.match(r"^https?://", uri):
                return _user_error("Address is invalid")
            if any(s["topic"] == topic and s["uri"] == uri for s in self.webhook_subscriptions):
                return _user_error("Address for this topic has already been taken")
            subscription = {
                "id": f"gid://shopify/WebhookSubscription/{next(self._subscription_ids)}",
                "topic": topic,
                "uri": uri,
                "format": webhookSubscription.get("format") or "JSON",
            }
            self.webhook_subscriptions.append(subscription)
        return {"webhookSubscription": subscription, "userErrors": []}

    def _resolve_subscription_delete(self, _info: Any, id: str) -> dict[str, Any]:
        with self._lock:
            found = [s for s in self.webhook_subscriptions if s["id"] == id]
            if not found:
                return {
                    "deletedWebhookSubscriptionId": None,
                    "userErrors": [
                        {"field": ["id"], "message": "Webhook subscription does not exist"}
                    ],
                }
            self.webhook_subscriptions.remove(found[0])
        return {"deletedWebhookSubscriptionId": id, "userErrors": []}

    # --- request handling (called by the handler) --------------------------------------------

    def handle_graphql(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        token = headers.get("X-Shopify-Access-Token") or ""
        try:
            request = json.loads(body)
        except ValueError:
            return _json(400, {"errors": "Bad Request"})
        variables = request.get("variables") or {}
        with self._lock:
            action = self._script.popleft() if self._script else "ok"
            self.graphql_requests.append(
                {
                    "operation": request.get("operationName"),
                    "variables": variables,
                    "token": token,
                    "query": request.get("query"),
                    "at": self.clock(),
                }
            )
            if action == "expire_token":
                self.access_tokens[token] = self.clock() - timedelta(seconds=1)
            expires = self.access_tokens.get(token, "missing")
            if expires == "missing" or (isinstance(expires, datetime) and expires <= self.clock()):
                self.responses.append("401")
                return _json(401, INVALID_TOKEN_BODY)
            if action == "http429":
                self.responses.append("http429")
                return _json(
                    429,
                    {
                        "errors": "Exceeded 2 calls per second for api client. Reduce request "
                        "rates to resume uninterrupted service."
                    },
                    {"Retry-After": "2.0"},
                )
            if action == "http500":
                self.responses.append("http500")
                return _json(500, {"errors": "Internal Server Error"})
            if action == "malformed_json":
                self.responses.append("malformed_json")
                return 200, {"Content-Type": "text/html"}, b"<html><body>oops</body></html>"
            try:
                document = graphql.parse(request.get("query") or "")
            except GraphQLError as exc:
                self.responses.append("syntax_error")
                return _json(200, {"errors": [exc.formatted]})
            requested = self._requested_cost(document, variables)
            self._refill()
            if action == "throttled" or requested > self._available:
                self.responses.append("throttled")
                return _json(
                    200,
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": self._cost_extension(requested, None),
                    },
                )
            self._available -= requested
        root = {
            "orders": self._resolve_orders,
            "order": self._resolve_order,
            "webhookSubscriptions": self._resolve_subscriptions,
            "shop": lambda _info, **_: {
                "id": f"gid://shopify/Shop/{self.shop_id}",
                "name": self.shop_name,
                "email": self.shop_email,
                "myshopifyDomain": self.shop_domain,
                "ianaTimezone": self.shop_timezone,
                "currencyCode": self.shop_currency,
            },
            "webhookSubscriptionCreate": self._resolve_subscription_create,
            "webhookSubscriptionDelete": self._resolve_subscription_delete,
        }
        result = graphql.graphql_sync(
            self.schema,
            request.get("query") or "",
            root_value=root,
            variable_values=variables,
            operation_name=request.get("operationName"),
        )
        payload: dict[str, Any] = dict(result.formatted)
        with self._lock:
            actual = requested
            orders = (payload.get("data") or {}).get("orders")
            if isinstance(orders, dict):
                actual = 2 + len(orders.get("nodes") or []) * self.per_order_cost
            self._available = min(self.bucket_max, self._available + (requested - actual))
            payload["extensions"] = self._cost_extension(requested, actual)
            if action == "malformed_page" and isinstance(orders, dict) and orders.get("nodes"):
                first = orders["nodes"][0]
                orders["nodes"][0] = {"id": first["id"], "legacyResourceId": "not-a-number"}
            self.responses.append("errors" if payload.get("errors") else action)
        return _json(200, payload)

    def handle_token(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        content_type = headers.get("Content-Type", "")
        try:
            if "json" in content_type:
                params = json.loads(body)
            else:
                from urllib.parse import parse_qsl

                params = dict(parse_qsl(body.decode()))
        except ValueError:
            return _json(400, {"error": "invalid_request"})
        with self._lock:
            self.token_requests.append(dict(params))
            if params.get("grant_type") != "refresh_token":
                return self._grant(params)
            self.refresh_requests.append(dict(params))
            if (
                params.get("client_id") != self.client_id
                or params.get("client_secret") != self.client_secret
            ):
                return _json(401, {"error": "invalid_client"})
            if params.get("grant_type") != "refresh_token":
                return _json(400, {"error": "unsupported_grant_type"})
            refresh = params.get("refresh_token")
            if refresh not in self.refresh_tokens:
                return _json(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The refresh token is invalid or expired",
                    },
                )
            self.refresh_tokens.discard(refresh)
        return _json(200, self.issue_token_pair(self.refreshed_token_ttl))

    # --- OAuth: install and token exchange (additive) -----------------------------------------

    def authorize(self, query: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        """The merchant approves at once: back to ``redirect_uri`` with a signed code."""
        with self._lock:
            self.authorize_requests.append(dict(query))
            if query.get("client_id") != self.client_id:
                return _json(400, {"error": "invalid_request", "error_description": "client_id"})
            redirect_uri = query.get("redirect_uri") or ""
            if not redirect_uri.startswith(("http://", "https://")):
                return _json(400, {"error": "invalid_request", "error_description": "uri"})
            code = uuid.uuid4().hex
            self.codes[code] = redirect_uri
        params = {
            "code": code,
            "host": base64.urlsafe_b64encode(
                f"admin.shopify.com/store/{self.shop_domain.split('.')[0]}".encode()
            )
            .decode()
            .rstrip("="),
            "shop": self.shop_domain,
            "state": query.get("state") or "",
            "timestamp": str(int(self.clock().timestamp())),
        }
        params["hmac"] = sign_query(params, self.client_secret)
        location = redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(params)
        return 302, {"Location": location}, b""

    def _grant(self, params: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
        """authorization_code (no grant_type, a ``code``) or token exchange; lock held."""
        if (
            params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
        ):
            return _json(401, {"error": "invalid_client"})
        ttl: float | None = 3600.0 if str(params.get("expiring")) == "1" else None
        if params.get("grant_type") == TOKEN_EXCHANGE:
            if (
                params.get("subject_token_type") != ID_TOKEN
                or params.get("requested_token_type") != OFFLINE_TOKEN
            ):
                return _json(400, {"error": "invalid_request"})
            claims = read_session_token(str(params.get("subject_token")), self.client_secret)
            if claims is None or claims.get("dest") != f"https://{self.shop_domain}":
                return _json(400, {"error": "invalid_subject_token"})
            return _json(200, self.issue_token_pair(ttl))
        if params.get("grant_type") not in (None, "authorization_code"):
            return _json(400, {"error": "unsupported_grant_type"})
        code = params.get("code")
        if not isinstance(code, str) or self.codes.pop(code, None) is None:
            return _json(
                400,
                {"error": "invalid_request", "error_description": "authorization code used"},
            )
        return _json(200, self.issue_token_pair(ttl))

    def session_token(
        self,
        *,
        aud: str | None = None,
        dest: str | None = None,
        exp_in: float = 60.0,
        nbf_in: float = -5.0,
        secret: str | None = None,
    ) -> str:
        """A session token as App Bridge hands the app (HS256 with the client secret)."""
        return make_session_token(
            secret or self.client_secret,
            aud=aud or self.client_id,
            dest=dest or f"https://{self.shop_domain}",
            now=self.clock(),
            exp_in=exp_in,
            nbf_in=nbf_in,
        )


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"


def sign_query(params: Mapping[str, str], secret: str) -> str:
    """The ``hmac`` of an OAuth redirect or admin link: hex HMAC-SHA256 of ``k=v`` pairs
    (sorted, ``hmac`` left out) joined by ``&``."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def make_session_token(
    secret: str, *, aud: str, dest: str, now: datetime, exp_in: float = 60.0, nbf_in: float = -5.0
) -> str:
    """An HS256 JWT with Shopify's session-token claims."""
    stamp = int(now.timestamp())
    claims = {
        "iss": f"{dest}/admin",
        "dest": dest,
        "aud": aud,
        "sub": "42",
        "exp": stamp + int(exp_in),
        "nbf": stamp + int(nbf_in),
        "iat": stamp + int(nbf_in),
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
    }
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(signature)}"


def read_session_token(token: str, secret: str) -> dict[str, Any] | None:
    """The claims of a token signed with ``secret``, else None (the fake's own check)."""
    try:
        head, body, signature = token.split(".")
        expected = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        if not hmac.compare_digest(expected, given):
            return None
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _user_error(message: str) -> dict[str, Any]:
    return {
        "webhookSubscription": None,
        "userErrors": [{"field": ["webhookSubscription", "callbackUrl"], "message": message}],
    }


def _json(
    status: int, payload: Any, extra: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json; charset=utf-8", **(extra or {})}
    return status, headers, json.dumps(payload).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeShopify
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/admin/oauth/authorize":
            status, out_headers, out = self.fake.authorize(dict(parse_qsl(query)))
        else:
            status, out_headers, out = _json(404, {"errors": "Not Found"})
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {key: value for key, value in self.headers.items()}
        if self.path == f"/admin/api/{API_VERSION}/graphql.json":
            status, out_headers, out = self.fake.handle_graphql(headers, body)
        elif self.path == "/admin/oauth/access_token":
            status, out_headers, out = self.fake.handle_token(headers, body)
        else:
            status, out_headers, out = _json(404, {"errors": "Not Found"})
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        return


# --- webhooks ---------------------------------------------------------------------------------


def sign_webhook(raw_body: bytes, secret: str) -> str:
    """``X-Shopify-Hmac-Sha256`` as Shopify computes it: base64(HMAC-SHA256(secret, body))."""
    return base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()


def webhook_headers(
    topic: str,
    raw_body: bytes,
    secret: str,
    *,
    shop: str = "relance-test.myshopify.com",
    event_id: str | None = "e3a6b5c2-7f41-4d2a-9c53-1b0e2f6d8a90",
    webhook_id: str | None = "b54557e4-8a5f-bf7d-70bc-d043a1b2c3d4",
    triggered_at: str | None = "2026-03-06T15:00:00.123456789Z",
) -> dict[str, str]:
    """The headers of one delivery, signed; pass None to leave an optional header out."""
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign_webhook(raw_body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": API_VERSION,
    }
    if event_id is not None:
        headers["X-Shopify-Event-Id"] = event_id
    if webhook_id is not None:
        headers["X-Shopify-Webhook-Id"] = webhook_id
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered_at
    return headers


def iter_order_ids(pages: Iterator[Any]) -> list[str]:
    """External ids of every invoice of every page, in order."""
    return [invoice.external_id for page in pages for invoice in page.invoices]
