"""The adapter protocol: what the core expects of a platform plug-in, and how it finds them.

Adapters live in the top-level ``adapters`` package (or any other distribution) and are
registered under the ``relance.adapters`` entry-point group. The core never imports one by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Any, NamedTuple, Protocol, runtime_checkable

from connector.domain.identity import PostalAddress
from connector.domain.money import Money

ENTRY_POINT_GROUP = "relance.adapters"


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"
    REFUNDED = "refunded"
    DISPUTED = "disputed"

    @property
    def is_owed(self) -> bool:
        return self in (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)


@dataclass(frozen=True, slots=True)
class NormalizedCustomer:
    external_id: str
    email: str | None
    name: str | None = None
    company: str | None = None
    phone: str | None = None
    locale: str | None = None  # "fr", "en", … (None: the shop's)
    is_b2b: bool | None = None  # None: the shop's default
    postal_address: PostalAddress | None = None  # billing address, where the platform has one


@dataclass(frozen=True, slots=True)
class NormalizedInvoice:
    """An order or invoice as the core stores it, whatever the platform."""

    external_id: str
    number: str
    customer: NormalizedCustomer
    total: Money
    amount_due: Money  # still owed now (Stripe amount_remaining, Shopify totalOutstandingSet)
    status: InvoiceStatus
    issued_at: datetime  # tz-aware
    due_at: datetime | None  # tz-aware; None: the core applies the shop's payment terms
    updated_at: datetime  # the platform's own timestamp, tz-aware; orders stale updates
    payment_url: str | None = None


class InvoiceRow(NamedTuple):
    """An order or invoice as a sync page carries it to the store: plain values, money exact in
    integer minor units of ``currency`` (ISO 4217), the customer's columns flattened in. The
    built-in adapters map a page's JSON straight to these (a sync's hot path: no object per
    amount or customer); anything else goes through :func:`invoice_row`."""

    external_id: str
    number: str
    currency: str
    total_minor: int
    amount_due_minor: int  # still owed now
    status: InvoiceStatus
    issued_at: datetime  # tz-aware
    due_at: datetime | None  # tz-aware; None: the core applies the shop's payment terms
    updated_at: datetime  # the platform's own timestamp, tz-aware; orders stale updates
    payment_url: str | None
    customer_external_id: str
    email: str | None
    name: str | None
    company: str | None
    phone: str | None
    locale: str | None  # None: the shop's
    is_b2b: bool | None  # None: the shop's default
    postal_address: str | None  # as stored: ``PostalAddress.text()``

    @property
    def total(self) -> Money:
        """Money at the boundary (display, tests), never on the hot path."""
        return Money.from_minor(self.total_minor, self.currency)

    @property
    def amount_due(self) -> Money:
        return Money.from_minor(self.amount_due_minor, self.currency)

    def normalized(self, postal_address: PostalAddress | None = None) -> NormalizedInvoice:
        """The ledger's and the webhooks' shape. The row keeps the address only as its stored
        text: an adapter passes the PostalAddress it parsed along with the row (the ledger's
        row-by-row moves never read it and pass none)."""
        return NormalizedInvoice(
            external_id=self.external_id,
            number=self.number,
            customer=NormalizedCustomer(
                external_id=self.customer_external_id,
                email=self.email,
                name=self.name,
                company=self.company,
                phone=self.phone,
                locale=self.locale,
                is_b2b=self.is_b2b,
                postal_address=postal_address,
            ),
            total=self.total,
            amount_due=self.amount_due,
            status=self.status,
            issued_at=self.issued_at,
            due_at=self.due_at,
            updated_at=self.updated_at,
            payment_url=self.payment_url,
        )


def invoice_row(item: NormalizedInvoice | InvoiceRow) -> InvoiceRow:
    """Any invoice as the store's row shape (a row is returned as is)."""
    if type(item) is InvoiceRow:
        return item
    assert isinstance(item, NormalizedInvoice)
    customer = item.customer
    address = customer.postal_address
    return InvoiceRow(
        external_id=item.external_id,
        number=item.number,
        currency=item.amount_due.currency,
        total_minor=item.total.to_minor(),
        amount_due_minor=item.amount_due.to_minor(),
        status=item.status,
        issued_at=item.issued_at,
        due_at=item.due_at,
        updated_at=item.updated_at,
        payment_url=item.payment_url,
        customer_external_id=customer.external_id,
        email=customer.email,
        name=customer.name,
        company=customer.company,
        phone=customer.phone,
        locale=customer.locale,
        is_b2b=customer.is_b2b,
        postal_address=None if address is None else address.text(),
    )


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One page of a sync. ``cursor`` resumes *after* this page; stored with the page's rows.
    The built-in adapters send rows; a plug-in may send NormalizedInvoices."""

    invoices: Sequence[InvoiceRow | NormalizedInvoice]
    cursor: str | None


class EventKind(StrEnum):
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    REFUNDED = "refunded"
    VOIDED = "voided"
    DISPUTED = "disputed"
    UPDATED = "updated"
    CUSTOMER_DATA_REQUEST = "customer_data_request"
    CUSTOMER_REDACT = "customer_redact"
    SHOP_REDACT = "shop_redact"
    APP_UNINSTALLED = "app_uninstalled"  # the account removed our app: tokens are void
    IGNORED = "ignored"  # a topic we do not act on: stored and acknowledged


@dataclass(frozen=True, slots=True)
class NormalizedEvent:
    dedupe_key: (
        str  # Stripe event.id, Shopify X-Shopify-Event-Id, Woo "<order id>@<date_modified_gmt>"
    )
    kind: EventKind
    topic: str  # the platform's own name for it
    occurred_at: datetime  # the platform's timestamp, tz-aware: orders late deliveries
    external_invoice_id: str | None = None
    invoice: NormalizedInvoice | None = None  # the object as the event carried it, if any
    payment_amount: Money | None = None
    payment_external_id: str | None = None
    customer_email: str | None = None  # GDPR topics
    customer_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRegistration:
    secret: str | None  # stored encrypted by the core; None when the platform has one app secret
    external_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ConnectionContext:
    """What an adapter sees of a connection: decrypted credentials, never the ORM row."""

    id: int
    shop_id: int
    platform: str
    external_account: str
    credentials: dict[str, Any]
    webhook_secret: str | None
    api_base: str | None
    settings: dict[str, Any]
    save_credentials: Callable[[dict[str, Any]], None] = field(repr=False, default=lambda _: None)


class AdapterError(Exception):
    """Base of every error an adapter raises at its boundary."""


class AdapterAuthError(AdapterError):
    """Credentials refused (and could not be refreshed)."""


class AdapterPermissionMissing(AdapterAuthError):
    """A restricted key that works but lacks a permission the connector needs; ``permission``
    names it the way the platform's dashboard does ("Webhook Endpoints: Write")."""

    def __init__(self, message: str, permission: str) -> None:
        super().__init__(message)
        self.permission = permission


