"""sync(): paging, resume, throttling, malformed pages, money and time zones, over real HTTP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import shopify

from adapters.shopify import ShopifyAdapter, ShopifySettings
from adapters.shopify.cursor import SyncCursor
from connector.domain.money import Money
from connector.platform import (
    AdapterError,
    AdapterMalformedResponse,
    AdapterRateLimited,
    ConnectionContext,
    InvoiceStatus,
    SyncPage,
)
from tests.adapters.shopify.conftest import MakeConn
from tests.support.fake_shopify import FakeClock, FakeShopify, make_order

FULL_QUERY = (
    "financial_status:pending OR financial_status:partially_paid OR financial_status:authorized"
)


def _six_orders(fake: FakeShopify) -> list[str]:
    """Six owed orders, updated one hour apart, inserted out of order."""
    stamps = [f"2026-03-0{day}T09:00:00-05:00" for day in range(1, 7)]
    orders = [make_order(1000 + i, updated_at=stamp) for i, stamp in enumerate(stamps)]
    fake.add_orders(*reversed(orders))
    return [str(1000 + i) for i in range(6)]


def _ids(pages: list[SyncPage]) -> list[str]:
    return [invoice.external_id for page in pages for invoice in page.invoices]


def test_three_pages_oldest_update_first(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, clock: FakeClock
) -> None:
    expected = _six_orders(fake)
    started = clock()

    pages = list(adapter.sync(conn, None))

    assert [len(p.invoices) for p in pages] == [2, 2, 2]
    assert _ids(pages) == expected
    requests = fake.graphql_requests
    assert [r["operation"] for r in requests] == ["RelanceOrders"] * 3
    assert all(r["variables"]["query"] == FULL_QUERY for r in requests)
    assert all(r["variables"]["first"] == 2 for r in requests)
    # each page resumes after the previous one, by Shopify's endCursor
    assert requests[0]["variables"]["after"] is None
    assert SyncCursor.decode(pages[0].cursor).after == requests[1]["variables"]["after"]
    assert SyncCursor.decode(pages[1].cursor).after == requests[2]["variables"]["after"]
    # the last cursor closes the run: watermark = when this full run started
    final = SyncCursor.decode(pages[-1].cursor)
    assert final == SyncCursor(since=started)
    assert all(p.cursor for p in pages)


def test_crash_while_storing_page_two_then_resume_loses_nothing(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    expected = _six_orders(fake)
    stored: list[str] = []
    stored_cursor: str | None = None

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        for number, page in enumerate(adapter.sync(conn, None), start=1):
            if number == 2:
                raise Crash("worker died before committing page two")
            stored.extend(i.external_id for i in page.invoices)
            stored_cursor = page.cursor

    assert stored == expected[:2]
    resumed = list(adapter.sync(conn, stored_cursor))
    stored.extend(_ids(resumed))
    assert stored == expected
    assert len(resumed) == 2


def test_adapter_failure_on_page_two_then_resume_loses_nothing(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    expected = _six_orders(fake)
    fake.script("ok", *["http500"] * 4)  # max_retries=3: the fourth 500 gives up
    stored: list[str] = []
    cursor: str | None = None

    with pytest.raises(AdapterError):
        for page in adapter.sync(conn, None):
            stored.extend(i.external_id for i in page.invoices)
            cursor = page.cursor

    assert stored == expected[:2]
    stored.extend(_ids(list(adapter.sync(conn, cursor))))
    assert stored == expected


def test_throttled_then_success(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, clock: FakeClock
) -> None:
    expected = _six_orders(fake)
    fake.script("ok", "throttled")

    pages = list(adapter.sync(conn, None))

    assert _ids(pages) == expected
    assert fake.responses[:3] == ["ok", "throttled", "ok"]
    assert clock.sleeps == [0.5]  # the bucket was full: the shortest throttle wait
    # the retry is the same page again
    assert fake.graphql_requests[1]["variables"] == fake.graphql_requests[2]["variables"]


def test_http_429_then_success_honours_retry_after(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, clock: FakeClock
) -> None:
    expected = _six_orders(fake)
    fake.script("http429")

    pages = list(adapter.sync(conn, None))

    assert _ids(pages) == expected
    assert fake.responses[:2] == ["http429", "ok"]
    assert clock.sleeps == [2.0]  # the fake's Retry-After


def test_throttled_beyond_budget_raises_rate_limited(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    _six_orders(fake)
    fake.script(*["throttled"] * 4)
    pages: list[SyncPage] = []

    with pytest.raises(AdapterRateLimited):
        pages.extend(adapter.sync(conn, None))

    assert pages == []
    assert fake.responses == ["throttled"] * 4


def test_waits_before_the_bucket_runs_dry(
    clock: FakeClock, admin_schema: Any, make_conn: MakeConn
) -> None:
    # 2 orders per page cost 2 + 2*17 = 36; a 100-point bucket pays two pages, not a third.
    with FakeShopify(
        clock=clock, schema=admin_schema, bucket_max=100, restore_rate=10, per_order_cost=17
    ) as small:
        expected = _six_orders(small)
        conn = make_conn(server=small)
        adapter = ShopifyAdapter(ShopifySettings(page_size=2), sleep=clock.sleep, clock=clock)

        pages = list(adapter.sync(conn, None))

    assert _ids(pages) == expected
    assert "throttled" not in small.responses
    assert clock.sleeps == [pytest.approx(0.8)]  # (36 - 28) points / 10 per second


def test_malformed_page_raises_and_yields_nothing_of_it(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    expected = _six_orders(fake)
    fake.script("ok", "malformed_page")
    pages: list[SyncPage] = []

    with pytest.raises(AdapterMalformedResponse):
        pages.extend(adapter.sync(conn, None))

    assert _ids(pages) == expected[:2]
    assert len(pages) == 1


def test_non_json_answer_is_malformed(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    _six_orders(fake)
    fake.script("malformed_json")

    with pytest.raises(AdapterMalformedResponse):
        next(iter(adapter.sync(conn, None)))


def test_amounts_from_total_outstanding_in_eur_and_jpy(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    fake.add_orders(
        make_order(
            1,
            updated_at="2026-03-01T10:00:00+01:00",
            financial="PARTIALLY_PAID",
            total="1234.5",
            outstanding="234.5",
            currency="EUR",
        ),
        make_order(2, updated_at="2026-03-01T18:00:00+09:00", total="15000.0", currency="JPY"),
    )

    invoices = {i.external_id: i for p in adapter.sync(conn, None) for i in p.invoices}

    eur, jpy = invoices["1"], invoices["2"]
    assert eur.total == Money(Decimal("1234.50"), "EUR")
    assert eur.amount_due == Money(Decimal("234.50"), "EUR")
    assert eur.status is InvoiceStatus.PARTIALLY_PAID
    assert jpy.total == Money(Decimal("15000"), "JPY")
    assert jpy.amount_due == Money(Decimal("15000"), "JPY")
    assert jpy.amount_due.to_minor() == 15000
    assert jpy.status is InvoiceStatus.OPEN


def test_shop_local_offsets_are_compared_as_instants(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, clock: FakeClock
) -> None:
    # As strings, "10:00-05:00" > "15:30+01:00" > "14:45Z"; as instants it is the reverse.
    fake.add_orders(
        make_order(1, updated_at="2026-03-06T10:00:00-05:00", due_at="2026-04-01T00:00:00-05:00"),
        make_order(2, updated_at="2026-03-06T15:30:00+01:00"),
        make_order(3, updated_at="2026-03-06T14:45:00Z"),
    )
    pages = list(adapter.sync(conn, None))
    invoices = [i for p in pages for i in p.invoices]

    assert [i.external_id for i in invoices] == ["2", "3", "1"]
    assert [i.updated_at for i in invoices] == [
        datetime(2026, 3, 6, 14, 30, tzinfo=UTC),
        datetime(2026, 3, 6, 14, 45, tzinfo=UTC),
        datetime(2026, 3, 6, 15, 0, tzinfo=UTC),
    ]
    assert all(i.updated_at.utcoffset() == timedelta(0) for i in invoices)  # stored as UTC
    assert invoices[2].due_at == datetime(2026, 4, 1, 5, 0, tzinfo=UTC)

    # Incremental run: the watermark is the latest *instant*, not the largest string.
    clock.advance(24 * 3600)
    fake.update_order(1, updatedAt="2026-03-07T09:00:00-05:00")  # 14:00Z
    fake.update_order(2, updatedAt="2026-03-07T14:30:00+01:00")  # 13:30Z
    incremental = list(adapter.sync(conn, pages[-1].cursor))
    assert SyncCursor.decode(incremental[-1].cursor).since == datetime(
        2026, 3, 7, 14, 0, tzinfo=UTC
    )

    list(adapter.sync(conn, incremental[-1].cursor))
    assert fake.graphql_requests[-1]["variables"]["query"] == "updated_at:>='2026-03-07T13:55:00Z'"


def test_incremental_run_brings_back_orders_that_are_no_longer_owed(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, clock: FakeClock
) -> None:
    fake.add_orders(
        *(make_order(i, updated_at=f"2026-03-0{i}T09:00:00+01:00") for i in range(1, 6))
    )
    first = list(adapter.sync(conn, None))
    assert sorted(_ids(first)) == ["1", "2", "3", "4", "5"]

    clock.advance(3600)
    later = "2026-03-06T13:30:00+01:00"  # after the first run started (12:00Z)
    fake.update_order(
        1,
        displayFinancialStatus="PAID",
        updatedAt=later,
        totalOutstandingSet={"shopMoney": {"amount": "0.0", "currencyCode": "EUR"}},
    )
    fake.update_order(2, displayFinancialStatus="VOIDED", updatedAt=later)
    fake.update_order(3, displayFinancialStatus="REFUNDED", updatedAt=later)
    fake.update_order(4, cancelledAt=later, updatedAt=later)  # still "pending", but cancelled

    second = list(adapter.sync(conn, first[-1].cursor))
    status = {i.external_id: i for p in second for i in p.invoices}

    assert fake.graphql_requests[-1]["variables"]["query"] == "updated_at:>='2026-03-06T11:55:00Z'"
    assert {k: v.status for k, v in status.items()} == {
        "1": InvoiceStatus.PAID,
        "2": InvoiceStatus.VOID,
        "3": InvoiceStatus.REFUNDED,
        "4": InvoiceStatus.VOID,
    }
    assert all(v.amount_due == Money.zero("EUR") for v in status.values())


def test_payment_during_a_full_run_is_caught_by_the_next_run(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify, clock: FakeClock
) -> None:
    _six_orders(fake)
    run = adapter.sync(conn, None)
    first_page = next(run)
    assert [i.external_id for i in first_page.invoices] == ["1000", "1001"]

    # Order 1000 is paid while the run is still on page two: it leaves the owed filter.
    clock.advance(60)
    fake.update_order(1000, displayFinancialStatus="PAID", updatedAt="2026-03-06T12:01:00Z")
    rest = list(run)
    assert "1000" not in _ids(rest)

    next_run = list(adapter.sync(conn, rest[-1].cursor))
    paid = {i.external_id: i.status for p in next_run for i in p.invoices}
    assert paid.get("1000") is InvoiceStatus.PAID


def test_full_run_leaves_out_what_nobody_owes(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    fake.add_orders(
        make_order(1, updated_at="2026-03-01T09:00:00Z"),
        make_order(2, updated_at="2026-03-01T10:00:00Z", cancelled_at="2026-03-01T10:00:00Z"),
        make_order(3, updated_at="2026-03-01T11:00:00Z", financial="AUTHORIZED", terms=False),
        make_order(4, updated_at="2026-03-01T12:00:00Z", financial="AUTHORIZED"),
        make_order(5, updated_at="2026-03-01T13:00:00Z", financial="PAID", outstanding="0.00"),
        make_order(6, updated_at="2026-03-01T14:00:00Z", terms=False),
    )

    invoices = [i for p in adapter.sync(conn, None) for i in p.invoices]

    assert [i.external_id for i in invoices] == ["1", "4", "6"]
    assert invoices[2].due_at is None  # pending without terms: the core applies the shop's
    assert invoices[0].due_at == datetime(2026, 4, 5, tzinfo=UTC)


def test_normalized_fields(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    fake.add_orders(
        make_order(
            77,
            updated_at="2026-03-01T09:00:00+01:00",
            created_at="2026-02-01T09:00:00+01:00",
            company="ACME SAS",
        ),
        make_order(78, updated_at="2026-03-01T10:00:00+01:00", customer_id=None, email="G@x.fr"),
    )

    b2b, guest = [i for p in adapter.sync(conn, None) for i in p.invoices]

    assert b2b.number == "#77"
    assert b2b.issued_at == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert b2b.customer_external_id == "7001"
    assert b2b.email == "buyer@example.com"
    assert (b2b.company, b2b.is_b2b, b2b.locale) == ("ACME SAS", True, "fr")
    assert b2b.payment_url == "https://relance-test.myshopify.com/1/orders/77/authenticate"
    assert guest.customer_external_id == "email:g@x.fr"
    assert guest.is_b2b is None


def test_no_shopify_session_is_left_behind(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    _six_orders(fake)
    list(adapter.sync(conn, None))
    fake.script("malformed_json")
    with pytest.raises(AdapterMalformedResponse):
        list(adapter.sync(conn, None))

    assert shopify.ShopifyResource.get_site() is None
    assert "X-Shopify-Access-Token" not in shopify.ShopifyResource.get_headers()


def test_two_shops_synced_concurrently_do_not_mix(
    clock: FakeClock, admin_schema: Any, make_conn: MakeConn
) -> None:
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    with (
        FakeShopify(clock=clock, schema=admin_schema) as shop_a,
        FakeShopify(clock=clock, schema=admin_schema) as shop_b,
    ):
        for server, base in ((shop_a, 100), (shop_b, 200)):
            server.add_orders(
                *(make_order(base + i, updated_at=f"2026-03-01T0{i}:00:00Z") for i in range(8))
            )
        conns = {
            "a": make_conn(server=shop_a, shop="shop-a.myshopify.com"),
            "b": make_conn(server=shop_b, shop="shop-b.myshopify.com"),
        }
        adapter = ShopifyAdapter(ShopifySettings(page_size=1), sleep=clock.sleep, clock=clock)
        barrier = threading.Barrier(2)

        def run(name: str) -> None:
            try:
                barrier.wait(timeout=5)
                pages = adapter.sync(conns[name], None)
                results[name] = [i.external_id for p in pages for i in p.invoices]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    assert errors == []
    assert results["a"] == [str(100 + i) for i in range(8)]
    assert results["b"] == [str(200 + i) for i in range(8)]


def test_unreadable_cursor_is_refused(adapter: ShopifyAdapter, conn: ConnectionContext) -> None:
    with pytest.raises(AdapterError, match="cursor"):
        next(iter(adapter.sync(conn, '{"v": 99}')))
    with pytest.raises(AdapterError, match="cursor"):
        next(iter(adapter.sync(conn, "not json")))


def test_incremental_query_bound_is_utc_minus_lookback(adapter: ShopifyAdapter) -> None:
    since = datetime(2026, 3, 6, 10, 0, 30, tzinfo=UTC) + timedelta(hours=0)
    assert adapter.search_query(since) == "updated_at:>='2026-03-06T09:55:30Z'"
    assert adapter.search_query(None) == FULL_QUERY
