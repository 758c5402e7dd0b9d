"""A local HTTP server speaking WooCommerce's REST wc/v3 wire format for what the adapter calls.

    with FakeWooCommerce(clock=clock) as fake:
        order = fake.add_order(status="on-hold", payment_method="bacs", total="29.35")
        api = woocommerce.API(fake.url, CONSUMER_KEY, CONSUMER_SECRET, version="wc/v3")
        fake.script("GET", ORDERS, [Reply(429), Reply(503)])      # then normal answers
        fake.fail_after("GET", ORDERS, served=1)                   # crash injection
        fake.malform("GET", ORDERS, page=2, mode="bad_order")

Served under ``/wp-json/wc/v3``: ``GET /orders`` (status, modified_after + dates_are_gmt, page,
per_page ≤ 100, orderby id|date|modified, order, with ``X-WP-Total`` / ``X-WP-TotalPages``),
``GET /orders/<id>``, ``POST /webhooks``, and the application-authorization page
``GET /wc-auth/v1/authorize`` (``WC_Auth``): it approves at once (``approve_auth = False``:
the owner declines), creates a key, POSTs ``{key_id, user_id, consumer_key, consumer_secret,
key_permissions}`` as JSON to ``callback_url`` and, on exactly 200, redirects to ``return_url``
with ``success=1&user_id=…`` (on any other answer the key is deleted and an error page shown,
as WooCommerce does). Errors are WP REST bodies ``{"code", "message",
"data": {"status"}}``. Over plain http the client signs with OAuth 1.0a (HMAC-SHA256, one-legged,
secret + "&") and ``requests`` appends the same query again: like PHP's ``$_GET`` the fake keeps
one value per name (refusing two *different* values) and checks the signature as WooCommerce's
``WC_REST_Authentication::check_oauth_signature`` does; HTTP Basic is accepted too. Orders are
WooCommerce's own documented example (data/woocommerce/woocommerce_order_v3.json)
with ids, statuses, amounts and dates changed. Local dates are GMT + ``utc_offset_hours``, so a
``modified_after`` sent without ``dates_are_gmt`` selects the wrong orders, as on a real shop.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from connector.sandbox.scripted import ScriptedFake

FIXTURES = Path(__file__).resolve().parent / "data" / "woocommerce"
ORDER_FIXTURE = FIXTURES / "woocommerce_order_v3.json"
ROUTE_INDEX = FIXTURES / "wc_v3_index.json"
PREFIX = "/wp-json/wc/v3"
ORDERS = f"{PREFIX}/orders"
WEBHOOKS = f"{PREFIX}/webhooks"
WC_AUTH = "/wc-auth/v1/authorize"
CONSUMER_KEY = "ck_relance_test"
CONSUMER_SECRET = "cs_relance_test"
SITE_URL = "https://shop.example"

STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
WEBHOOK_TOPICS = frozenset(
    f"{resource}.{event}"
    for resource in ("order", "product", "customer", "coupon")
    for event in ("created", "updated", "deleted", "restored")
)


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    params: dict[str, str]  # the query as WordPress sees it, OAuth parameters removed
    headers: dict[str, str]  # lower-cased names
    body: bytes


_ERRORS: dict[int, tuple[str, str]] = {
    400: ("rest_invalid_param", "Invalid parameter(s)."),
    401: ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    404: ("rest_no_route", "No route was found matching the URL and request method."),
    429: ("too_many_requests", "Too many requests."),
    500: ("internal_server_error", "There has been a critical error on this website."),
    503: ("service_unavailable", "Service temporarily unavailable."),
}


def wp_error(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    """WordPress's REST error body."""
    default_code, default_message = _ERRORS.get(status, ("error", "Error."))
    return {
        "code": code or default_code,
        "message": message or default_message,
        "data": {"status": status},
    }


