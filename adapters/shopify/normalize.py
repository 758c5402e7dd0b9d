"""Shopify orders (GraphQL nodes and REST webhook bodies) -> the core's NormalizedInvoice. A
GraphQL node's rules live once, in :func:`_graphql_row`: the store's InvoiceRow (a sync page's
hot path, integer minor units, no object per amount or customer) and the parsed billing address;
:func:`invoice_from_graphql` is that row made a NormalizedInvoice with the address.

Pure functions, no I/O. Anything that does not have the expected shape raises
:class:`MalformedOrder`; callers map it to AdapterMalformedResponse (sync) or WebhookParseError
(webhooks).

Decisions:

- ``external_id`` is the numeric order id (``legacyResourceId``, REST ``id``), the one id both
  GraphQL and the REST webhook bodies carry reliably (the 2025 canned webhook shows an
  ``admin_graphql_api_id`` that does not match its ``id``).
- Money is the shop currency (``shopMoney``, REST ``shop_money`` / ``total_outstanding``).
- Owed = displayFinancialStatus PENDING / PARTIALLY_PAID (with or without payment terms; without
  them ``due_at`` is None and the core applies the shop's terms) and AUTHORIZED *with* payment
  terms. AUTHORIZED without terms is a card hold the merchant captures: nothing for the customer
  to pay, so sync leaves it out (:func:`is_tracked`).
- Cancelled -> VOID whatever the financial status; PAID and PARTIALLY_REFUNDED -> PAID;
  REFUNDED -> REFUNDED; VOIDED and EXPIRED (authorization lapsed) -> VOID; an "owed" status with
  nothing outstanding -> PAID. A status that is not owed has ``amount_due`` 0.
- Timestamps keep their instant and are converted to UTC; a timestamp without offset is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connector.domain.identity import PostalAddress
from connector.domain.money import Money, parse_minor
from connector.platform import InvoiceRow, InvoiceStatus, NormalizedCustomer, NormalizedInvoice

#: The displayFinancialStatus values of an order that may be owed (what a first sync asks for).
OWED_FINANCIAL_STATUSES = ("PENDING", "PARTIALLY_PAID", "AUTHORIZED")
_KNOWN_FINANCIAL = frozenset(
    {
        "AUTHORIZED",
        "EXPIRED",
        "PAID",
        "PARTIALLY_PAID",
        "PARTIALLY_REFUNDED",
        "PENDING",
        "REFUNDED",
        "VOIDED",
    }
)


_EXCESS_FRACTION = re.compile(r"(\.\d{6})\d+")


class MalformedOrder(ValueError):
    """The object does not have the shape of a Shopify order."""


# --- small readers ---------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], key: str) -> Any:
    if not isinstance(obj, Mapping):
        raise MalformedOrder(f"expected an object holding {key!r}, got {type(obj).__name__}")
    if key not in obj:
        raise MalformedOrder(f"missing field {key!r}")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = _get(obj, key)
    if not isinstance(value, str) or not value:
        raise MalformedOrder(f"field {key!r} is not a non-empty string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedOrder(f"field {key!r} is not a string")
    return value


def _opt_obj(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MalformedOrder(f"field {key!r} is not an object")
    return value


def parse_timestamp(value: Any, field: str = "timestamp") -> datetime:
    """ISO 8601 with an offset (Shopify's shop-local ``-05:00`` or ``Z``) -> aware UTC."""
    if not isinstance(value, str):
        raise MalformedOrder(f"{field} is not a string")
    try:
        # X-Shopify-Triggered-At carries nanoseconds; datetime keeps microseconds.
        parsed = datetime.fromisoformat(_EXCESS_FRACTION.sub(r"\1", value.strip()))
    except ValueError as exc:
        raise MalformedOrder(f"{field} is not ISO 8601: {value!r}") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise MalformedOrder(f"{field} has no UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def _opt_timestamp(obj: Mapping[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    return None if value is None else parse_timestamp(value, key)


def _money(amount: Any, currency: Any) -> Money:
    code, minor = _minor(amount, currency)
    return Money.from_minor(minor, code)


def _minor(amount: Any, currency: Any) -> tuple[str, int]:
    """A Shopify amount checked for its currency, as (ISO code, minor units)."""
    if not isinstance(amount, str | int) or isinstance(amount, bool):
        raise MalformedOrder(f"amount is not a decimal string: {amount!r}")
    if not isinstance(currency, str):
        raise MalformedOrder(f"currency is not a string: {currency!r}")
    try:
        return parse_minor(amount, currency)
    except ValueError as exc:  # UnknownCurrency is a ValueError too
        raise MalformedOrder(str(exc)) from exc


def legacy_id(gid_or_id: Any) -> str:
    """``gid://shopify/Order/123`` or ``123`` -> ``"123"``."""
    if isinstance(gid_or_id, int) and not isinstance(gid_or_id, bool):
        return str(gid_or_id)
    if not isinstance(gid_or_id, str) or not gid_or_id:
        raise MalformedOrder(f"not an id: {gid_or_id!r}")
    tail = gid_or_id.rsplit("/", 1)[-1].split("?", 1)[0]
    if not tail.isdigit():
        raise MalformedOrder(f"not a Shopify id: {gid_or_id!r}")
    return tail


def _locale(value: str | None) -> str | None:
    """``fr-FR`` / ``fr`` -> ``fr``."""
    if not value:
        return None
    primary = value.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary or None


# --- status ----------------------------------------------------------------------------------


def financial_status(value: Any) -> str | None:
    """Upper-cased displayFinancialStatus (REST ``financial_status`` is lower-case)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedOrder(f"financial status is not a string: {value!r}")
    upper = value.upper()
    if upper not in _KNOWN_FINANCIAL:
        raise MalformedOrder(f"unknown financial status {value!r}")
    return upper


def is_tracked(financial: str | None, has_terms: bool) -> bool:
    """Whether sync reports the order at all (see module docstring on AUTHORIZED)."""
    return not (financial == "AUTHORIZED" and not has_terms)


def invoice_status(financial: str | None, cancelled: bool, outstanding: Money) -> InvoiceStatus:
    """The core's status for a Shopify order."""
    return _status(financial, cancelled, outstanding.is_positive())


def _status(financial: str | None, cancelled: bool, outstanding: bool) -> InvoiceStatus:
    """``invoice_status`` on whether anything is outstanding."""
    if cancelled:
        return InvoiceStatus.VOID
    if financial in ("PAID", "PARTIALLY_REFUNDED"):
        return InvoiceStatus.PAID
    if financial == "REFUNDED":
        return InvoiceStatus.REFUNDED
    if financial in ("VOIDED", "EXPIRED"):
        return InvoiceStatus.VOID
    # PENDING, AUTHORIZED, PARTIALLY_PAID or none: owed while something is outstanding.
    if not outstanding:
        return InvoiceStatus.PAID
    if financial == "PARTIALLY_PAID":
        return InvoiceStatus.PARTIALLY_PAID
    return InvoiceStatus.OPEN


def _due_and_issued(
    schedules: list[Mapping[str, Any]],
) -> tuple[datetime | None, datetime | None]:
    """Due: the earliest schedule not completed (else the latest); issued: the earliest."""
    open_due: list[datetime] = []
    all_due: list[datetime] = []
    issued: list[datetime] = []
    for schedule in schedules:
        if not isinstance(schedule, Mapping):
            raise MalformedOrder("payment schedule is not an object")
        due = _opt_timestamp(schedule, "dueAt") or _opt_timestamp(schedule, "due_at")
        done = _opt_timestamp(schedule, "completedAt") or _opt_timestamp(schedule, "completed_at")
        when = _opt_timestamp(schedule, "issuedAt") or _opt_timestamp(schedule, "issued_at")
        if due is not None:
            all_due.append(due)
            if done is None:
                open_due.append(due)
        if when is not None:
            issued.append(when)
    due_at = min(open_due) if open_due else (max(all_due) if all_due else None)
    return due_at, (min(issued) if issued else None)


def _customer(
    *,
    order_id: str,
    customer_id: str | None,
    email: str | None,
    name: str | None,
    company: str | None,
    phone: str | None,
    locale: str | None,
    is_b2b: bool | None,
    postal_address: PostalAddress | None = None,
) -> NormalizedCustomer:
    return NormalizedCustomer(
        external_id=_customer_key(order_id, customer_id, email),
        email=email,
        name=name,
        company=company,
        phone=phone,
        locale=locale,
        is_b2b=is_b2b,
        postal_address=postal_address,
    )


def _customer_key(order_id: str, customer_id: str | None, email: str | None) -> str:
    """Guests (no customer record) are keyed by e-mail, else by order."""
    if customer_id is not None:
        return customer_id
    if email:
        return f"email:{email.strip().lower()}"
    return f"order:{order_id}"


def _address(bag: Any, *, zip_key: str, country_keys: tuple[str, ...]) -> PostalAddress | None:
    """A Shopify MailingAddress (GraphQL ``billingAddress``, REST ``billing_address``)."""
    if bag is None:
        return None
    country = next((c for key in country_keys if (c := _opt_str(bag, key))), None)
    return PostalAddress(
        line1=_opt_str(bag, "address1"),
        line2=_opt_str(bag, "address2"),
        postal_code=_opt_str(bag, zip_key),
        city=_opt_str(bag, "city"),
        country=country,
    )


def _full_name(first: str | None, last: str | None) -> str | None:
    joined = " ".join(part for part in (first, last) if part)
    return joined or None


# --- GraphQL ---------------------------------------------------------------------------------


def _shop_minor(bag: Any, field: str) -> tuple[str, int]:
    if not isinstance(bag, Mapping):
        raise MalformedOrder(f"{field} is not a MoneyBag")
    shop = _get(bag, "shopMoney")
    return _minor(_get(shop, "amount"), _get(shop, "currencyCode"))


def graphql_has_terms(node: Mapping[str, Any]) -> bool:
    return node.get("paymentTerms") is not None


def invoice_from_graphql(node: Any) -> NormalizedInvoice:
    """One ``RelanceOrder`` fragment -> NormalizedInvoice: the sync's row, with the billing
    address parsed (webhooks' re-checks, ``fetch_status``)."""
    row, address = _graphql_row(node)
    return row.normalized(address)


def row_from_graphql(node: Any) -> InvoiceRow:
    """One ``RelanceOrder`` fragment -> the store's row (a sync page's hot path)."""
    return _graphql_row(node)[0]


def _graphql_row(node: Any) -> tuple[InvoiceRow, PostalAddress | None]:
    """The order's rules, once: the row and the billing address it stores as text."""
    if not isinstance(node, Mapping):
        raise MalformedOrder("order node is not an object")
    order_id = legacy_id(_get(node, "legacyResourceId"))
    currency, total = _shop_minor(_get(node, "currentTotalPriceSet"), "currentTotalPriceSet")
    code, outstanding = _shop_minor(_get(node, "totalOutstandingSet"), "totalOutstandingSet")
    if code != currency:
        raise MalformedOrder("outstanding and total are in different currencies")
    financial = financial_status(_get(node, "displayFinancialStatus"))
    cancelled = _opt_timestamp(node, "cancelledAt") is not None
    status = _status(financial, cancelled, outstanding > 0)

    schedules: list[Mapping[str, Any]] = []
    terms = _opt_obj(node, "paymentTerms")
    if terms is not None:
        nodes = _get(_get(terms, "paymentSchedules"), "nodes")
        if not isinstance(nodes, list):
            raise MalformedOrder("paymentSchedules.nodes is not a list")
        schedules = nodes
    due_at, schedule_issued = _due_and_issued(schedules)
    created = parse_timestamp(_get(node, "createdAt"), "createdAt")
    processed = _opt_timestamp(node, "processedAt")

    customer = _opt_obj(node, "customer")
    entity = _opt_obj(node, "purchasingEntity")
    billing = _opt_obj(node, "billingAddress")
    company_name: str | None = None
    is_b2b: bool | None = None
    if entity is not None and entity.get("__typename") == "PurchasingCompany":
        is_b2b = True
        company = _opt_obj(entity, "company")
        company_name = _opt_str(company, "name") if company else None
    if company_name is None and billing is not None:
        company_name = _opt_str(billing, "company")
    email = _opt_str(node, "email")
    phone = _opt_str(node, "phone")
    name: str | None = None
    customer_id: str | None = None
    locale = _opt_str(node, "customerLocale")
    if customer is not None:
        customer_id = legacy_id(_get(customer, "id"))
        email_obj = _opt_obj(customer, "defaultEmailAddress")
        phone_obj = _opt_obj(customer, "defaultPhoneNumber")
        email = email or (_opt_str(email_obj, "emailAddress") if email_obj else None)
        phone = phone or (_opt_str(phone_obj, "phoneNumber") if phone_obj else None)
        name = _opt_str(customer, "displayName") or _full_name(
            _opt_str(customer, "firstName"), _opt_str(customer, "lastName")
        )
        locale = locale or _opt_str(customer, "locale")

    number = _str(node, "name")
    address = _address(billing, zip_key="zip", country_keys=("countryCodeV2",))
    row = InvoiceRow(
        order_id,
        number,
        currency,
        total,
        outstanding if status.is_owed else 0,
        status,
        schedule_issued or processed or created,
        due_at,
        parse_timestamp(_get(node, "updatedAt"), "updatedAt"),
        _opt_str(node, "statusPageUrl"),
        _customer_key(order_id, customer_id, email),
        email,
        name,
        company_name,
        phone,
        _locale(locale),
        is_b2b,
        None if address is None else address.text(),
    )
    return row, address


# --- REST (webhook bodies) -------------------------------------------------------------------


def _rest_shop_money(body: Mapping[str, Any]) -> Money:
    for key in ("current_total_price_set", "total_price_set"):
        bag = _opt_obj(body, key)
        if bag is not None:
            shop = _get(bag, "shop_money")
            return _money(_get(shop, "amount"), _get(shop, "currency_code"))
    return _money(_get(body, "total_price"), _get(body, "currency"))


def rest_has_terms(body: Mapping[str, Any]) -> bool:
    return body.get("payment_terms") is not None


def invoice_from_rest(body: Any) -> NormalizedInvoice:
    """A REST Order resource (orders/* webhook body) -> NormalizedInvoice.

    ``total_outstanding`` (shop currency) is in every body of API 2023-07 and later; the 2019
    canned body lacks it, in which case an owed status falls back to the full total.
    """
    if not isinstance(body, Mapping):
        raise MalformedOrder("order body is not an object")
    order_id = legacy_id(_get(body, "id"))
    total = _rest_shop_money(body)
    financial = financial_status(body.get("financial_status"))
    cancelled = _opt_timestamp(body, "cancelled_at") is not None
    raw_outstanding = body.get("total_outstanding")
    outstanding = total if raw_outstanding is None else _money(raw_outstanding, total.currency)
    status = invoice_status(financial, cancelled, outstanding)

    schedules: list[Mapping[str, Any]] = []
    terms = _opt_obj(body, "payment_terms")
    if terms is not None:
        raw = terms.get("payment_schedules") or []
        if not isinstance(raw, list):
            raise MalformedOrder("payment_schedules is not a list")
        schedules = raw
    due_at, schedule_issued = _due_and_issued(schedules)
    created = parse_timestamp(_get(body, "created_at"), "created_at")
    processed = _opt_timestamp(body, "processed_at")

    customer = _opt_obj(body, "customer")
    billing = _opt_obj(body, "billing_address")
    email = _opt_str(body, "email") or _opt_str(body, "contact_email")
    phone = _opt_str(body, "phone")
    name: str | None = None
    customer_id: str | None = None
    company_name = _opt_str(billing, "company") if billing else None
    if customer is not None:
        customer_id = legacy_id(_get(customer, "id"))
        email = email or _opt_str(customer, "email")
        phone = phone or _opt_str(customer, "phone")
        name = _full_name(_opt_str(customer, "first_name"), _opt_str(customer, "last_name"))
    is_b2b = True if body.get("company") else None

    return NormalizedInvoice(
        external_id=order_id,
        number=_str(body, "name"),
        customer=_customer(
            order_id=order_id,
            customer_id=customer_id,
            email=email,
            name=name,
            company=company_name,
            phone=phone,
            locale=_locale(_opt_str(body, "customer_locale")),
            is_b2b=is_b2b,
            postal_address=_address(
                billing, zip_key="zip", country_keys=("country_code", "country")
            ),
        ),
        total=total,
        amount_due=outstanding if status.is_owed else Money.zero(total.currency),
        status=status,
        issued_at=schedule_issued or processed or created,
        due_at=due_at,
        updated_at=parse_timestamp(_get(body, "updated_at"), "updated_at"),
        payment_url=_opt_str(body, "order_status_url"),
    )


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


__all__ = [
    "OWED_FINANCIAL_STATUSES",
    "MalformedOrder",
    "financial_status",
    "graphql_has_terms",
    "invoice_from_graphql",
    "invoice_from_rest",
    "invoice_status",
    "is_tracked",
    "legacy_id",
    "parse_timestamp",
    "rest_has_terms",
    "utc_now",
]
