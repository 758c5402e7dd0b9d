"""A local HTTP server speaking Stripe's v1 wire format for what the Stripe adapter calls.

    with FakeStripe(clock=clock) as fake:
        inv = fake.add_invoice(currency="eur", total=1050)
        client = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url})
        fake.script("GET", "/v1/invoices", [Reply(429), Reply(429)])   # then normal answers
        fake.fail_after("GET", "/v1/invoices", served=1)                # crash injection
        fake.malform("GET", "/v1/invoices", page=2, mode="garbage")

Served: ``GET /v1/invoices`` (status, collection_method, customer, created[gt|gte|lt|lte],
limit 1–100, starting_after/ending_before, has_more, expand data.customer), ``GET
/v1/invoices/{id}`` (expand customer), ``GET /v1/events`` (type/types, created, paging),
``GET|POST /v1/webhook_endpoints``, ``DELETE /v1/webhook_endpoints/{id}``, ``GET
/v1/invoice_payments`` (invoice, payment[type|payment_intent], status; its parameters are
stripe-python 16.1.0's ``InvoicePaymentListParams``, the 2023 spec predating the resource).
Every payment is a PaymentIntent with its InvoicePayment; refunds and disputes are built the way
2025-03-31.basil+ sends them: they name the PaymentIntent and the charge, never the invoice.
Lists are sorted newest first like Stripe's. Parameters are checked against Stripe's OpenAPI spec
(``data/stripe/spec3.2023-09-12.json.gz``): an unknown one gets Stripe's 400.
Objects are built from Stripe's own fixtures (``fixtures3.2023-09-12.json``) reshaped to the
pinned API version (no ``paid``/``charge``/``payment_intent`` on invoices since 2025-03-31.basil).
Data is scoped by the ``Stripe-Account`` header, as for Connect.

Restricted keys (``add_restricted_key``) carry permissions (``rak_invoice_read``…); a call
needing one they lack gets Stripe's 403 naming it. Connect OAuth, as ``connect.stripe.com``
serves it, on the same port: ``GET /oauth/authorize`` approves at once and redirects to
``redirect_uri`` with a new ``code`` and the ``state``; ``POST /oauth/token`` (the platform's
secret key) exchanges a code, once, for ``stripe_user_id`` (a new ``acct_…``).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from connector.sandbox.scripted import ScriptedFake

FIXTURES = Path(__file__).resolve().parent / "data" / "stripe"
SPEC_FILE = FIXTURES / "spec3.2023-09-12.json.gz"
OBJECT_FIXTURES_FILE = FIXTURES / "fixtures3.2023-09-12.json"
API_VERSION = "2026-10-28.endive"  # the version the fake speaks (stripe-python 16.1.0's pin)
DEFAULT_API_KEY = "rk_test_relance"
# Removed from Invoice by 2025-03-31.basil (stripe-python 12.0.0 CHANGELOG).
REMOVED_INVOICE_FIELDS = ("paid", "charge", "payment_intent")


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    params: dict[str, Any]  # nested like Stripe's (created[gt] → {"created": {"gt": …}})
    headers: dict[str, str]  # lower-cased names


_ERROR_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Invalid API Key provided: rk_test_****", None),
    403: (
        "invalid_request_error",
        "The provided key does not have the required permissions.",
        None,
    ),
    404: ("invalid_request_error", "Unrecognized request URL.", "resource_missing"),
    429: (
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        "rate_limit",
    ),
    500: ("api_error", "An unknown error occurred.", None),
}


def error_body(
    status: int, message: str | None = None, *, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """Stripe's error envelope: ``{"error": {"type", "message", "code"?, "param"?}}``."""
    kind, default, default_code = _ERROR_DEFAULTS.get(status, ("api_error", "Error.", None))
    err: dict[str, Any] = {"type": kind, "message": message or default}
    if code or default_code:
        err["code"] = code or default_code
    if param:
        err["param"] = param
    return {"error": err}


