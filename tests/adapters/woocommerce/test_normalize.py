"""Normalization of WooCommerce's own documented order (tests/fixtures/woocommerce) and
variations of it: statuses, amounts, dates, customer, payment link."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.woocommerce.exceptions import NormalizationError, UnknownStatus
from adapters.woocommerce.normalize import is_tracked, normalize_order
from connector.platform import InvoiceStatus
from tests.support.fake_woocommerce import ORDER_FIXTURE

FIXTURE = ORDER_FIXTURE.parent
SITE = "https://shop.example"


@pytest.fixture
def order() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "woocommerce_order_v3.json").read_text())
    return data


def norm(obj: dict[str, Any], checkout: str = "/checkout/") -> Any:
    return normalize_order(obj, site_url=SITE, checkout_path=checkout)


def test_the_documented_order(order: dict[str, Any]) -> None:
    assert (FIXTURE / "woocommerce_order_v3.source.txt").read_text().startswith("Source:")
    inv = norm(order)
    assert inv.external_id == "727" and inv.number == "727"
    assert inv.status is InvoiceStatus.PAID  # processing, paid by bank transfer on 2017-03-22
    assert inv.total.amount == Decimal("29.35") and inv.total.currency == "USD"
    assert isinstance(inv.total.amount, Decimal)
    assert inv.amount_due.amount == 0
    # the *_gmt fields (UTC, no offset), not the shop-local ones three hours earlier
    assert inv.issued_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert inv.updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert inv.due_at is None
    assert inv.payment_url is None
    c = inv.customer
    assert c.external_id == "email:john.doe@example.com"  # a guest (customer_id 0)
    assert (c.email, c.name, c.phone) == ("john.doe@example.com", "John Doe", "(555) 555-5555")
    assert c.company is None and c.is_b2b is None and c.locale is None
    assert c.postal_address is not None  # the billing address, state left out of the block
    assert c.postal_address.text() == "969 Market\n94103 San Francisco\nUS"
    assert is_tracked(order)


def test_an_owed_pending_order_has_the_order_pay_link(order: dict[str, Any]) -> None:
    order.update(status="pending", date_paid=None, date_paid_gmt=None, customer_id=12)
    inv = norm(order)
    assert inv.status is InvoiceStatus.OPEN
    assert inv.amount_due == inv.total
    assert inv.customer.external_id == "12"
    assert inv.payment_url == (
        "https://shop.example/checkout/order-pay/727/?pay_for_order=true&key=wc_order_58d2d042d1d"
    )
    assert norm(order, "/commande").payment_url == (
        "https://shop.example/commande/order-pay/727/?pay_for_order=true&key=wc_order_58d2d042d1d"
    )


def test_on_hold_is_owed_without_an_online_link(order: dict[str, Any]) -> None:
    order.update(status="on-hold", date_paid_gmt=None)
    inv = norm(order)
    assert inv.status is InvoiceStatus.OPEN and inv.payment_url is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", InvoiceStatus.OPEN),
        ("on-hold", InvoiceStatus.OPEN),
        ("failed", InvoiceStatus.OPEN),
        ("processing", InvoiceStatus.PAID),
        ("completed", InvoiceStatus.PAID),
        ("cancelled", InvoiceStatus.VOID),
        ("trash", InvoiceStatus.VOID),
        ("refunded", InvoiceStatus.REFUNDED),
    ],
)
def test_status_mapping(order: dict[str, Any], status: str, expected: InvoiceStatus) -> None:
    order["status"] = status
    inv = norm(order)
    assert inv.status is expected
    assert inv.amount_due.is_positive() is expected.is_owed


def test_a_custom_status_is_paid_only_with_a_payment_date(order: dict[str, Any]) -> None:
    order["status"] = "shipped"  # a plugin's status
    assert norm(order).status is InvoiceStatus.PAID
    order["date_paid_gmt"] = None
    with pytest.raises(UnknownStatus):
        norm(order)


def test_refunds_lower_what_is_owed(order: dict[str, Any]) -> None:
    order.update(status="on-hold", refunds=[{"id": 1, "reason": "", "total": "-9.35"}])
    assert str(norm(order).amount_due) == "20.00 USD"
    order["refunds"].append({"id": 2, "reason": "", "total": "-20.00"})
    inv = norm(order)
    assert inv.status is InvoiceStatus.REFUNDED and inv.amount_due.amount == 0


@pytest.mark.parametrize(
    ("currency", "total", "shown", "minor"),
    [
        ("JPY", "1500", "1500 JPY", 1500),
        ("JPY", "1500.00", "1500 JPY", 1500),
        ("EUR", "10.50", "10.50 EUR", 1050),
        ("BHD", "1.250", "1.250 BHD", 1250),
    ],
)
def test_amounts_in_the_order_currency(
    order: dict[str, Any], currency: str, total: str, shown: str, minor: int
) -> None:
    order.update(status="pending", currency=currency, total=total)
    inv = norm(order)
    assert str(inv.total) == shown and inv.total.to_minor() == minor
    assert str(inv.amount_due) == shown


def test_due_date_and_vat_number_from_meta(order: dict[str, Any]) -> None:
    order["status"] = "on-hold"
    order["meta_data"] += [
        {"id": 1, "key": "_due_date", "value": "2017-04-21"},
        {"id": 2, "key": "_billing_vat_number", "value": "FR12345678901"},
    ]
    order["billing"]["company"] = "ACME SAS"
    inv = norm(order)
    assert inv.due_at == datetime(2017, 4, 21, tzinfo=UTC)
    assert inv.customer.is_b2b is True and inv.customer.company == "ACME SAS"


def test_a_company_alone_does_not_make_a_business(order: dict[str, Any]) -> None:
    order["billing"]["company"] = "ACME SAS"
    assert norm(order).customer.is_b2b is None


def test_unreadable_due_meta_is_ignored(order: dict[str, Any]) -> None:
    order["meta_data"].append({"id": 1, "key": "_due_date", "value": "next week"})
    assert norm(order).due_at is None


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("total", 29.35, "total"),  # a float: never accepted
        ("total", "abc", "total"),
        ("currency", "XXXX", "currency"),
        ("date_modified_gmt", "yesterday", "date_modified_gmt"),
        ("date_created_gmt", None, "date_created_gmt"),
        ("id", "abc", "id"),
        ("status", 3, "status"),
    ],
)
def test_malformed_orders_name_the_field(
    order: dict[str, Any], field: str, value: Any, named: str
) -> None:
    bad = copy.deepcopy(order)
    bad[field] = value
    with pytest.raises(NormalizationError, match=named):
        norm(bad)


def test_a_missing_field_is_named(order: dict[str, Any]) -> None:
    del order["date_modified_gmt"]
    with pytest.raises(NormalizationError, match="date_modified_gmt"):
        norm(order)


def test_card_orders_are_not_tracked(order: dict[str, Any]) -> None:
    order["payment_method"] = "stripe"
    assert not is_tracked(order)
    order["payment_method"] = ""
    assert is_tracked(order)  # created in the admin, paid through the order-pay link