class AdapterRateLimited(AdapterError):
    """Still throttled after the adapter's own retry budget."""


class AdapterMalformedResponse(AdapterError):
    """The platform answered something we cannot read; nothing of it may be written."""


class AdapterNotFound(AdapterError):
    """The object does not exist on the platform (any more)."""


class WebhookParseError(AdapterError):
    """A verified body that is not a valid event (the intake answers 400)."""


class WebhookWrongAccount(WebhookParseError):
    """A verified body that names another account than its connection's: where every account
    shares one app secret, the signature proves who sent it, not for whom (the intake answers
    401, like a bad signature: the delivery is not this connection's)."""


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One option of ``relance connect <platform>``; the CLI builds its flags from these."""

    name: str  # e.g. "api_key" → --api-key
    help: str
    required: bool = True
    secret: bool = True  # stored encrypted in Connection.credentials
    is_account: bool = False  # its value is the connection's external account (domain, URL, acct)
    flag: str | None = None  # the CLI flag when ``--<name>`` would clash with a core option

    @property
    def cli_flag(self) -> str:
        return "--" + (self.flag or self.name).replace("_", "-")


@runtime_checkable
class PlatformAdapter(Protocol):
    platform: str
    credential_fields: tuple[CredentialField, ...]

    def sync(self, conn: ConnectionContext, cursor: str | None) -> Iterator[SyncPage]:
        """Pages of owed-or-changed invoices changed since ``cursor``, oldest first."""
        ...

    def verify_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> bool:
        """Constant-time signature check on the raw bytes, before anything parses them."""
        ...

    def parse_webhook(
        self, conn: ConnectionContext, headers: Mapping[str, str], raw_body: bytes
    ) -> NormalizedEvent:
        """A verified body → a normalized event; WebhookParseError if it cannot be read."""
        ...

    def fetch_status(self, conn: ConnectionContext, external_id: str) -> NormalizedInvoice | None:
        """One cheap call to re-check an invoice right before a reminder goes out."""
        ...

    def register_webhooks(self, conn: ConnectionContext, base_url: str) -> WebhookRegistration:
        """Subscribe the connection's webhooks; all or nothing: what this call created is
        removed again before it raises."""
        ...


@runtime_checkable
class UnregistersWebhooks(Protocol):
    """Optional: remove webhooks at the platform — a connect that fails after registering rolls
    back, and `relance connections remove` cleans up. Ids already gone are not an error."""

    def unregister_webhooks(self, conn: ConnectionContext, external_ids: Sequence[str]) -> None:
        """Delete these webhook subscriptions (ids from a WebhookRegistration)."""
        ...


@runtime_checkable
class ChecksCredentials(Protocol):
    """Optional: a cheap test call with a connection's credentials, made before anything is
    stored, so pasted keys that are wrong (or point at the wrong address) are refused with a
    clear message: AdapterAuthError / AdapterPermissionMissing (refused), AdapterNotFound (no
    such API there), any other AdapterError (unreachable, not the platform). No long retries:
    an owner is waiting."""

    def check_credentials(self, conn: ConnectionContext) -> None:
        """Raise an AdapterError saying what is wrong; return if the calls succeed."""
        ...


@runtime_checkable
class ConnectsByOAuth(Protocol):
    """Optional: an OAuth connection of another account to this deployment's platform account
    (Stripe Connect): the authorize URL, and the code exchanged for the account id."""

    def oauth_authorize_url(
        self, client_id: str, state: str, redirect_uri: str, *, connect_base: str, secret_key: str
    ) -> str:
        """The platform's page where the owner approves."""
        ...

    def oauth_exchange_code(self, code: str, *, secret_key: str, connect_base: str) -> str:
        """The account the code grants access to; AdapterAuthError if refused."""
        ...