def sign_payload(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends: t=…,v1=hex(HMAC-SHA256(secret, "t.body"))."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# -- Stripe's OpenAPI spec and fixtures ------------------------------------------------------


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    with gzip.open(SPEC_FILE) as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec


@lru_cache(maxsize=1)
def load_object_fixtures() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(OBJECT_FIXTURES_FILE.read_text())["resources"]
    return resources


def spec_params(method: str, template: str) -> frozenset[str]:
    """Top-level parameter names Stripe accepts for ``method template`` (query or form)."""
    operation = load_spec()["paths"][template][method.lower()]
    if method == "GET" or method == "DELETE":
        return frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
    content = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return frozenset(content["schema"].get("properties", {}))


def schema_errors(value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """Differences between ``value`` and an OpenAPI schema of Stripe's spec (a small validator:
    $ref, anyOf, nullable, type, enum, properties; undeclared keys are errors)."""
    spec = load_spec()
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null where the spec forbids it"]
    if "anyOf" in schema:
        options = [schema_errors(value, option, where) for option in schema["anyOf"]]
        return [] if any(not errs for errs in options) else [f"{where}: matches no anyOf branch"]
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind in checks and not checks[kind](value):
        return [f"{where}: {type(value).__name__} where the spec says {kind}"]
    errors: list[str] = []
    if (
        "enum" in schema
        and not schema.get("x-stripeBypassValidation")
        and value not in schema["enum"]
    ):
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    if kind == "object" and "properties" in schema:
        props = schema["properties"]
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{where}.{key}")
            elif not extra:
                errors.append(f"{where}.{key}: not declared in the spec")
    return errors


def invoice_schema() -> dict[str, Any]:
    schema: dict[str, Any] = load_spec()["components"]["schemas"]["invoice"]
    return schema


# -- the server --------------------------------------------------------------------------------


class FakeStripe(ScriptedFake):
    """Stripe's v1 API for invoices, events and webhook endpoints, on 127.0.0.1:<free port>."""

    ANSWER_HEADERS: ClassVar[Mapping[str, str]] = {
        "Content-Type": "application/json",
        "Request-Id": "req_fake",
        "Stripe-Version": API_VERSION,
    }
    METHODS = ("GET", "POST", "DELETE")

    def error_body(self, status: int) -> dict[str, Any]:
        return error_body(status)

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock)
        self.api_keys = set(api_keys)
        self.invoices: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.webhook_endpoints: dict[str, dict[str, Any]] = {}
        self.invoice_payments: dict[str, dict[str, Any]] = {}
        self.owner: dict[str, str | None] = {}  # object id → Stripe-Account (None: platform)
        self.requests: list[Recorded] = []
        self._seq = 0
        self.restricted: dict[str, frozenset[str]] = {}  # restricted key → its permissions
        self.oauth_codes: dict[str, str] = {}  # code → connected account, until exchanged
        self.connected_accounts: list[str] = []

    def add_restricted_key(self, key: str, permissions: Iterable[str]) -> None:
        """A restricted key with these permissions (``rak_<resource>_<read|write>``)."""
        with self._lock:
            self.api_keys.add(key)
            self.restricted[key] = frozenset(permissions)

    def issue_oauth_code(self, account: str | None = None) -> str:
        """A code as Stripe's authorize page returns it, for ``account`` (or a new one)."""
        account = account or self.next_id("acct")
        code = "ac_" + self.next_id("code")
        with self._lock:
            self.oauth_codes[code] = account
        return code

    def malform(
        self,
        method: str,
        route: str,
        page: int,
        mode: Literal["garbage", "bad_invoice", "no_secret"],
    ) -> None:
        """The ``page``-th normal answer (1-based) is broken: not JSON, an invoice without
        currency, or a webhook endpoint created but answered without its secret."""
        self._set_malform(method, route, page, mode)

    def calls(self, method: str, path: str, *, prefix: bool = False) -> list[Recorded]:
        """Recorded requests to exactly ``path`` (or any path under it with ``prefix``)."""
        return [
            r
            for r in self.requests
            if r.method == method and (r.path.startswith(path) if prefix else r.path == path)
        ]

    # building objects

    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{prefix}_Fk{self._seq:022d}"

    def add_customer(
        self,
        *,
        email: str | None = "client@example.com",
        name: str | None = "Camille Martin",
        locales: list[str] | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        customer = copy.deepcopy(load_object_fixtures()["customer"])
        customer.update(
            id=self.next_id("cus"),
            created=int(self.clock()) - 86400 * 30,
            email=email,
            name=name,
            preferred_locales=list(locales or []),
        )
        with self._lock:
            self.customers[customer["id"]] = customer
            self.owner[customer["id"]] = account
        return customer

    def add_invoice(
        self,
        *,
        currency: str = "eur",
        total: int = 1050,
        amount_paid: int = 0,
        created: int | None = None,
        customer: dict[str, Any] | None = None,
        account: str | None = None,
        status: str = "open",
        collection_method: str = "send_invoice",
        due_in_days: int = 30,
    ) -> dict[str, Any]:
        """An invoice from Stripe's fixture, finalized and sent for manual payment."""
        cust = customer or self.add_customer(account=account)
        when = int(self.clock()) - 86400 if created is None else created
        invoice = copy.deepcopy(load_object_fixtures()["invoice"])
        for name in REMOVED_INVOICE_FIELDS:
            invoice.pop(name, None)
        invoice_id = self.next_id("in")
        number = f"RLN-{self._seq:05d}"
        line = invoice["lines"]["data"][0]
        line.update(amount=total, amount_excluding_tax=total, currency=currency, invoice=invoice_id)
        invoice["lines"]["url"] = f"/v1/invoices/{invoice_id}/lines"
        invoice.update(
            id=invoice_id,
            number=number,
            status=status,
            collection_method=collection_method,
            currency=currency,
            created=when,
            effective_at=when,
            period_start=when,
            period_end=when,
            webhooks_delivered_at=when,
            due_date=when + 86400 * due_in_days if collection_method == "send_invoice" else None,
            next_payment_attempt=None,
            auto_advance=False,
            subtotal=total,
            subtotal_excluding_tax=total,
            total=total,
            total_excluding_tax=total,
            amount_due=total,
            amount_paid=amount_paid,
            amount_remaining=total - amount_paid,
            customer=cust["id"],
            customer_email=cust["email"],
            customer_name=cust["name"],
            hosted_invoice_url=None
            if status == "draft"
            else f"https://invoice.stripe.com/i/acct_fake/{invoice_id}",
            invoice_pdf=None,
            status_transitions={
                "finalized_at": None if status == "draft" else when + 60,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
        )
        with self._lock:
            self.invoices[invoice_id] = invoice
            self.owner[invoice_id] = account
        return invoice

    def add_event(
        self,
        kind: str,
        obj: Mapping[str, Any],
        *,
        created: int | None = None,
        previous: Mapping[str, Any] | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        """An event carrying a snapshot of ``obj`` (as Stripe renders it at that moment)."""
        event = copy.deepcopy(load_object_fixtures()["event"])
        data: dict[str, Any] = {"object": copy.deepcopy(dict(obj))}
        if previous is not None:
            data["previous_attributes"] = dict(previous)
        event.update(
            id=self.next_id("evt"),
            api_version=API_VERSION,
            created=int(self.clock()) if created is None else created,
            data=data,
            type=kind,
        )
        if account is not None:
            event["account"] = account
        with self._lock:
            self.events[event["id"]] = event
            self.owner[event["id"]] = account
        return event

    def pay(self, invoice_id: str, *, at: int, amount: int | None = None) -> dict[str, Any]:
        """A (partial) payment: updates the invoice and records invoice.paid / invoice.updated."""
        with self._lock:
            inv = self.invoices[invoice_id]
            before = inv["amount_paid"]
            amount = inv["amount_remaining"] if amount is None else amount
            inv["amount_paid"] = before + amount
            inv["amount_remaining"] = inv["amount_due"] - inv["amount_paid"]
            full = inv["amount_remaining"] == 0
            if full:
                inv["status"] = "paid"
                inv["status_transitions"]["paid_at"] = at
            self._record_payment(inv, amount, at)
            kind = "invoice.paid" if full else "invoice.updated"
            return self.add_event(
                kind,
                inv,
                created=at,
                previous={"amount_paid": before},
                account=self.owner[invoice_id],
            )

    def _record_payment(self, inv: dict[str, Any], amount: int, at: int) -> None:
        intent = self.next_id("pi")
        payment = {
            "id": self.next_id("inpay"),
            "object": "invoice_payment",
            "amount_paid": amount,
            "amount_requested": amount,
            "created": at,
            "currency": inv["currency"],
            "invoice": inv["id"],
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": intent},
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": at},
        }
        self.invoice_payments[payment["id"]] = payment
        self.owner[payment["id"]] = self.owner[inv["id"]]

    def payment_intents(self, invoice_id: str) -> list[str]:
        """The PaymentIntents that paid ``invoice_id``, oldest first."""
        with self._lock:
            return [
                p["payment"]["payment_intent"]
                for p in sorted(self.invoice_payments.values(), key=lambda p: p["id"])
                if p["invoice"] == invoice_id
            ]

    def dispute(self, invoice_id: str, *, at: int) -> dict[str, Any]:
        """charge.dispute.created on the invoice's last payment (no invoice named, as since
        2025-03-31.basil)."""
        intent = self.payment_intents(invoice_id)[-1]
        with self._lock:
            inv = self.invoices[invoice_id]
            dispute = copy.deepcopy(load_object_fixtures()["dispute"])
            dispute.update(
                id=self.next_id("dp"),
                amount=inv["amount_paid"],
                currency=inv["currency"],
                charge=self.next_id("ch"),
                payment_intent=intent,
                created=at,
            )
            return self.add_event(
                "charge.dispute.created", dispute, created=at, account=self.owner[invoice_id]
            )

    def refund(self, invoice_id: str, *, at: int) -> dict[str, Any]:
        """charge.refunded for the invoice's last payment, in full (no ``charge.invoice``)."""
        intent = self.payment_intents(invoice_id)[-1]
        with self._lock:
            inv = self.invoices[invoice_id]
            charge = copy.deepcopy(load_object_fixtures()["charge"])
            charge.pop("invoice", None)
            charge.update(
                id=self.next_id("ch"),
                amount=inv["amount_paid"],
                amount_captured=inv["amount_paid"],
                amount_refunded=inv["amount_paid"],
                currency=inv["currency"],
                payment_intent=intent,
                refunded=True,
                created=at,
            )
            return self.add_event(
                "charge.refunded", charge, created=at, account=self.owner[invoice_id]
            )

    def void(self, invoice_id: str, *, at: int) -> dict[str, Any]:
        with self._lock:
            inv = self.invoices[invoice_id]
            inv["status"] = "void"
            inv["status_transitions"]["voided_at"] = at
            return self.add_event("invoice.voided", inv, created=at, account=self.owner[invoice_id])

    def finalize(self, invoice_id: str, *, at: int) -> dict[str, Any]:
        with self._lock:
            inv = self.invoices[invoice_id]
            inv["status"] = "open"
            inv["status_transitions"]["finalized_at"] = at
            inv["hosted_invoice_url"] = f"https://invoice.stripe.com/i/acct_fake/{invoice_id}"
            return self.add_event(
                "invoice.finalized", inv, created=at, account=self.owner[invoice_id]
            )

    def credit(self, invoice_id: str, *, at: int, amount: int) -> dict[str, Any]:
        """A credit note lowering what is owed; only credit_note.created is recorded."""
        with self._lock:
            inv = self.invoices[invoice_id]
            inv["amount_due"] -= amount
            inv["amount_remaining"] -= amount
            inv["pre_payment_credit_notes_amount"] += amount
            note = copy.deepcopy(load_object_fixtures()["credit_note"])
            note.update(
                id=self.next_id("cn"),
                invoice=invoice_id,
                amount=amount,
                currency=inv["currency"],
                created=at,
                customer=inv["customer"],
            )
            return self.add_event(
                "credit_note.created", note, created=at, account=self.owner[invoice_id]
            )

    # rendering

    def render_invoice(self, invoice: Mapping[str, Any], expand_customer: bool) -> dict[str, Any]:
        out = copy.deepcopy(dict(invoice))
        if expand_customer and isinstance(out.get("customer"), str):
            out["customer"] = copy.deepcopy(self.customers[out["customer"]])
        return out

    # request handling (called from the handler thread)

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]] | Literal["drop"]:
        split = urlsplit(raw_path)
        path = split.path
        pairs = parse_qsl(split.query, keep_blank_values=True)
        if method == "POST":
            pairs += parse_qsl(body.decode(), keep_blank_values=True)
        params = _nest(pairs)
        lowered = {k.lower(): v for k, v in headers.items()}
        route, path_arg = _route(method, path)
        with self._lock:
            self.requests.append(Recorded(method, path, params, lowered))
            key = (method, route or path)
            scripted = self.scripted(key)
            if scripted is not None:
                return scripted
        if path.startswith("/oauth/"):
            return self._oauth(method, path, params, lowered)
        auth = lowered.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.api_keys:
            return 401, error_body(401), {}
        if route is None:
            return 404, error_body(404), {}
        lacking = self._lacking(auth[7:], method, route, params)
        if lacking is not None:
            on_account = lowered.get("stripe-account") or "acct_Fkplatform"
            masked = auth[7:15] + "*" * 16 + auth[-4:]
            message = (
                f"The provided key '{masked}' does not have the required permissions for this "
                f"endpoint on account '{on_account}'. Having the '{lacking}' permission would "
                "allow this request to continue."
            )
            return 403, error_body(403, message), {}
        unknown = sorted(set(params) - _known_params(method, route))
        if unknown:
            return (
                400,
                error_body(400, f"Received unknown parameter: {unknown[0]}", param=unknown[0]),
                {},
            )
        account = lowered.get("stripe-account") or None
        with self._lock:
            status, payload = self._dispatch(method, route, path_arg, params, account)
            if 200 <= status < 300:
                mode = self.count_served(key)
                if mode == "garbage":
                    return 200, b"<html><body>502 Bad Gateway</body></html>", {}
                if mode == "bad_invoice" and payload.get("data"):
                    payload["data"][0].pop("currency", None)
                if mode == "no_secret":
                    payload = {k: v for k, v in payload.items() if k != "secret"}
        return status, payload, {}

    def _lacking(self, key: str, method: str, route: str, params: Mapping[str, Any]) -> str | None:
        """The permission a restricted key lacks for this call, if any."""
        granted = self.restricted.get(key)
        if granted is None:
            return None  # a secret key: everything
        needed = [_PERMISSIONS[(method, route)]]
        expand = params.get("expand")
        if isinstance(expand, list) and any("customer" in e for e in expand):
            needed.append("rak_customer_read")
        for permission in needed:
            write = permission.removesuffix("_read") + "_write"
            if permission not in granted and write not in granted:
                return permission
        return None

    def _oauth(
        self, method: str, path: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """connect.stripe.com: the authorize page (approved at once) and the token exchange."""
        if path == "/oauth/authorize" and method == "GET":
            redirect = params.get("redirect_uri")
            if params.get("response_type") != "code" or not params.get("client_id"):
                return 400, {"error": "invalid_request"}, {}
            if not isinstance(redirect, str) or not redirect:
                return 400, {"error": "invalid_request", "error_description": "redirect_uri"}, {}
            code = self.issue_oauth_code()
            query = urlencode(
                {"code": code, "scope": "read_write", "state": params.get("state", "")}
            )
            return 302, b"", {"Location": f"{redirect}?{query}"}
        if path == "/oauth/token" and method == "POST":
            auth = headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.api_keys:
                return 401, {"error": "invalid_client", "error_description": "No such api key"}, {}
            if params.get("grant_type") != "authorization_code":
                return 400, {"error": "unsupported_grant_type"}, {}
            code = str(params.get("code", ""))
            with self._lock:
                account = self.oauth_codes.pop(code, None)
                if account is not None:
                    self.connected_accounts.append(account)
            if account is None:
                return (
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": f"Authorization code does not exist: {code}",
                    },
                    {},
                )
            return (
                200,
                {
                    "access_token": "sk_test_" + hashlib.sha256(code.encode()).hexdigest()[:24],
                    "livemode": False,
                    "refresh_token": "rt_" + hashlib.sha256(account.encode()).hexdigest()[:24],
                    "token_type": "bearer",
                    "stripe_publishable_key": "pk_test_fake",
                    "stripe_user_id": account,
                    "scope": "read_write",
                },
                {},
            )
        return 404, {"error": "invalid_request", "error_description": "Unrecognized URL"}, {}

    def _dispatch(
        self,
        method: str,
        route: str,
        arg: str | None,
        params: dict[str, Any],
        account: str | None,
    ) -> tuple[int, dict[str, Any]]:
        expand = params.get("expand", [])
        if not isinstance(expand, list):
            return 400, error_body(400, "Invalid array", param="expand")
        if route == "/v1/invoices":
            bad = [e for e in expand if e != "data.customer"]
            if bad:
                return 400, error_body(400, f"This property cannot be expanded ({bad[0]}).")
            return self._list(
                "/v1/invoices",
                [i for i in self.invoices.values() if self._matches_invoice(i, params)],
                params,
                account,
                lambda inv: self.render_invoice(inv, bool(expand)),
            )
        if route == "/v1/invoices/{invoice}":
            inv = self.invoices.get(arg or "")
            if inv is None or self.owner.get(inv["id"]) != account:
                return 404, error_body(
                    404, f"No such invoice: '{arg}'", code="resource_missing", param="id"
                )
            bad = [e for e in expand if e != "customer"]
            if bad:
                return 400, error_body(400, f"This property cannot be expanded ({bad[0]}).")
            return 200, self.render_invoice(inv, bool(expand))
        if route == "/v1/events":
            if "type" in params and "types" in params:
                return 400, error_body(400, "You may pass either type or types, but not both.")
            types = params.get("types") or ([params["type"]] if "type" in params else None)
            if types is not None and (not isinstance(types, list) or len(types) > 20):
                return 400, error_body(400, "types: at most 20 event types", param="types")
            chosen = [
                e
                for e in self.events.values()
                if (types is None or e["type"] in types) and _created_ok(e["created"], params)
            ]
            return self._list("/v1/events", chosen, params, account, copy.deepcopy)
        if route == "/v1/invoice_payments":
            return self._list_invoice_payments(params, account)
        if route == "/v1/webhook_endpoints" and method == "POST":
            return self._create_endpoint(params, account)
        if route == "/v1/webhook_endpoints":
            return self._list(
                "/v1/webhook_endpoints",
                list(self.webhook_endpoints.values()),
                params,
                account,
                lambda ep: {k: v for k, v in ep.items() if k != "secret"},
            )
        if route == "/v1/webhook_endpoints/{webhook_endpoint}" and method == "DELETE":
            endpoint = self.webhook_endpoints.get(arg or "")
            if endpoint is None or self.owner.get(endpoint["id"]) != account:
                return 404, error_body(404, f"No such webhook endpoint: '{arg}'", param="id")
            del self.webhook_endpoints[endpoint["id"]]
            return 200, {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}
        return 404, error_body(404)

    def _matches_invoice(self, inv: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        for name in ("status", "collection_method", "customer"):
            if name in params and inv.get(name) != params[name]:
                return False
        return _created_ok(inv["created"], params)

    def _list(
        self,
        url: str,
        objects: list[dict[str, Any]],
        params: Mapping[str, Any],
        account: str | None,
        render: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> tuple[int, dict[str, Any]]:
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            return 400, error_body(400, "Invalid integer", param="limit")
        if not 1 <= limit <= 100:
            return 400, error_body(
                400, "Invalid limit: must be at least 1 and at most 100", param="limit"
            )
        mine = [o for o in objects if self.owner.get(o["id"]) == account]
        mine.sort(key=lambda o: (o.get("created", 0), o["id"]), reverse=True)  # newest first
        for name in ("starting_after", "ending_before"):
            if name in params:
                anchor_id = params[name]
                anchor = self._find(anchor_id)
                if anchor is None or self.owner.get(anchor_id) != account:
                    return 400, error_body(
                        400, f"Invalid {name}: no such object {anchor_id}", param=name
                    )
                key = (anchor.get("created", 0), anchor["id"])
                if name == "starting_after":
                    mine = [o for o in mine if (o.get("created", 0), o["id"]) < key]
                else:
                    mine = [o for o in mine if (o.get("created", 0), o["id"]) > key][-limit:]
        page = mine[:limit]
        return 200, {
            "object": "list",
            "data": [render(o) for o in page],
            "has_more": len(mine) > limit,
            "url": url,
        }

    def _list_invoice_payments(
        self, params: Mapping[str, Any], account: str | None
    ) -> tuple[int, dict[str, Any]]:
        payment = params.get("payment")
        if payment is not None:
            if not isinstance(payment, dict) or "type" not in payment:
                return 400, error_body(400, "Missing required param: payment[type].")
            if payment["type"] not in ("payment_intent", "payment_record"):
                return 400, error_body(400, "Invalid payment[type]", param="payment[type]")
        chosen = [
            p
            for p in self.invoice_payments.values()
            if params.get("invoice") in (None, p["invoice"])
            and params.get("status") in (None, p["status"])
            and (
                payment is None
                or (
                    p["payment"]["type"] == payment["type"]
                    and payment.get(payment["type"]) in (None, p["payment"].get(payment["type"]))
                )
            )
        ]
        return self._list("/v1/invoice_payments", chosen, params, account, copy.deepcopy)

    def _find(self, object_id: str) -> dict[str, Any] | None:
        for store in (self.invoices, self.events, self.webhook_endpoints, self.invoice_payments):
            if object_id in store:
                return store[object_id]
        return None

    def _create_endpoint(
        self, params: Mapping[str, Any], account: str | None
    ) -> tuple[int, dict[str, Any]]:
        url, events = params.get("url"), params.get("enabled_events")
        if not isinstance(url, str) or not url:
            return 400, error_body(400, "Missing required param: url.", param="url")
        if not isinstance(events, list) or not events:
            return 400, error_body(
                400, "Missing required param: enabled_events.", param="enabled_events"
            )
        endpoint = copy.deepcopy(load_object_fixtures()["webhook_endpoint"])
        endpoint.update(
            id=self.next_id("we"),
            url=url,
            enabled_events=events,
            api_version=params.get("api_version"),
            description=params.get("description"),
            metadata=params.get("metadata", {}),
            created=int(self.clock()),
            secret="whsec_" + hashlib.sha256(f"{url}{self._seq}".encode()).hexdigest()[:32],
        )
        self.webhook_endpoints[endpoint["id"]] = endpoint
        self.owner[endpoint["id"]] = account
        return 200, copy.deepcopy(endpoint)


_ROUTES = (
    ("/v1/invoices", re.compile(r"^/v1/invoices$")),
    ("/v1/invoice_payments", re.compile(r"^/v1/invoice_payments$")),
    ("/v1/invoices/{invoice}", re.compile(r"^/v1/invoices/([^/]+)$")),
    ("/v1/events", re.compile(r"^/v1/events$")),
    ("/v1/webhook_endpoints", re.compile(r"^/v1/webhook_endpoints$")),
    ("/v1/webhook_endpoints/{webhook_endpoint}", re.compile(r"^/v1/webhook_endpoints/([^/]+)$")),
)
_ALLOWED = {
    "/v1/invoices": {"GET"},
    "/v1/invoice_payments": {"GET"},
    "/v1/invoices/{invoice}": {"GET"},
    "/v1/events": {"GET"},
    "/v1/webhook_endpoints": {"GET", "POST"},
    "/v1/webhook_endpoints/{webhook_endpoint}": {"DELETE"},
}


# What a restricted key needs for each call (the names Stripe's 403 gives).
_PERMISSIONS = {
    ("GET", "/v1/invoices"): "rak_invoice_read",
    ("GET", "/v1/invoices/{invoice}"): "rak_invoice_read",
    ("GET", "/v1/invoice_payments"): "rak_invoice_read",
    ("GET", "/v1/events"): "rak_event_read",
    ("GET", "/v1/webhook_endpoints"): "rak_webhook_read",
    ("POST", "/v1/webhook_endpoints"): "rak_webhook_write",
    ("DELETE", "/v1/webhook_endpoints/{webhook_endpoint}"): "rak_webhook_write",
}
# Everything the Stripe adapter needs.
FULL_PERMISSIONS = frozenset(
    {
        "rak_invoice_read",
        "rak_customer_read",
        "rak_credit_note_read",
        "rak_event_read",
        "rak_webhook_write",
    }
)


# Newer than the 2023 spec: stripe-python 16.1.0's InvoicePaymentListParams.
_INVOICE_PAYMENT_LIST_PARAMS = frozenset(
    {
        "created",
        "ending_before",
        "expand",
        "invoice",
        "limit",
        "payment",
        "starting_after",
        "status",
    }
)


def _known_params(method: str, route: str) -> frozenset[str]:
    if route == "/v1/invoice_payments":
        return _INVOICE_PAYMENT_LIST_PARAMS
    return spec_params(method, route)


def _route(method: str, path: str) -> tuple[str | None, str | None]:
    for template, pattern in _ROUTES:
        match = pattern.match(path)
        if match and method in _ALLOWED[template]:
            return template, (match.group(1) if match.groups() else None)
    return None, None


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back to structures: a[b]=1 → {"a": {"b": "1"}}, a[0]=x → lists."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = [] if parts[i + 1].isdigit() else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if parts[i + 1].isdigit() else {})
    return out


def _created_ok(created: int, params: Mapping[str, Any]) -> bool:
    bounds = params.get("created")
    if bounds is None:
        return True
    if not isinstance(bounds, dict):
        return created == int(bounds)
    ops: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(ops[op](created, int(v)) for op, v in bounds.items())
