"""Stripe invoice JSON → the store's :class:`InvoiceRow` (a sync's pages:
:func:`row_from_invoice`, no object per amount or customer) or :class:`NormalizedInvoice`
(webhooks, re-checks: :func:`normalize_invoice`, the same row with the parsed customer address);
the rules live once, in :func:`_invoice_row`, the only place Stripe's minor units are read.

Works on the plain JSON dicts Stripe sends (list pages, retrieves, event snapshots of any API
version): it reads only fields present in every version since 2020 and never the ones
2025-03-31.basil removed (``paid``, ``charge``, ``payment_intent``).

``updated_at`` is the latest platform timestamp known for the state being normalized:
the latest of ``created`` and ``status_transitions.*``, and of ``observed_at`` — Stripe's clock
when it produced that state (the event's ``created`` for an event snapshot, the response's
``Date`` header for an object read from the API). The transitions alone would date a partially
paid invoice at its finalization and let an older snapshot win over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final, TypeGuard

from adapters.stripe.exceptions import NormalizationError, NotOwedYet
from connector.domain.identity import PostalAddress
from connector.domain.money import Money, UnknownCurrency, currency_scale
from connector.platform import InvoiceRow, InvoiceStatus, NormalizedInvoice

# Fields of ``components.schemas.invoice`` this module reads (the fake server's objects are checked
# against the spec for exactly these). Required ones make the object unreadable when missing.
INVOICE_REQUIRED_FIELDS: Final = (
    "id",
    "status",
    "currency",
    "total",
    "amount_paid",
    "amount_remaining",
    "created",
    "customer",
)
INVOICE_OPTIONAL_FIELDS: Final = (
    "number",
    "due_date",
    "hosted_invoice_url",
    "customer_email",
    "customer_name",
    "customer_phone",
    "customer_address",
    "customer_tax_ids",
    "collection_method",
    "status_transitions",
)
# Read too, but newer than the 2023 spec the tests check against (Accounts v2, 2025).
INVOICE_FIELDS_AFTER_2023: Final = ("customer_account",)
_REQUIRED: Final = frozenset(INVOICE_REQUIRED_FIELDS)
STATUS_TRANSITION_FIELDS: Final = (
    "finalized_at",
    "paid_at",
    "voided_at",
    "marked_uncollectible_at",
)
# Fields of ``components.schemas.customer`` read from an expanded ``invoice.customer``.
CUSTOMER_FIELDS: Final = ("id", "email", "name", "phone", "preferred_locales")

_STATUSES: Final = {
    "open": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "void": InvoiceStatus.VOID,
    "uncollectible": InvoiceStatus.UNCOLLECTIBLE,
}

# Stripe's minor unit differs from ISO 4217 for ISK: "ISK will remain a two-decimal currency in the
# Stripe API, and an ISK amount of 100 will continue to represent 1 króna" (amounts are multiples
# of 100 since 2023-04-14). Every other currency, zero-decimal ones included, matches ISO/CLDR.
_STRIPE_EXTRA_DIGITS: Final = {"ISK": 2}


def stripe_money(minor: Any, currency: str) -> Money:
    """An amount in Stripe's smallest unit → Money (JPY 1500 → 1500 JPY, EUR 1050 → 10.50 EUR)."""
    code, amount = stripe_minor(minor, currency)
    return Money.from_minor(amount, code)


def stripe_minor(minor: Any, currency: str) -> tuple[str, int]:
    """An amount in Stripe's smallest unit → (ISO code, ISO minor units): the same number but
    for ISK (Stripe's 1050 → 11 krónur)."""
    amount = _int(minor, "amount")
    iso, extra = _stripe_currency(currency)
    # Pre-2023 fractional ISK cannot be represented; round half-up to whole krónur.
    return iso, _scaled(amount, extra) if extra else amount