@runtime_checkable
class ResolvesPayments(Protocol):
    """Optional: for platforms whose payment events (refunds, disputes) name a payment but not
    its invoice — Stripe since API 2025-03-31, where only InvoicePayment links the two."""

    def invoice_for_payment(self, conn: ConnectionContext, payment_external_id: str) -> str | None:
        """The external id of the invoice that payment paid, or None if it paid no invoice."""
        ...


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """A platform app's own identity (Shopify's client id and secret, its scopes), from the
    deployment's settings. ``admin_base`` replaces the platform's origin (tests, development)."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    admin_base: str | None = None


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What the platform says about the account that installed the app: a new Relance shop
    is made from it."""

    account: str  # the platform's account id (the shop's myshopify.com domain)
    name: str
    email: str
    timezone: str | None = None
    currency: str | None = None


class InstallRefused(AdapterError):
    """An install or session request that does not verify (hmac, timestamp, shop, token)."""


class SessionTokenExpired(InstallRefused):
    """A session token signed for this app that is merely stale (a reload of the admin's iframe
    keeps the URL's old token): the page can ask the platform for a fresh one."""


@runtime_checkable
class InstallsAsApp(Protocol):
    """Optional: a platform whose accounts install the app from its own admin (Shopify).

    The core keeps the one-time states, the accounts, shops and connections; the adapter knows
    the platform's URLs, signatures and token grants."""

    def account_of(self, value: str) -> str:
        """The canonical account id for a user-supplied one; InstallRefused if it is not one."""
        ...

    def verify_signed_query(
        self, app: AppCredentials, params: Mapping[str, str | list[str]], now: datetime
    ) -> str:
        """The account a signed query string (install, callback, admin load) is for, once its
        signature, timestamp and account are checked; InstallRefused otherwise."""
        ...

    def authorize_url(
        self, app: AppCredentials, account: str, redirect_uri: str, state: str
    ) -> str:
        """Where the owner approves the app's scopes."""
        ...

    def exchange_code(
        self, app: AppCredentials, account: str, code: str, now: datetime
    ) -> dict[str, Any]:
        """An authorization code → the connection's credentials (expiring offline token)."""
        ...

    def verify_session_token(self, app: AppCredentials, token: str, now: datetime) -> str:
        """The account a session token (embedded admin) is for; InstallRefused otherwise."""
        ...

    def exchange_session_token(
        self, app: AppCredentials, account: str, token: str, now: datetime
    ) -> dict[str, Any]:
        """A verified session token → the connection's credentials (token exchange)."""
        ...

    def account_profile(self, conn: ConnectionContext) -> AccountProfile:
        """The installing account's name, email, timezone and currency."""
        ...


def event_ids_span_accounts(adapter: PlatformAdapter) -> bool:
    """Whether the platform's event ids are unique across all its accounts, which an adapter
    declares with ``event_ids_span_accounts = True`` (Shopify's ``X-Shopify-Event-Id`` is, and
    every shop shares the app secret). Its deliveries are then deduplicated per platform, not per
    connection: one captured for one account and replayed to another's URL is a duplicate."""
    return getattr(adapter, "event_ids_span_accounts", False) is True


def shares_webhook_secret(adapter: PlatformAdapter) -> bool:
    """Whether every account of the platform signs its deliveries with one app secret, which an
    adapter declares with ``shared_webhook_secret = True`` (Shopify). A valid signature then
    does not bind a delivery to its connection, so no invoice is created from such a body
    alone: an order the connection has never seen is first confirmed with the platform
    (``fetch_status`` on that connection, by the worker), and only its answer is stored."""
    return getattr(adapter, "shared_webhook_secret", False) is True


def load_adapters() -> dict[str, PlatformAdapter]:
    """Every adapter registered under the entry-point group, keyed by its platform name."""
    found: dict[str, PlatformAdapter] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        factory = ep.load()
        adapter = factory() if isinstance(factory, type) or callable(factory) else factory
        found[ep.name] = adapter
    return found
