"""WooCommerceAdapter.sync through the real woocommerce library against the local WooCommerce,
and through connector.sync.sync_connection on the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

import connector.sync
from adapters.woocommerce import WooCommerceAdapter, settings
from adapters.woocommerce.exceptions import InvalidSyncCursor, WooCommerceUnavailable
from connector.platform import (
    AdapterAuthError,
    AdapterMalformedResponse,
    AdapterRateLimited,
    ConnectionContext,
    InvoiceStatus,
    NormalizedInvoice,
    SyncPage,
)
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Shop
from connector.sync import SyncError, sync_connection
from tests.adapters.woocommerce.conftest import DAY, T0, Clock, MakeConn, Sleeps
from tests.support.fake_woocommerce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    ORDERS,
    SITE_URL,
    FakeWooCommerce,
    load_route_index,
)
from tests.support.scripted_fake import Reply
from tests.support.statements import counting

# Added to the orders route by WooCommerce 5.8, after the route index was published.
NEWER_THAN_INDEX = {"modified_after", "dates_are_gmt"}


class Store:
    """What the core does with pages: keep the rows and the cursor of each page together."""

    def __init__(self) -> None:
        self.cursor: str | None = None
        self.rows: dict[str, NormalizedInvoice] = {}
        self.yields: list[str] = []
        self.pages: list[SyncPage] = []

    def run(self, adapter: WooCommerceAdapter, conn: ConnectionContext) -> None:
        for page in adapter.sync(conn, self.cursor):
            self.pages.append(page)
            for invoice in page.invoices:
                known = self.rows.get(invoice.external_id)
                if known is None or invoice.updated_at >= known.updated_at:
                    self.rows[invoice.external_id] = invoice
                self.yields.append(invoice.external_id)
            self.cursor = page.cursor


def _owed(fake: FakeWooCommerce, n: int, **kw: Any) -> list[dict[str, Any]]:
    return [fake.add_order(modified=T0 - 2 * DAY + i, **kw) for i in range(n)]


def _cursor(raw: str | None) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(raw or "")
    return body


# -- paging and the query --------------------------------------------------------------------


def test_three_pages_of_owed_orders(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    made = _owed(fake, 150, status="on-hold") + _owed(fake, 100, status="pending")
    fake.add_order(status="completed", modified=T0 - DAY)  # paid: not brought by a first pass
    fake.add_order(status="pending", payment_method="stripe")  # abandoned card checkout

    pages = list(adapter.sync(conn, None))

    assert [len(p.invoices) for p in pages] == [100, 100, 50]
    assert sorted(int(i.external_id) for p in pages for i in p.invoices) == sorted(
        o["id"] for o in made
    )
    calls = fake.calls("GET", ORDERS)
    assert [c.params["page"] for c in calls] == ["1", "2", "3"]
    assert calls[0].params == {
        "status": "any",
        "per_page": "100",
        "page": "1",
        "orderby": "id",
        "order": "asc",
    }
    # the watermark: the last modification seen (before the pass started, on the shop's clock)
    assert _cursor(pages[-1].cursor) == {
        "v": 1,
        "since": datetime.fromtimestamp(T0, tz=UTC).isoformat(),
        "pass": None,
    }
    assert _cursor(pages[0].cursor)["pass"]["page"] == 2


def test_every_orders_parameter_is_in_the_route_index(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    _owed(fake, 3)
    store = Store()
    store.run(adapter, conn)  # full pass
    store.run(adapter, conn)  # incremental pass
    (endpoint,) = [
        e
        for e in load_route_index()["routes"]["/wc/v3/orders"]["endpoints"]
        if "GET" in e["methods"]
    ]
    args = endpoint["args"]
    sent = [c.params for c in fake.calls("GET", ORDERS)]
    assert "modified_after" in sent[-1] and "modified_after" not in sent[0]
    for params in sent:
        for name, value in params.items():
            if name in NEWER_THAN_INDEX:
                continue  # the index predates WooCommerce 5.8, which added them
            assert name in args, f"{name} is not a parameter of GET /wc/v3/orders"
            if "enum" in args[name]:
                assert value in args[name]["enum"], f"{name}={value} not in {args[name]['enum']}"
            if args[name].get("type") == "integer":
                assert value.isdigit()
    assert sent[-1]["dates_are_gmt"] == "true"


def test_incremental_pass_brings_orders_closed_since_the_cursor(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    old = fake.add_order(modified=T0 - 10 * DAY)
    paid, cancelled, refunded, partly, untouched = _owed(fake, 5)
    store = Store()
    store.run(adapter, conn)
    assert len(store.rows) == 6

    clock.advance(3600)
    fake.set_status(paid["id"], "processing")
    fake.set_status(cancelled["id"], "cancelled")
    fake.set_status(refunded["id"], "refunded")
    fake.refund(partly["id"], "9.35")
    card = fake.add_order(status="processing", payment_method="stripe")  # paid at checkout
    store.run(adapter, conn)

    rows = store.rows
    assert rows[str(paid["id"])].status is InvoiceStatus.PAID
    assert rows[str(cancelled["id"])].status is InvoiceStatus.VOID
    assert rows[str(refunded["id"])].status is InvoiceStatus.REFUNDED
    assert str(rows[str(partly["id"])].amount_due) == "20.00 EUR"
    assert rows[str(untouched["id"])].status is InvoiceStatus.OPEN
    assert rows[str(card["id"])].status is InvoiceStatus.PAID  # closed: never dunned
    # the window starts LOOKBACK before the watermark (the last modification seen), in GMT
    params = fake.calls("GET", ORDERS)[-1].params
    assert params["status"] == "any"
    assert params["modified_after"] == datetime.fromtimestamp(
        T0 - 2 * DAY + 4 - settings.LOOKBACK_SECONDS, tz=UTC
    ).strftime("%Y-%m-%dT%H:%M:%S")
    assert str(old["id"]) not in store.yields[6:]  # modified before the window: not re-read


def test_an_order_modified_in_the_watermark_second_is_not_lost(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    first = fake.add_order(modified=T0)
    store = Store()
    store.run(adapter, conn)
    assert _cursor(store.cursor)["since"] == datetime.fromtimestamp(T0, tz=UTC).isoformat()
    # modified again within the same second (WordPress keeps seconds): modified_after is strict
    fake.set_status(first["id"], "processing", at=T0)
    same_second = fake.add_order(modified=T0, status="on-hold")
    store.run(adapter, conn)
    assert store.rows[str(first["id"])].status is InvoiceStatus.PAID
    assert str(same_second["id"]) in store.rows


def test_an_order_paid_while_a_pass_runs_is_read_again_next_time(
    fake: FakeWooCommerce, clock: Clock, sleeps: Sleeps, conn: ConnectionContext
) -> None:
    adapter = WooCommerceAdapter(sleep=sleeps, page_size=2)
    early, _, _, late = _owed(fake, 4)
    store = Store()
    pages = adapter.sync(conn, None)
    page = next(pages)
    store.rows.update({i.external_id: i for i in page.invoices})
    clock.advance(60)
    fake.set_status(early["id"], "processing")  # already read on page one
    clock.advance(60)
    fake.set_status(late["id"], "on-hold")  # modified after it, read on page two
    last = next(pages)
    store.cursor = last.cursor
    # the watermark stays at the pass's start, not at the later modification seen on page two
    assert _cursor(last.cursor)["since"] == datetime.fromtimestamp(T0, tz=UTC).isoformat()
    store.run(adapter, conn)
    assert store.rows[str(early["id"])].status is InvoiceStatus.PAID


def test_an_unreadable_cursor_is_refused(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    for raw in (
        "not json",
        '{"v": 2}',
        '{"v":1,"since":"x","pass":null}',
        '{"v":1,"pass":{"page":0}}',
    ):
        with pytest.raises(InvalidSyncCursor):
            list(adapter.sync(conn, raw))
    assert fake.requests == []


# -- rate limits and errors ------------------------------------------------------------------


def test_429_then_success(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext, sleeps: Sleeps
) -> None:
    made = _owed(fake, 3)
    fake.script("GET", ORDERS, [Reply(429), Reply(429, headers={"Retry-After": "7"}), Reply(503)])

    pages = list(adapter.sync(conn, None))

    assert len([i for p in pages for i in p.invoices]) == len(made)
    assert len(fake.calls("GET", ORDERS)) == 4
    assert len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and sleeps[1] == 7.0 and 2.0 <= sleeps[2] <= 4.0


def test_429_forever_gives_up_with_adapter_rate_limited(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext, sleeps: Sleeps
) -> None:
    fake.script("GET", ORDERS, [Reply(429)] * 50)
    with pytest.raises(AdapterRateLimited, match="still throttled"):
        list(adapter.sync(conn, None))
    assert len(fake.calls("GET", ORDERS)) == settings.RETRIES + 1
    assert len(sleeps) == settings.RETRIES and max(sleeps) <= settings.MAX_DELAY


def test_5xx_forever_is_unavailable(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, conn: ConnectionContext
) -> None:
    fake.script("GET", ORDERS, [Reply(500)] * 50)
    with pytest.raises(WooCommerceUnavailable):
        list(adapter.sync(conn, None))
    assert len(fake.calls("GET", ORDERS)) == settings.RETRIES + 1


def test_refused_keys_are_an_auth_error_and_never_retried(
    fake: FakeWooCommerce, adapter: WooCommerceAdapter, make_conn: MakeConn
) -> None:
    with pytest.raises(AdapterAuthError, match="signature"):
        list(adapter.sync(make_conn(consumer_secret="cs_wrong"), None))
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("mode", "named"),
    [("bad_order", "total"), ("garbage", "not JSON"), ("no_total_pages", "X-WP-TotalPages")],
)
def test_a_malformed_page_yields_nothing_of_it(
    fake: FakeWooCommerce,
    adapter: WooCommerceAdapter,
    conn: ConnectionContext,
    mode: Any,
    named: str,
) -> None:
    _owed(fake, 250)
    fake.malform("GET", ORDERS, page=2, mode=mode)
    store = Store()

    with pytest.raises(AdapterMalformedResponse, match=named):
        store.run(adapter, conn)

    assert len(store.pages) == 1 and len(store.rows) == 100
    assert _cursor(store.cursor)["pass"]["page"] == 2  # not advanced past the bad page
    fake.heal()
    store.run(adapter, conn)
    assert len(store.rows) == 250 and len(store.yields) == 250
    assert [c.params["page"] for c in fake.calls("GET", ORDERS)] == ["1", "2", "2", "3"]


# -- through the core, on the real store -----------------------------------------------------


def _connection(services: Services, shop: Shop, fake: FakeWooCommerce) -> int:
    with write_session(services.sessions) as s:
        row = Connection(
            shop_id=shop.id,
            platform="woocommerce",
            external_account=SITE_URL,
            credentials_enc=services.secrets.encrypt_json(
                {
                    "site_url": SITE_URL,
                    "consumer_key": CONSUMER_KEY,
                    "consumer_secret": CONSUMER_SECRET,
                }
            ),
            api_base=fake.url,
        )
        s.add(row)
        s.flush()
        return row.id


def _stored(services: Services, connection_id: int) -> tuple[int, str | None, dict[str, str]]:
    with services.sessions() as s:
        count = s.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.connection_id == connection_id)
        )
        row = s.get(Connection, connection_id)
        assert row is not None
        statuses = {
            i.external_id: str(i.status)
            for i in s.scalars(select(Invoice).where(Invoice.connection_id == connection_id))
        }
        return count or 0, row.sync_cursor, statuses


def test_crash_on_page_two_then_resume_through_the_core(
    services: Services, shop: Shop, fake: FakeWooCommerce, clock: Clock, sleeps: Sleeps
) -> None:
    made = _owed(fake, 250)
    connection_id = _connection(services, shop, fake)
    adapters = {"woocommerce": WooCommerceAdapter(sleep=sleeps, retries=1)}
    now = datetime.fromtimestamp(T0, tz=UTC)
    fake.fail_after("GET", ORDERS, served=1)  # page 2: 500, and again on the retry

    with pytest.raises(SyncError):
        sync_connection(services, connection_id, now, adapters=adapters)
    count, cursor, _ = _stored(services, connection_id)
    assert count == 100 and _cursor(cursor)["pass"]["page"] == 2

    clock.advance(600)
    fake.set_status(made[0]["id"], "completed")  # paid during the outage, on page one
    fake.heal()
    result = sync_connection(services, connection_id, now, adapters=adapters)
    assert result.pages == 2 and result.inserted == 150 and result.updated == 0
    count, cursor, _ = _stored(services, connection_id)
    assert count == 250 and _cursor(cursor)["pass"] is None

    result = sync_connection(services, connection_id, now, adapters=adapters)  # incremental
    count, _, statuses = _stored(services, connection_id)
    assert count == 250 and result.closed == 1
    assert statuses[str(made[0]["id"])] == InvoiceStatus.PAID.value
    assert sum(s == InvoiceStatus.OPEN.value for s in statuses.values()) == 249


def test_a_malformed_page_writes_nothing_of_it_to_the_store(
    services: Services, shop: Shop, fake: FakeWooCommerce, sleeps: Sleeps
) -> None:
    _owed(fake, 250)
    connection_id = _connection(services, shop, fake)
    adapters = {"woocommerce": WooCommerceAdapter(sleep=sleeps)}
    now = datetime.fromtimestamp(T0, tz=UTC)
    fake.malform("GET", ORDERS, page=2, mode="bad_order")

    with pytest.raises(SyncError, match="total"):
        sync_connection(services, connection_id, now, adapters=adapters)

    count, cursor, _ = _stored(services, connection_id)
    assert count == 100 and _cursor(cursor)["pass"]["page"] == 2
    with services.sessions() as s:
        row = s.get(Connection, connection_id)
        assert row is not None and row.last_sync_status == "error: AdapterMalformedResponse"


def test_a_sync_writes_several_pages_per_transaction(
    services: Services,
    shop: Shop,
    fake: FakeWooCommerce,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten pages of 100 orders: pages are fetched with no transaction open and written a few at
    a time with the last one's cursor — per page at most 4 statements and 0.3 commits (on
    main: one transaction of ~10 statements per page)."""
    _owed(fake, 1000)
    connection_id = _connection(services, shop, fake)
    adapters = {"woocommerce": WooCommerceAdapter(sleep=sleeps)}
    now = datetime.fromtimestamp(T0, tz=UTC)
    # Pages a few at a time whatever the machine's load (a slow page would be written alone).
    monkeypatch.setattr(connector.sync, "PROGRESS_EVERY_S", 3600.0)
    with counting(services.engine) as counted:
        result = sync_connection(services, connection_id, now, adapters=adapters)
    count, cursor, _ = _stored(services, connection_id)
    assert result.pages == 10 and result.inserted == 1000 and count == 1000
    assert _cursor(cursor)["pass"] is None
    statements, commits = counted.per(result.pages)
    assert statements <= 4, (statements, counted.texts)
    # One commit marks the run started (the owner's progress shows it), one per few pages, one
    # records the outcome: 4 for 10 pages; a commit per page (main before batching) is 1.2.
    assert commits <= 0.4, (commits, counted.texts)