def from_unix(value: Any, name: str) -> datetime:
    """Unix seconds → tz-aware UTC datetime."""
    try:
        return datetime.fromtimestamp(_int(value, name), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise NormalizationError(f"{name} is not a timestamp: {value!r}") from exc


def normalize_invoice(obj: Any, *, observed_at: datetime | None = None) -> NormalizedInvoice:
    """A Stripe invoice → NormalizedInvoice; NotOwedYet (draft) or NormalizationError."""
    row, address = _invoice_row(obj, observed_at)
    return row.normalized(address)


def row_from_invoice(obj: Any, *, observed_at: datetime | None = None) -> InvoiceRow:
    """A Stripe invoice → the store's row (a sync page's hot path)."""
    return _invoice_row(obj, observed_at)[0]


def _invoice_row(obj: Any, observed_at: datetime | None) -> tuple[InvoiceRow, PostalAddress | None]:
    """The invoice's rules, once: the row and the customer address it stores as text. Values
    of the expected type are taken as they are (no Money, no customer object); any other goes
    through the checks."""
    if not _is_object(obj):
        raise NormalizationError("invoice is not an object")
    if not obj.keys() >= _REQUIRED:
        missing = [name for name in INVOICE_REQUIRED_FIELDS if name not in obj]
        raise NormalizationError(f"invoice {obj.get('id')!r} lacks {', '.join(missing)}")
    invoice_id = obj["id"]
    if type(invoice_id) is not str or not invoice_id:
        invoice_id = _str(invoice_id, "id")
    raw_status = obj["status"]
    if raw_status == "draft":
        raise NotOwedYet(f"invoice {invoice_id} is a draft")
    status = _STATUSES.get(raw_status)
    if status is None:
        raise NormalizationError(f"invoice {invoice_id}: unknown status {raw_status!r}")
    currency = obj["currency"]
    if type(currency) is not str or not currency:
        currency = _str(currency, "currency")
    total, remaining, paid = obj["total"], obj["amount_remaining"], obj["amount_paid"]
    if type(total) is not int:
        total = _int(total, "amount")
    code, extra = _stripe_currency(currency)
    if type(remaining) is not int:
        remaining = _int(remaining, "amount")
    if type(paid) is not int:
        paid = _int(paid, "amount_paid")
    if extra:
        total, remaining, paid = (
            _scaled(total, extra),
            _scaled(remaining, extra),
            _scaled(paid, extra),
        )
    if status is InvoiceStatus.OPEN and remaining > 0 and paid > 0:
        status = InvoiceStatus.PARTIALLY_PAID
    created = from_unix(obj["created"], "created")
    due = obj.get("due_date")
    number = obj.get("number")
    url = obj.get("hosted_invoice_url")
    if type(number) is not str or not number:
        number = _opt_str(number, "number")
    customer_id, email, name, phone, locale, is_b2b, address = _customer_parts(obj)
    row = InvoiceRow(
        invoice_id,
        number or invoice_id,
        code,
        total,
        remaining,
        status,
        created,
        None if due is None else from_unix(due, "due_date"),
        _updated_at(obj, created, observed_at),
        url if type(url) is str and url else _opt_str(url, "hosted_invoice_url"),
        customer_id,
        email,
        name,
        None,
        phone,
        locale,
        is_b2b,
        None if address is None else address.text(),
    )
    return row, address


@lru_cache(maxsize=256)
def _stripe_currency(currency: str) -> tuple[str, int]:
    """A Stripe currency → (ISO code, Stripe's extra digits): ``stripe_minor``'s, remembered
    (a page has one or two); unknown ones raise, and are not remembered."""
    try:
        code = currency.upper()
        return currency_scale(code)[0], _STRIPE_EXTRA_DIGITS.get(code, 0)
    except (UnknownCurrency, AttributeError) as exc:
        raise NormalizationError(f"unknown currency {currency!r}") from exc


def _scaled(amount: int, extra: int) -> int:
    """Stripe's minor units with ``extra`` digits → ISO ones, half-up (ISK 1050 → 11)."""
    return int(Decimal(amount).scaleb(-extra).to_integral_value(rounding=ROUND_HALF_UP))


def is_send_invoice(obj: Mapping[str, Any]) -> bool:
    """Only ``collection_method=send_invoice`` invoices are dunned by us."""
    return obj.get("collection_method") == "send_invoice"


def reduce_locale(tag: Any) -> str | None:
    """A BCP 47 tag ("fr-FR", "en_GB", "de") → its language ("fr"); None when it is not one."""
    if not isinstance(tag, str):
        return None
    language = tag.replace("_", "-").split("-", 1)[0].strip().lower()
    return language if 2 <= len(language) <= 3 and language.isalpha() else None


_CustomerParts = tuple[
    str, str | None, str | None, str | None, str | None, bool | None, PostalAddress | None
]


def _customer_parts(obj: Mapping[str, Any]) -> _CustomerParts:
    """(id, email, name, phone, locale, is_b2b, address) of the invoice's customer."""
    raw = obj["customer"]
    expanded: Mapping[str, Any] = {}
    if _is_object(raw):  # expanded (list/retrieve with expand=customer)
        expanded = {} if raw.get("deleted") else raw
        customer_id = _str(raw.get("id"), "customer.id")
    elif isinstance(raw, str) and raw:
        customer_id = raw
    elif raw is None and isinstance(obj.get("customer_account"), str):
        customer_id = obj["customer_account"]  # Accounts v2 customers (2025+)
    else:
        raise NormalizationError(f"invoice {obj.get('id')!r} has no customer")
    tax_ids = obj.get("customer_tax_ids")
    # Frozen on the invoice at finalization (what the invoice was sent to); else the customer's.
    email = _opt_str(obj.get("customer_email"), "customer_email")
    name = _opt_str(obj.get("customer_name"), "customer_name")
    phone = _opt_str(obj.get("customer_phone"), "customer_phone")
    # Frozen on the invoice like the email; else the customer's own.
    address = _address(obj.get("customer_address"), "customer_address")
    locale = None
    if expanded:  # a list page names the customer by id: nothing more to look at
        email = email or _opt_str(expanded.get("email"), "customer.email")
        name = name or _opt_str(expanded.get("name"), "customer.name")
        phone = phone or _opt_str(expanded.get("phone"), "customer.phone")
        address = address or _address(expanded.get("address"), "customer.address")
        locales = expanded.get("preferred_locales")
        locale = reduce_locale(locales[0]) if isinstance(locales, list) and locales else None
    # A tax id (VAT number…) on the invoice marks a business; otherwise the shop's default.
    is_b2b = True if isinstance(tax_ids, list) and tax_ids else None
    return customer_id, email, name, phone, locale, is_b2b, address


def _address(raw: Any, name: str) -> PostalAddress | None:
    """A Stripe Address object (line1, line2, postal_code, city, state, country)."""
    if raw is None:
        return None
    if not _is_object(raw):
        raise NormalizationError(f"{name} is not an object")
    address = PostalAddress(
        line1=_opt_str(raw.get("line1"), f"{name}.line1"),
        line2=_opt_str(raw.get("line2"), f"{name}.line2"),
        postal_code=_opt_str(raw.get("postal_code"), f"{name}.postal_code"),
        city=_opt_str(raw.get("city"), f"{name}.city"),
        country=_opt_str(raw.get("country"), f"{name}.country"),
    )
    return address if address.text() else None


def _updated_at(
    obj: Mapping[str, Any], created: datetime, observed_at: datetime | None
) -> datetime:
    """The latest of ``created``, the status transitions and ``observed_at``; every transition
    is checked as a timestamp (one equal to ``created`` needs no second conversion)."""
    latest = created
    transitions = obj.get("status_transitions")
    if _is_object(transitions):
        created_s = obj["created"]  # an int: from_unix checked it
        for name in STATUS_TRANSITION_FIELDS:
            value = transitions.get(name)
            if value is None or (value == created_s and type(value) is int):
                continue  # the same instant as ``created`` (finalized on creation)
            moment = from_unix(value, f"status_transitions.{name}")
            if moment > latest:
                latest = moment
    if observed_at is not None and observed_at > latest:
        latest = observed_at
    return latest


def _is_object(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object (a dict as json.loads makes them, or any Mapping)."""
    return type(value) is dict or isinstance(value, Mapping)


def _int(value: Any, name: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise NormalizationError(f"{name} is not an integer: {value!r}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise NormalizationError(f"{name} is not a string: {value!r}")
    return value


def _opt_str(value: Any, name: str) -> str | None:
    if type(value) is str and value:
        return value
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise NormalizationError(f"{name} is not a string: {value!r}")
    return value
