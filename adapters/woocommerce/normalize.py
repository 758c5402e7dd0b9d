"""WooCommerce order JSON (REST wc/v3, also every order.* webhook body) → the store's
InvoiceRow (:func:`row_from_order`, a sync page's hot path: integer minor units, no object per
amount or customer) or NormalizedInvoice (:func:`normalize_order`: the same row with the parsed
billing address; webhooks, ``fetch_status``). The rules live once, in :func:`_order_row`.

Pure functions, no I/O; the only place WooCommerce's decimal strings are read. Anything
that does not have the shape of an order raises :class:`NormalizationError`; callers map it to
AdapterMalformedResponse (sync, fetch_status) or WebhookParseError (webhooks).

Decisions:

- ``external_id`` is the order id; ``number`` is ``number`` (sequential-number plugins change
  it), else the id.
- Status: pending / on-hold / failed → OPEN (failed: the customer can pay it again through the
  order-pay page); processing / completed → PAID (cash on delivery included: the carrier
  collects); cancelled and trash → VOID; refunded → REFUNDED. Any other status (a plugin's
  custom status, ``checkout-draft``) → PAID when ``date_paid_gmt`` is set, else
  :class:`UnknownStatus` (sync skips such an order, webhooks ignore it).
- Amounts: ``total`` is a decimal string in the order currency. For an owed order
  ``amount_due = total − Σ |refunds[].total|`` (refund totals are negative strings); nothing left
  → REFUNDED. A closed order owes 0.
- ``due_at``: None (the core applies the shop's payment terms) unless the order meta carries a
  due date (``settings.DUE_DATE_META_KEYS``, ISO date/date-time or Unix seconds).
- Customer from ``billing``: registered customers by ``customer_id``, guests by e-mail, else by
  order; ``is_b2b`` True only with a VAT number in the meta (a company name alone proves
  nothing), else None (the shop's default); ``locale`` None (WooCommerce keeps none per order).
- Dates: the ``*_gmt`` fields, which carry no offset and are UTC; made tz-aware.
- ``payment_url``: the order-pay page for statuses that can take a payment online.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.woocommerce import settings
from adapters.woocommerce.exceptions import NormalizationError, UnknownStatus
from connector.domain.identity import PostalAddress
from connector.domain.money import Money, parse_minor
from connector.platform import InvoiceRow, InvoiceStatus, NormalizedInvoice

# Fields this module reads; required ones make the order unreadable when missing.
ORDER_REQUIRED_FIELDS = (
    "id",
    "status",
    "currency",
    "total",
    "date_created_gmt",
    "date_modified_gmt",
)
ORDER_OPTIONAL_FIELDS = (
    "number",
    "order_key",
    "payment_method",
    "customer_id",
    "billing",
    "date_paid_gmt",
    "refunds",
    "meta_data",
    "transaction_id",
)

_STATUSES: dict[str, InvoiceStatus] = {
    "pending": InvoiceStatus.OPEN,
    "on-hold": InvoiceStatus.OPEN,
    "failed": InvoiceStatus.OPEN,
    "processing": InvoiceStatus.PAID,
    "completed": InvoiceStatus.PAID,
    "cancelled": InvoiceStatus.VOID,
    "trash": InvoiceStatus.VOID,
    "refunded": InvoiceStatus.REFUNDED,
}


def order_id(value: Any) -> int:
    """An order id: a positive integer (JSON number, or digits in a string)."""
    if isinstance(value, bool):
        raise NormalizationError(f"id is not an integer: {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    raise NormalizationError(f"id is not an order id: {value!r}")


def parse_gmt(value: Any, name: str) -> datetime:
    """``2017-03-22T19:28:02`` (a ``*_gmt`` field: UTC without offset) → aware UTC datetime.
    A value with an offset keeps its instant."""
    if not isinstance(value, str) or not value:
        raise NormalizationError(f"{name} is not a date: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise NormalizationError(f"{name} is not ISO 8601: {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def is_tracked(order: Mapping[str, Any]) -> bool:
    """Paid outside the shop (bank transfer, cheque, cash) or not paid through any gateway yet."""
    method = order.get("payment_method")
    return (method or "") in settings.OFFLINE_PAYMENT_METHODS


def raw_status(order: Mapping[str, Any]) -> str:
    status = order.get("status")
    if not isinstance(status, str) or not status:
        raise NormalizationError(f"order {order.get('id')!r}: status is not a string: {status!r}")
    return status


def normalize_order(obj: Any, *, site_url: str, checkout_path: str) -> NormalizedInvoice:
    """One order → NormalizedInvoice; UnknownStatus or NormalizationError."""
    row, address = _order_row(obj, site_url, checkout_path)
    return row.normalized(address)


def row_from_order(obj: Any, *, site_url: str, checkout_path: str) -> InvoiceRow:
    """One order → the store's row; UnknownStatus or NormalizationError."""
    return _order_row(obj, site_url, checkout_path)[0]


