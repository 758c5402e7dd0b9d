"""StripeAdapter.sync through the real stripe library against the local Stripe."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

import connector.sync
from adapters.stripe import StripeAdapter, settings
from adapters.stripe.exceptions import InvalidSyncCursor, StripeUnavailable
from connector.platform import (
    AdapterAuthError,
    AdapterError,
    AdapterMalformedResponse,
    AdapterRateLimited,
    ConnectionContext,
    InvoiceStatus,
    NormalizedInvoice,
    SyncPage,
)
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Shop, TimelineEntry
from connector.sync import sync_connection
from tests.adapters.stripe.conftest import DAY, T0, Clock, Sleeps
from tests.support.fake_stripe import DEFAULT_API_KEY, FakeStripe
from tests.support.scripted_fake import Reply
from tests.support.statements import counting

INVOICES = "/v1/invoices"
EVENTS = "/v1/events"


class Store:
    """What the core does with pages: keep the rows and the cursor of each page together."""

    def __init__(self) -> None:
        self.cursor: str | None = None
        self.rows: dict[str, NormalizedInvoice] = {}
        self.yields: list[str] = []
        self.pages: list[SyncPage] = []

    def save(self, page: SyncPage) -> None:
        self.pages.append(page)
        for invoice in page.invoices:
            known = self.rows.get(invoice.external_id)
            if known is None or invoice.updated_at >= known.updated_at:
                self.rows[invoice.external_id] = invoice
            self.yields.append(invoice.external_id)
        after = _after(page.cursor)
        # The cursor is never ahead of what was yielded: it resumes after a row we hold.
        assert after is None or after in self.rows or after.startswith("evt_")
        self.cursor = page.cursor

    def run(self, adapter: StripeAdapter, conn: ConnectionContext) -> None:
        for page in adapter.sync(conn, self.cursor):
            self.save(page)


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    current = json.loads(cursor)["pass"]
    return None if current is None else current["after"]


def _open_invoices(fake: FakeStripe, n: int, **kw: Any) -> list[dict[str, Any]]:
    return [fake.add_invoice(created=T0 - 2 * DAY + i, **kw) for i in range(n)]


# -- paging and resuming -----------------------------------------------------------------------


def test_three_pages_then_done(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    made = _open_invoices(fake, 250)
    fake.add_invoice(created=T0 - DAY, status="draft")  # not owed yet: filtered by Stripe
    fake.add_invoice(created=T0 - DAY, collection_method="charge_automatically")

    pages = list(adapter.sync(conn, None))

    assert [len(p.invoices) for p in pages] == [100, 100, 50]
    assert sorted(i.external_id for p in pages for i in p.invoices) == sorted(m["id"] for m in made)
    calls = fake.calls("GET", INVOICES)
    assert len(calls) == 3
    first = calls[0].params
    assert first["status"] == "open"
    assert first["collection_method"] == "send_invoice"
    assert first["limit"] == "100"
    assert first["created"] == {"lte": str(T0 - settings.SETTLE_SECONDS)}
    assert first["expand"] == ["data.customer"]
    assert "starting_after" not in first
    # each next page starts after the last id of the one before (Stripe lists newest first)
    newest_first = sorted(made, key=lambda m: (m["created"], m["id"]), reverse=True)
    assert calls[1].params["starting_after"] == newest_first[99]["id"]
    assert calls[2].params["starting_after"] == newest_first[199]["id"]
    assert json.loads(pages[-1].cursor or "") == {
        "v": 1,
        "since": T0 - settings.SETTLE_SECONDS,
        "pass": None,
    }
    # nothing new since: the next run asks nothing and yields nothing
    assert list(adapter.sync(conn, pages[-1].cursor)) == []
    assert len(fake.requests) == 3


def test_server_failure_on_page_two_then_resume_loses_nothing(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    made = _open_invoices(fake, 250)
    store = Store()
    fake.fail_after("GET", INVOICES, served=1)  # page 2 gets a 500 (the SDK's retries: off)

    with pytest.raises(StripeUnavailable):
        store.run(adapter, conn)

    assert len(store.pages) == 1 and len(store.rows) == 100
    assert _after(store.cursor) in store.rows

    # meanwhile one invoice we hold is paid, and a new one is issued
    clock.advance(600)
    paid = store.pages[0].invoices[0].external_id
    fake.pay(paid, at=T0 + 100)
    late = fake.add_invoice(created=T0 + 200)
    fake.heal()

    store.run(adapter, conn)  # finishes the interrupted full pass
    assert sorted(store.rows) == sorted(m["id"] for m in made)
    assert len(store.yields) == 250, "a resumed pass re-yields nothing already stored"
    assert json.loads(store.cursor or "")["pass"] is None

    store.run(adapter, conn)  # the next, incremental pass sees what happened during the outage
    assert store.rows[late["id"]].status is InvoiceStatus.OPEN
    assert store.rows[paid].status is InvoiceStatus.PAID
    assert store.rows[paid].amount_due.amount == 0
    assert len(store.rows) == 251


def test_consumer_crash_after_page_one_resumes_at_page_two(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    made = _open_invoices(fake, 250)
    store = Store()
    pages = adapter.sync(conn, None)
    store.save(next(pages))
    pages.close()  # the worker dies after committing page one

    store.run(adapter, conn)

    assert len(store.yields) == 250 and len(set(store.yields)) == 250
    assert sorted(store.rows) == sorted(m["id"] for m in made)
    assert fake.calls("GET", INVOICES)[1].params["starting_after"] == _after(store.pages[0].cursor)


def test_cursor_only_moves_past_a_page_once_it_is_consumed(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    made = _open_invoices(fake, 150)
    pages = adapter.sync(conn, None)
    first = next(pages)
    assert len(fake.calls("GET", INVOICES)) == 1, "page two is not read before it is asked for"
    oldest_of_page = sorted(made, key=lambda m: (m["created"], m["id"]), reverse=True)[99]
    assert _after(first.cursor) == oldest_of_page["id"]
    assert oldest_of_page["id"] in {i.external_id for i in first.invoices}
    second = next(pages)
    assert len(second.invoices) == 50 and json.loads(second.cursor or "")["pass"] is None


# -- incremental runs: events -----------------------------------------------------------------


def test_incremental_run_reads_status_changes_from_events(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    paid, partial, voided, credited, untouched = _open_invoices(fake, 5, total=10000)
    other = fake.add_invoice(created=T0 - DAY, collection_method="charge_automatically")
    draft = fake.add_invoice(created=T0 - 10 * DAY, status="draft")
    store = Store()
    store.run(adapter, conn)
    assert set(store.rows) == {i["id"] for i in (paid, partial, voided, credited, untouched)}
    since = json.loads(store.cursor or "")["since"]

    clock.advance(3600)
    fake.pay(paid["id"], at=T0 + 100)
    fake.pay(partial["id"], at=T0 + 110, amount=2500)
    fake.void(voided["id"], at=T0 + 120)
    fake.credit(credited["id"], at=T0 + 130, amount=1000)
    fake.finalize(draft["id"], at=T0 + 140)  # created 10 days ago, before the watermark
    fake.pay(other["id"], at=T0 + 150)  # charge_automatically: not ours
    store.run(adapter, conn)

    rows = store.rows
    assert rows[paid["id"]].status is InvoiceStatus.PAID
    assert rows[partial["id"]].status is InvoiceStatus.PARTIALLY_PAID
    assert rows[partial["id"]].amount_due.amount == Decimal("75.00")
    assert rows[voided["id"]].status is InvoiceStatus.VOID
    assert rows[credited["id"]].amount_due.amount == Decimal("90.00")
    assert rows[draft["id"]].status is InvoiceStatus.OPEN
    assert rows[untouched["id"]].status is InvoiceStatus.OPEN
    assert other["id"] not in rows
    # an event snapshot is dated by its event; a re-read invoice by Stripe's clock when read
    assert rows[paid["id"]].updated_at.timestamp() == T0 + 100
    assert rows[credited["id"]].updated_at.timestamp() == clock.now

    (events_call,) = fake.calls("GET", EVENTS)
    until = T0 + 3600 - settings.SETTLE_SECONDS
    assert events_call.params["created"] == {"gt": str(since), "lte": str(until)}
    assert events_call.params["types"] == list(settings.SYNC_EVENT_TYPES)
    assert events_call.params["limit"] == "100"
    assert fake.calls("GET", INVOICES)[-1].params["created"] == {
        "gt": str(since),
        "lte": str(until),
    }
    assert [c.path for c in fake.calls("GET", f"{INVOICES}/", prefix=True)] == [
        f"{INVOICES}/{credited['id']}"
    ]
    assert json.loads(store.cursor or "") == {"v": 1, "since": until, "pass": None}


def test_events_are_paged_and_an_interrupted_event_phase_resumes(
    fake: FakeStripe, clock: Clock, sleeps: Sleeps, conn: ConnectionContext
) -> None:
    adapter = StripeAdapter(sleep=sleeps, clock=clock, max_network_retries=0, page_size=2)
    invoices = _open_invoices(fake, 5)
    store = Store()
    store.run(adapter, conn)
    clock.advance(3600)
    for n, inv in enumerate(invoices):
        fake.pay(inv["id"], at=T0 + 100 + n)
    fake.fail_after("GET", EVENTS, served=1)

    with pytest.raises(AdapterError):
        store.run(adapter, conn)
    assert json.loads(store.cursor or "")["pass"]["phase"] == "events"
    fake.heal()
    store.run(adapter, conn)

    assert all(store.rows[i["id"]].status is InvoiceStatus.PAID for i in invoices)
    event_calls = fake.calls("GET", EVENTS)
    assert len(event_calls) == 4  # page 1, the failed page 2, page 2 again, page 3
    assert event_calls[2].params["starting_after"] == event_calls[1].params["starting_after"]


def test_a_pass_leaves_the_last_minute_for_the_next_run(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    store = Store()
    store.run(adapter, conn)
    fresh = fake.add_invoice(created=int(clock.now) - 10)
    clock.advance(30)
    store.run(adapter, conn)
    assert fresh["id"] not in store.rows  # created less than SETTLE_SECONDS before this pass
    clock.advance(60)
    store.run(adapter, conn)
    assert fresh["id"] in store.rows


def test_a_watermark_older_than_event_retention_forces_a_full_pass(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    old = fake.add_invoice(created=T0 - 90 * DAY)
    stale = json.dumps({"v": 1, "since": T0 - 40 * DAY, "pass": None})

    pages = list(adapter.sync(conn, stale))

    assert [i.external_id for p in pages for i in p.invoices] == [old["id"]]
    assert fake.calls("GET", EVENTS) == []
    assert "gt" not in fake.calls("GET", INVOICES)[0].params["created"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not json",
        '{"v": 2}',
        '{"v": 1, "since": "x", "pass": null}',
        '{"v":1,"since":null,"pass":{"until":5,"phase":"events","after":null}}',
    ],
)
def test_an_unreadable_cursor_is_refused(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, cursor: str
) -> None:
    with pytest.raises(InvalidSyncCursor):
        list(adapter.sync(conn, cursor))
    assert fake.requests == []


# -- rate limits and errors -------------------------------------------------------------------


def test_429_twice_then_success(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, sleeps: Sleeps
) -> None:
    made = _open_invoices(fake, 3)
    fake.script("GET", INVOICES, [Reply(429), Reply(429)])

    pages = list(adapter.sync(conn, None))

    assert sorted(i.external_id for p in pages for i in p.invoices) == sorted(m["id"] for m in made)
    assert len(fake.calls("GET", INVOICES)) == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # exponential, with jitter


def test_429_honours_retry_after(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, sleeps: Sleeps
) -> None:
    fake.script("GET", INVOICES, [Reply(429, headers={"Retry-After": "7"})])
    list(adapter.sync(conn, None))
    assert sleeps == [7.0]


def test_429_forever_gives_up_with_adapter_rate_limited(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, sleeps: Sleeps
) -> None:
    _open_invoices(fake, 3)
    fake.script("GET", INVOICES, [Reply(429)] * 50)

    with pytest.raises(AdapterRateLimited):
        list(adapter.sync(conn, None))

    assert len(fake.calls("GET", INVOICES)) == settings.RATE_LIMIT_RETRIES + 1
    assert len(sleeps) == settings.RATE_LIMIT_RETRIES
    assert max(sleeps) <= settings.RATE_LIMIT_MAX_DELAY


def test_bad_api_key_is_an_auth_error(
    fake: FakeStripe, adapter: StripeAdapter, make_conn: Callable[..., ConnectionContext]
) -> None:
    with pytest.raises(AdapterAuthError):
        list(adapter.sync(make_conn(api_key="rk_test_revoked"), None))
    assert len(fake.requests) == 1  # never retried


def test_missing_permission_of_a_restricted_key_is_an_auth_error(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    fake.script("GET", INVOICES, [Reply(403)])
    with pytest.raises(AdapterAuthError):
        list(adapter.sync(conn, None))


@pytest.mark.parametrize("mode", ["garbage", "bad_invoice"])
def test_a_malformed_page_yields_nothing_of_it(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, mode: Any
) -> None:
    _open_invoices(fake, 250)
    fake.malform("GET", INVOICES, page=2, mode=mode)
    store = Store()

    with pytest.raises(AdapterMalformedResponse):
        store.run(adapter, conn)

    assert len(store.pages) == 1 and len(store.rows) == 100
    first_cursor = store.cursor
    fake.heal()
    store.run(adapter, conn)  # the page is read again, nothing was skipped
    assert len(store.rows) == 250
    assert fake.calls("GET", INVOICES)[2].params["starting_after"] == _after(first_cursor)


def test_a_malformed_event_page_is_refused(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    store = Store()
    store.run(adapter, conn)
    before = store.cursor
    clock.advance(3600)
    page = {"object": "list", "data": [{"id": "evt_1", "object": "event"}], "has_more": False}
    fake.script("GET", EVENTS, [Reply(200, body=page)])
    with pytest.raises(AdapterMalformedResponse):
        store.run(adapter, conn)
    assert json.loads(store.cursor or "")["pass"]["phase"] == "events"
    assert json.loads(store.cursor or "")["since"] == json.loads(before or "")["since"]


# -- amounts, Connect, API version ------------------------------------------------------------


def test_zero_decimal_and_two_decimal_currencies(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    yen = fake.add_invoice(created=T0 - DAY, currency="jpy", total=1500)
    euro = fake.add_invoice(created=T0 - DAY, currency="eur", total=1050, amount_paid=50)

    rows = {i.external_id: i for p in adapter.sync(conn, None) for i in p.invoices}

    assert str(rows[yen["id"]].total) == "1500 JPY"
    assert rows[yen["id"]].amount_due.amount == Decimal(1500)
    assert str(rows[euro["id"]].total) == "10.50 EUR"
    assert str(rows[euro["id"]].amount_due) == "10.00 EUR"
    assert rows[euro["id"]].status is InvoiceStatus.PARTIALLY_PAID


def test_connect_account_sends_stripe_account_and_sees_only_its_data(
    fake: FakeStripe, adapter: StripeAdapter, make_conn: Callable[..., ConnectionContext]
) -> None:
    platform_invoice = fake.add_invoice(created=T0 - DAY)
    connected = fake.add_invoice(created=T0 - DAY, account="acct_1Connected")

    pages = list(adapter.sync(make_conn(account="acct_1Connected"), None))

    assert [i.external_id for p in pages for i in p.invoices] == [connected["id"]]
    assert platform_invoice["id"] != connected["id"]
    assert all(c.headers.get("stripe-account") == "acct_1Connected" for c in fake.requests)


def test_every_request_pins_the_sdk_api_version(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    import stripe

    list(adapter.sync(conn, None))
    assert stripe.api_version == settings.API_VERSION  # the version stripe 16.1.0 pins
    assert [c.headers.get("stripe-version") for c in fake.requests] == [settings.API_VERSION]
    assert "stripe-account" not in fake.requests[0].headers


# -- through the core: what a page costs the store ---------------------------------------------


def test_a_sync_writes_pages_with_a_few_statements_each(
    services: Services,
    shop: Shop,
    fake: FakeStripe,
    clock: Clock,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten pages of 100 new invoices (100 customers) through sync_connection: the rows go in by
    executemany — no INSERT … RETURNING, whose multi-row VALUES SQLAlchemy rebuilds per batch —
    and a page costs at most 4 statements (invoices, their timeline, customers, reads)."""
    customers = [fake.add_customer(email=f"c{n}@example.com") for n in range(100)]
    for i in range(1000):
        fake.add_invoice(created=T0 - 2 * DAY + i, customer=customers[i % 100])
    with write_session(services.sessions) as s:
        row = Connection(
            shop_id=shop.id,
            platform="stripe",
            external_account="",
            credentials_enc=services.secrets.encrypt_json({"api_key": DEFAULT_API_KEY}),
            api_base=fake.url,
        )
        s.add(row)
        s.flush()
        connection_id = row.id
    adapters = {"stripe": StripeAdapter(sleep=sleeps, clock=clock, max_network_retries=0)}
    now = datetime.fromtimestamp(T0, tz=UTC)
    # Pages a few at a time whatever the machine's load (a slow page would be written alone).
    monkeypatch.setattr(connector.sync, "PROGRESS_EVERY_S", 3600.0)
    returning: list[str] = []

    def note(_conn: object, _cursor: object, text: str, *_: object) -> None:
        if "RETURNING" in text:
            returning.append(text[:80])

    event.listen(services.engine, "before_cursor_execute", note)
    try:
        with counting(services.engine) as counted:
            result = sync_connection(services, connection_id, now, adapters=adapters)
    finally:
        event.remove(services.engine, "before_cursor_execute", note)
    assert result.inserted == 1000 and result.pages >= 10
    with services.sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Invoice))
        entries = s.scalar(select(func.count()).select_from(TimelineEntry))
    assert stored == entries == 1000  # one "synced" entry per new invoice
    assert returning == []
    statements, _ = counted.per(result.pages)
    assert statements <= 4, (statements, counted.texts)