def sign_webhook(body: bytes, secret: str) -> str:
    """``X-WC-Webhook-Signature`` as ``WC_Webhook::generate_signature`` computes it:
    ``base64_encode(hash_hmac('sha256', $payload, $secret, true))``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(topic: str, order_id: int, *, webhook_id: int = 1) -> dict[str, str]:
    """The headers WooCommerce sends with a delivery (``WC_Webhook::deliver``), bar the
    signature."""
    resource, event = topic.split(".", 1)
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)",
        "X-WC-Webhook-Source": f"{SITE_URL}/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": hashlib.md5(f"{webhook_id}{order_id}".encode()).hexdigest(),
    }


@lru_cache(maxsize=1)
def load_route_index() -> dict[str, Any]:
    index: dict[str, Any] = json.loads(ROUTE_INDEX.read_text())
    return index


@lru_cache(maxsize=1)
def order_template() -> dict[str, Any]:
    order: dict[str, Any] = json.loads(ORDER_FIXTURE.read_text())
    return order


def gmt(ts: float) -> str:
    """WooCommerce's ``*_gmt`` format: ISO 8601 in UTC, no offset, whole seconds."""
    return datetime.fromtimestamp(int(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


# -- OAuth 1.0a as WooCommerce checks it -------------------------------------------------------


def _oauth_normalize(value: str) -> str:
    return quote(unquote(value)).replace("%", "%25")


def oauth_signature(method: str, url: str, params: Mapping[str, str], secret: str) -> str:
    """``WC_REST_Authentication::check_oauth_signature``: sorted, double-encoded parameters."""
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    query = "%26".join(f"{_oauth_normalize(k)}%3D{_oauth_normalize(v)}" for k, v in pairs)
    base = f"{method}&{quote(url, safe='')}&{query}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# -- the server --------------------------------------------------------------------------------


class FakeWooCommerce(ScriptedFake):
    """WooCommerce's orders and webhooks REST routes, on 127.0.0.1:<free port>."""

    ANSWER_HEADERS: ClassVar[Mapping[str, str]] = {
        "Content-Type": "application/json; charset=UTF-8"
    }
    METHODS = ("GET", "POST", "DELETE")

    def error_body(self, status: int) -> dict[str, Any]:
        return wp_error(status)

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        consumer_key: str = CONSUMER_KEY,
        consumer_secret: str = CONSUMER_SECRET,
        utc_offset_hours: int = -3,
    ) -> None:
        super().__init__(clock)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.offset = timedelta(hours=utc_offset_hours)
        self.orders: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self._webhook_ids = 0
        self.requests: list[Recorded] = []
        self._next_id = 1000
        # wc-auth: keys created by the authorization page (consumer key → secret), what was
        # POSTed to each callback and the answer, and whether the owner approves.
        self.issued_keys: dict[str, str] = {}
        self.auth_posts: list[tuple[str, dict[str, Any], int]] = []
        self.approve_auth = True
        self.auth_permissions = "read_write"

    def malform(
        self,
        method: str,
        path: str,
        page: int,
        mode: Literal["garbage", "bad_order", "no_total_pages"],
    ) -> None:
        """The ``page``-th normal answer (1-based) is broken: an HTML error page with 200, an
        order whose ``total`` is not a number, or no ``X-WP-TotalPages`` header."""
        self._set_malform(method, path, page, mode)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # building orders

    def add_order(
        self,
        *,
        status: str = "on-hold",
        payment_method: str = "bacs",
        currency: str = "EUR",
        total: str = "29.35",
        created: float | None = None,
        modified: float | None = None,
        paid: float | None = None,
        customer_id: int = 0,
        email: str = "john.doe@example.com",
        company: str = "",
        meta: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An order from WooCommerce's documented example, with these fields."""
        now = self.clock()
        with self._lock:
            self._next_id += 1
            oid = self._next_id
        order = copy.deepcopy(order_template())
        order.update(
            id=oid,
            number=str(oid),
            order_key=f"wc_order_{hashlib.sha1(str(oid).encode()).hexdigest()[:13]}",
            status=status,
            currency=currency,
            total=total,
            customer_id=customer_id,
            payment_method=payment_method,
            payment_method_title={"bacs": "Direct bank transfer", "cheque": "Check payments"}.get(
                payment_method, payment_method
            ),
            refunds=[],
            meta_data=[
                {"id": 20000 + i, "key": k, "value": v}
                for i, (k, v) in enumerate((meta or {}).items())
            ],
            _links={
                "self": [{"href": f"{SITE_URL}/wp-json/wc/v3/orders/{oid}"}],
                "collection": [{"href": f"{SITE_URL}/wp-json/wc/v3/orders"}],
            },
        )
        order["billing"].update(email=email, company=company)
        self._set_date(order, "date_created", now - 3600 if created is None else created)
        self._set_date(order, "date_modified", now if modified is None else modified)
        self._set_date(order, "date_paid", paid)
        self._set_date(order, "date_completed", None)
        with self._lock:
            self.orders[oid] = order
        return copy.deepcopy(order)

    def set_status(self, oid: int, status: str, *, at: float | None = None) -> dict[str, Any]:
        """The merchant (or a gateway) moves an order; paid statuses get ``date_paid``."""
        when = self.clock() if at is None else at
        with self._lock:
            order = self.orders[oid]
            order["status"] = status
            if status in ("processing", "completed") and order["date_paid_gmt"] is None:
                self._set_date(order, "date_paid", when)
            self._set_date(order, "date_modified", when)
            return copy.deepcopy(order)

    def refund(self, oid: int, amount: str, *, at: float | None = None) -> dict[str, Any]:
        when = self.clock() if at is None else at
        with self._lock:
            order = self.orders[oid]
            order["refunds"].append(
                {"id": 9000 + len(order["refunds"]), "reason": "", "total": f"-{amount}"}
            )
            self._set_date(order, "date_modified", when)
            return copy.deepcopy(order)

    def _set_date(self, order: dict[str, Any], name: str, ts: float | None) -> None:
        if ts is None:
            order[name] = order[f"{name}_gmt"] = None
            return
        order[f"{name}_gmt"] = gmt(ts)
        local = datetime.fromtimestamp(int(ts), tz=UTC) + self.offset
        order[name] = local.strftime("%Y-%m-%dT%H:%M:%S")

    # request handling (called from the handler thread)

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]] | Literal["drop"]:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/")
        lowered = {k.lower(): v for k, v in headers.items()}
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            if name in query and query[name] != value:
                return 400, wp_error(400, f"{name} sent twice with different values"), {}
            query[name] = value
        params = {k: v for k, v in query.items() if not k.startswith("oauth_")}
        route = _route(path)
        with self._lock:
            self.requests.append(Recorded(method, path, params, lowered, body))
            key = (method, route or path)
            scripted = self.scripted(key)
            if scripted is not None:
                return scripted
        if path == WC_AUTH and method == "GET":
            return self._authorize(query)  # outside the lock: the callback calls the REST API
        problem = self._authenticate(method, path, query, lowered)
        if problem is not None:
            return 401, wp_error(401, problem, "woocommerce_rest_authentication_error"), {}
        if route is None:
            return 404, wp_error(404), {}
        with self._lock:
            answer = self._dispatch(method, route, path, params, body)
            status, payload, extra = answer
            if 200 <= status < 300:
                mode = self.count_served(key)
                if mode == "garbage":
                    return 200, b"<html><body>Error establishing a database connection", extra
                if mode == "bad_order" and isinstance(payload, list) and payload:
                    payload[-1]["total"] = None
                if mode == "no_total_pages":
                    extra = {k: v for k, v in extra.items() if k != "X-WP-TotalPages"}
        return status, payload, extra

    def _authenticate(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> str | None:
        """None when authenticated, else WooCommerce's complaint."""
        auth = headers.get("authorization", "")
        keys = {self.consumer_key: self.consumer_secret, **self.issued_keys}
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            ok = user in keys and password == keys[user]
            return None if ok else "Consumer secret is invalid."
        consumer_secret = keys.get(query.get("oauth_consumer_key", ""))
        if consumer_secret is None:
            return "Consumer key is invalid."
        if query.get("oauth_signature_method") != "HMAC-SHA256":
            return "Invalid signature - signature method is invalid."
        try:
            stamp = int(query.get("oauth_timestamp", ""))
        except ValueError:
            return "Invalid timestamp."
        if abs(time.time() - stamp) > 15 * 60:  # the real clock: the client signs with it
            return "Invalid timestamp."
        expected = oauth_signature(
            method, f"http://{headers.get('host', '')}{path}", query, consumer_secret
        )
        if not hmac.compare_digest(expected, query.get("oauth_signature", "")):
            return "Invalid signature - provided signature does not match."
        return None

    def _authorize(self, query: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        """``WC_Auth::auth_endpoint``, the owner signed in and approving (or declining)."""
        missing = [
            n
            for n in ("app_name", "scope", "user_id", "return_url", "callback_url")
            if not query.get(n)
        ]
        if missing:
            return 400, _page(f"Missing parameter {missing[0]}"), _HTML
        if query["scope"] not in ("read", "write", "read_write"):
            return 400, _page("Invalid scope"), _HTML
        user_id, return_url = query["user_id"], query["return_url"]
        if not self.approve_auth:
            return 302, b"", {"Location": _with_query(return_url, success=0, user_id=user_id)}
        key = "ck_" + secrets.token_hex(20)
        secret = "cs_" + secrets.token_hex(20)
        with self._lock:
            self.issued_keys[key] = secret
            key_id = len(self.issued_keys)
        body = {
            "key_id": key_id,
            "user_id": user_id,
            "consumer_key": key,
            "consumer_secret": secret,
            "key_permissions": self.auth_permissions,
        }
        request = urllib.request.Request(
            query["callback_url"],
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json;charset=UTF-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        with self._lock:
            self.auth_posts.append((query["callback_url"], body, status))
            if status != 200:  # WC_Auth::maybe_delete_key, then wp_die with the error
                del self.issued_keys[key]
        if status != 200:
            message = (
                "Error: An error occurred in the request and at the time were unable to send "
                "the consumer data"
            )
            return 401, _page(message), _HTML
        return 302, b"", {"Location": _with_query(return_url, success=1, user_id=user_id)}

    def _dispatch(
        self, method: str, route: str, path: str, params: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        if route == ORDERS and method == "GET":
            return self._list_orders(params)
        if route == f"{ORDERS}/<id>" and method == "GET":
            order = self.orders.get(int(path.rsplit("/", 1)[1]))
            if order is None:
                return (
                    404,
                    wp_error(404, "Invalid ID.", "woocommerce_rest_shop_order_invalid_id"),
                    {},
                )
            return 200, copy.deepcopy(order), {}
        if route == WEBHOOKS and method == "POST":
            return self._create_webhook(body)
        if route == f"{WEBHOOKS}/<id>" and method == "DELETE":
            return self._delete_webhook(int(path.rsplit("/", 1)[1]), params)
        return 404, wp_error(404), {}

    def _list_orders(self, params: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        args = _route_args("/wc/v3/orders", "GET")
        for name, value in params.items():
            enum = args.get(name, {}).get("enum")
            if enum is not None and value not in enum:
                return 400, wp_error(400, f"Invalid parameter(s): {name}"), {}
        orderby = params.get("orderby", "date")
        if orderby not in ("date", "id", "include", "title", "slug", "modified"):
            return 400, wp_error(400, "Invalid parameter(s): orderby"), {}
        try:
            page = int(params.get("page", "1"))
            per_page = int(params.get("per_page", "10"))
        except ValueError:
            return 400, wp_error(400, "Invalid parameter(s): page, per_page"), {}
        if not 1 <= per_page <= 100:
            return (
                400,
                wp_error(400, "per_page must be between 1 (inclusive) and 100 (inclusive)"),
                {},
            )
        status = params.get("status", "any")
        chosen = [o for o in self.orders.values() if status == "any" or o["status"] == status]
        if "modified_after" in params:
            gmt_dates = params.get("dates_are_gmt") in ("true", "1")
            column = "date_modified_gmt" if gmt_dates else "date_modified"
            bound = params["modified_after"].replace("Z", "")[:19]
            chosen = [o for o in chosen if o[column] > bound]  # strict, like WP_Date_Query
        sort_key = {"id": "id", "modified": "date_modified_gmt"}.get(orderby, "date_created_gmt")
        chosen.sort(key=lambda o: (o[sort_key], o["id"]), reverse=params.get("order") != "asc")
        total = len(chosen)
        pages = (total + per_page - 1) // per_page
        if page > max(pages, 1):
            return (
                400,
                wp_error(
                    400,
                    "The page number requested is larger than the number of pages available.",
                    "woocommerce_rest_invalid_page_number",
                ),
                {},
            )
        rows = [copy.deepcopy(o) for o in chosen[(page - 1) * per_page : page * per_page]]
        return 200, rows, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}

    def _create_webhook(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, wp_error(400, "Invalid JSON body passed.", "rest_invalid_json"), {}
        args = _route_args("/wc/v3/webhooks", "POST")
        missing = [n for n, a in args.items() if a.get("required") and not data.get(n)]
        if missing:
            return 400, wp_error(400, f"Missing parameter(s): {', '.join(missing)}"), {}
        if data["topic"] not in WEBHOOK_TOPICS:
            return 400, wp_error(400, "Webhook topic is required and must be valid."), {}
        self._webhook_ids += 1
        webhook_id = self._webhook_ids
        resource, event = data["topic"].split(".", 1)
        hook = {
            "id": webhook_id,
            "name": data.get("name") or "",
            "status": data.get("status", "active"),
            "topic": data["topic"],
            "resource": resource,
            "event": event,
            "hooks": [f"woocommerce_{resource}_{event}"],
            "delivery_url": data["delivery_url"],
            "date_created": gmt(self.clock()),
            "date_created_gmt": gmt(self.clock()),
            "secret": data["secret"],
        }
        self.webhooks[webhook_id] = hook
        return 201, {k: v for k, v in hook.items() if k != "secret"}, {}

    def _delete_webhook(
        self, webhook_id: int, params: Mapping[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """WC_REST_Webhooks_Controller::delete_item: no trash, so ``force`` is required."""
        if params.get("force") not in ("true", "1"):
            return (
                501,
                wp_error(
                    501, "Webhooks do not support trashing.", "woocommerce_rest_trash_not_supported"
                ),
                {},
            )
        hook = self.webhooks.pop(webhook_id, None)
        if hook is None:
            return 404, wp_error(404, "Invalid ID.", "woocommerce_rest_webhook_invalid_id"), {}
        return 200, {k: v for k, v in hook.items() if k != "secret"}, {}


def _route_args(route: str, method: str) -> dict[str, Any]:
    for endpoint in load_route_index()["routes"][route]["endpoints"]:
        if method in endpoint["methods"]:
            args: dict[str, Any] = endpoint["args"]
            return args
    raise KeyError(f"{method} {route}")


_ROUTES = (
    (ORDERS, re.compile(rf"^{re.escape(ORDERS)}$")),
    (f"{ORDERS}/<id>", re.compile(rf"^{re.escape(ORDERS)}/\d+$")),
    (WEBHOOKS, re.compile(rf"^{re.escape(WEBHOOKS)}$")),
    (f"{WEBHOOKS}/<id>", re.compile(rf"^{re.escape(WEBHOOKS)}/\d+$")),
)


def _route(path: str) -> str | None:
    return next((name for name, pattern in _ROUTES if pattern.match(path)), None)


_HTML = {"Content-Type": "text/html; charset=UTF-8"}


def _page(message: str) -> bytes:
    return f"<!doctype html><title>WooCommerce</title><p>{message}</p>".encode()


def _with_query(url: str, **params: str | int) -> str:
    """``add_query_arg``: the parameters appended to a URL that may have a query already."""
    return url + ("&" if "?" in url else "?") + urlencode(params)