def _order_row(obj: Any, site_url: str, checkout_path: str) -> tuple[InvoiceRow, PostalAddress]:
    """The order's rules, once: the row and the billing address it stores as text."""
    if not isinstance(obj, Mapping):
        raise NormalizationError("order is not an object")
    missing = [name for name in ORDER_REQUIRED_FIELDS if name not in obj]
    if missing:
        raise NormalizationError(f"order {obj.get('id')!r} lacks {', '.join(missing)}")
    oid = order_id(obj["id"])
    status_name = raw_status(obj)
    currency = _str(obj["currency"], "currency")
    code, total = _minor(obj["total"], currency, "total")
    paid_at = _opt_gmt(obj.get("date_paid_gmt"), "date_paid_gmt")
    status = _STATUSES.get(status_name)
    if status is None:
        if paid_at is None:
            raise UnknownStatus(f"order {oid}: unknown status {status_name!r}")
        status = InvoiceStatus.PAID
    refunded = _refunded_minor(obj.get("refunds"), currency)
    amount_due = 0
    if status.is_owed:
        amount_due = total - refunded
        if amount_due <= 0:
            status, amount_due = InvoiceStatus.REFUNDED, 0
    meta = _meta(obj.get("meta_data"))
    order_key = _opt_str(obj.get("order_key"), "order_key")
    payment_url = None
    if status_name in settings.PAYABLE_STATUSES and status.is_owed and order_key:
        payment_url = order_pay_url(site_url, checkout_path, oid, order_key)
    number = _opt_str(obj.get("number"), "number") or str(oid)
    customer_id, email, name, company, phone, is_b2b, address = _customer_parts(obj, oid, meta)
    row = InvoiceRow(
        str(oid),
        number,
        code,
        total,
        amount_due,
        status,
        parse_gmt(obj["date_created_gmt"], "date_created_gmt"),
        _due_at(meta),
        parse_gmt(obj["date_modified_gmt"], "date_modified_gmt"),
        payment_url,
        customer_id,
        email,
        name,
        company,
        phone,
        None,
        is_b2b,
        address.text(),
    )
    return row, address


def order_pay_url(site_url: str, checkout_path: str, oid: int, order_key: str) -> str:
    """``{site}/checkout/order-pay/{id}/?pay_for_order=true&key={order_key}`` (WooCommerce's
    ``WC_Order::get_checkout_payment_url`` with pretty permalinks)."""
    path = "/" + checkout_path.strip("/") + "/"
    return f"{site_url.rstrip('/')}{path}order-pay/{oid}/?pay_for_order=true&key={order_key}"


def wc_money(amount: Any, currency: str, name: str = "amount") -> Money:
    """A WooCommerce decimal string ("29.35", "1500") → Money; never through float."""
    return _money(amount, currency, name)


# -- helpers ----------------------------------------------------------------------------------


