"""Pure pieces: status mapping, due dates, ids, timestamps, the cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.shopify.auth import normalize_shop
from adapters.shopify.cursor import SyncCursor
from adapters.shopify.exceptions import ShopifyConfigError, ShopifyCursorError
from adapters.shopify.normalize import (
    MalformedOrder,
    invoice_from_graphql,
    invoice_status,
    is_tracked,
    legacy_id,
    parse_timestamp,
)
from connector.domain.money import Money
from connector.platform import InvoiceStatus
from tests.support.fake_shopify import make_order

DUE = Money.of("10.00", "EUR")
NOTHING = Money.zero("EUR")


@pytest.mark.parametrize(
    ("financial", "cancelled", "outstanding", "expected"),
    [
        ("PENDING", False, DUE, InvoiceStatus.OPEN),
        ("AUTHORIZED", False, DUE, InvoiceStatus.OPEN),
        ("PARTIALLY_PAID", False, DUE, InvoiceStatus.PARTIALLY_PAID),
        ("PARTIALLY_PAID", False, NOTHING, InvoiceStatus.PAID),
        ("PENDING", False, NOTHING, InvoiceStatus.PAID),
        (None, False, DUE, InvoiceStatus.OPEN),
        ("PAID", False, NOTHING, InvoiceStatus.PAID),
        ("PARTIALLY_REFUNDED", False, NOTHING, InvoiceStatus.PAID),
        ("REFUNDED", False, NOTHING, InvoiceStatus.REFUNDED),
        ("VOIDED", False, DUE, InvoiceStatus.VOID),
        ("EXPIRED", False, DUE, InvoiceStatus.VOID),
        ("PENDING", True, DUE, InvoiceStatus.VOID),
        ("PAID", True, NOTHING, InvoiceStatus.VOID),
    ],
)
def test_invoice_status(
    financial: str | None, cancelled: bool, outstanding: Money, expected: InvoiceStatus
) -> None:
    assert invoice_status(financial, cancelled, outstanding) is expected


def test_authorized_is_tracked_only_with_terms() -> None:
    assert is_tracked("AUTHORIZED", has_terms=True)
    assert not is_tracked("AUTHORIZED", has_terms=False)
    assert is_tracked("PENDING", has_terms=False)


def test_due_date_is_the_earliest_open_schedule() -> None:
    node = make_order(1, updated_at="2026-03-01T09:00:00Z")
    node["paymentTerms"]["paymentSchedules"]["nodes"] = [
        {
            "issuedAt": "2026-01-01T00:00:00Z",
            "dueAt": "2026-02-01T00:00:00Z",
            "completedAt": "2026-01-30T00:00:00Z",
        },
        {
            "issuedAt": "2026-01-01T00:00:00Z",
            "dueAt": "2026-04-01T00:00:00+02:00",
            "completedAt": None,
        },
        {"issuedAt": "2026-01-01T00:00:00Z", "dueAt": "2026-03-01T00:00:00Z", "completedAt": None},
    ]
    assert invoice_from_graphql(node).due_at == datetime(2026, 3, 1, tzinfo=UTC)


def test_all_schedules_completed_gives_the_last_due_date() -> None:
    node = make_order(1, updated_at="2026-03-01T09:00:00Z")
    node["paymentTerms"]["paymentSchedules"]["nodes"] = [
        {"issuedAt": None, "dueAt": "2026-02-01T00:00:00Z", "completedAt": "2026-02-01T00:00:00Z"},
        {"issuedAt": None, "dueAt": "2026-03-01T00:00:00Z", "completedAt": "2026-03-01T00:00:00Z"},
    ]
    assert invoice_from_graphql(node).due_at == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "change",
    [
        {"updatedAt": "2026-03-01T09:00:00"},  # no offset
        {"updatedAt": None},
        {"totalOutstandingSet": {"shopMoney": {"amount": "1.005", "currencyCode": "EUR"}}},
        {"totalOutstandingSet": {"shopMoney": {"amount": "1.00", "currencyCode": "USD"}}},
        {"currentTotalPriceSet": {"shopMoney": {"amount": "1.00", "currencyCode": "ZZZ"}}},
        {"displayFinancialStatus": "SOMETHING_NEW"},
        {"legacyResourceId": "abc"},
        {"name": ""},
    ],
)
def test_malformed_nodes_are_refused(change: dict[str, object]) -> None:
    node = make_order(1, updated_at="2026-03-01T09:00:00Z")
    node.update(change)
    with pytest.raises(MalformedOrder):
        invoice_from_graphql(node)


def test_timestamps() -> None:
    assert parse_timestamp("2026-03-06T10:00:00-05:00") == datetime(2026, 3, 6, 15, tzinfo=UTC)
    assert parse_timestamp("2026-03-06T10:00:00-05:00").tzinfo is UTC
    assert parse_timestamp("2026-03-06T15:00:00.987654321Z").microsecond == 987654
    with pytest.raises(MalformedOrder):
        parse_timestamp("2026-03-06T15:00:00")
    with pytest.raises(MalformedOrder):
        parse_timestamp(1772798640)


def test_legacy_id() -> None:
    assert legacy_id("gid://shopify/Order/820982911946154508") == "820982911946154508"
    assert legacy_id(820982911946154508) == "820982911946154508"
    with pytest.raises(MalformedOrder):
        legacy_id("gid://shopify/Order/abc")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.myshopify.com", "acme.myshopify.com"),
        ("https://ACME.myshopify.com/admin", "acme.myshopify.com"),
        ("acme", "acme.myshopify.com"),
    ],
)
def test_normalize_shop(raw: str, expected: str) -> None:
    assert normalize_shop(raw) == expected


@pytest.mark.parametrize("raw", ["evil.example.com", "acme.myshopify.com.evil.io", "", None])
def test_normalize_shop_refuses_other_hosts(raw: str | None) -> None:
    with pytest.raises(ShopifyConfigError):
        normalize_shop(raw)


def test_cursor_round_trip_and_watermarks() -> None:
    started = datetime(2026, 3, 6, 12, tzinfo=UTC)
    in_run = SyncCursor().start(started).saw(datetime(2026, 3, 6, 13, tzinfo=UTC)).next_page("c1")
    assert SyncCursor.decode(in_run.encode()) == in_run
    assert in_run.finish() == SyncCursor(since=started)  # full run: wall clock at start

    since = datetime(2026, 3, 7, tzinfo=UTC)
    incremental = SyncCursor(since=since).start(started)
    assert incremental.finish() == SyncCursor(since=since)  # nothing seen: keep it
    later = incremental.saw(datetime(2026, 3, 7, 9, tzinfo=UTC))
    assert later.saw(datetime(2026, 3, 7, 8, tzinfo=UTC)).finish() == SyncCursor(
        since=datetime(2026, 3, 7, 9, tzinfo=UTC)
    )
    assert SyncCursor.decode(None) == SyncCursor() == SyncCursor.decode("")


@pytest.mark.parametrize(
    "raw", ["[]", '{"v": 2}', '{"v": 1, "since": "2026-03-06T12:00:00"}', '{"v": 1, "after": 5}']
)
def test_cursor_refuses_foreign_values(raw: str) -> None:
    with pytest.raises(ShopifyCursorError):
        SyncCursor.decode(raw)


def test_the_billing_address_is_the_customers_postal_address() -> None:
    node = make_order(5001, updated_at="2026-04-01T10:00:00Z")
    # A MailingAddress as the fragment selects it (fields as in the Admin schema fixture).
    node["billingAddress"] = {
        "company": None,
        "address1": "11 rue Pierre et Marie Curie",
        "address2": None,
        "zip": "75005",
        "city": "Paris",
        "countryCodeV2": "FR",
    }
    invoice = invoice_from_graphql(node)
    assert invoice is not None and invoice.customer.postal_address is not None
    assert invoice.customer.postal_address.text() == "11 rue Pierre et Marie Curie\n75005 Paris\nFR"