def _money(amount: Any, currency: Any, name: str) -> Money:
    code, minor = _minor(amount, currency, name)
    return Money.from_minor(minor, code)


def _minor(amount: Any, currency: Any, name: str) -> tuple[str, int]:
    """A WooCommerce amount checked for its currency, as (ISO code, minor units)."""
    if isinstance(amount, bool) or not isinstance(amount, str | int):
        raise NormalizationError(f"{name} is not a decimal string: {amount!r}")
    if not isinstance(currency, str):
        raise NormalizationError(f"currency is not a string: {currency!r}")
    try:
        return parse_minor(amount, currency)
    except ValueError as exc:  # UnknownCurrency is a ValueError too
        raise NormalizationError(f"{name}: {exc}") from exc


def _refunded_minor(refunds: Any, currency: str) -> int:
    """Σ |refunds[].total| in minor units (WooCommerce lists refund totals as negative
    strings)."""
    total = 0
    if refunds is None:
        return total
    if not isinstance(refunds, list):
        raise NormalizationError("refunds is not a list")
    for refund in refunds:
        if not isinstance(refund, Mapping):
            raise NormalizationError("refund is not an object")
        total += abs(_minor(refund.get("total"), currency, "refunds.total")[1])
    return total


def _meta(meta_data: Any) -> dict[str, Any]:
    if meta_data is None:
        return {}
    if not isinstance(meta_data, list):
        raise NormalizationError("meta_data is not a list")
    found: dict[str, Any] = {}
    for item in meta_data:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            found.setdefault(item["key"], item.get("value"))
    return found


def _due_at(meta: Mapping[str, Any]) -> datetime | None:
    """The first readable due date in the meta; free-form meta that does not parse is ignored."""
    for key in settings.DUE_DATE_META_KEYS:
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if text.isdigit():
                return datetime.fromtimestamp(int(text), tz=UTC)
            try:
                return parse_gmt(text, key)
            except NormalizationError:
                continue
    return None


_CustomerParts = tuple[
    str, str | None, str | None, str | None, str | None, bool | None, PostalAddress
]


def _customer_parts(obj: Mapping[str, Any], oid: int, meta: Mapping[str, Any]) -> _CustomerParts:
    """(external id, email, name, company, phone, is_b2b, address) of the order's customer."""
    billing = obj.get("billing") or {}
    if not isinstance(billing, Mapping):
        raise NormalizationError(f"order {oid}: billing is not an object")
    email = _opt_str(billing.get("email"), "billing.email")
    customer_id = obj.get("customer_id")
    if isinstance(customer_id, int) and not isinstance(customer_id, bool) and customer_id > 0:
        external_id = str(customer_id)
    elif email:
        external_id = f"email:{email.strip().lower()}"
    else:
        external_id = f"order:{oid}"
    name = " ".join(
        part
        for part in (
            _opt_str(billing.get("first_name"), "billing.first_name"),
            _opt_str(billing.get("last_name"), "billing.last_name"),
        )
        if part
    )
    vat = any(isinstance(meta.get(k), str) and meta[k].strip() for k in settings.VAT_META_KEYS)
    company = _opt_str(billing.get("company"), "billing.company")
    phone = _opt_str(billing.get("phone"), "billing.phone")
    address = PostalAddress(
        line1=_opt_str(billing.get("address_1"), "billing.address_1"),
        line2=_opt_str(billing.get("address_2"), "billing.address_2"),
        postal_code=_opt_str(billing.get("postcode"), "billing.postcode"),
        city=_opt_str(billing.get("city"), "billing.city"),
        country=_opt_str(billing.get("country"), "billing.country"),
    )
    return external_id, email, name or None, company, phone, True if vat else None, address


def _opt_gmt(value: Any, name: str) -> datetime | None:
    return None if value is None or value == "" else parse_gmt(value, name)


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise NormalizationError(f"{name} is not a string: {value!r}")
    return value


def _opt_str(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise NormalizationError(f"{name} is not a string: {value!r}")
    return value
