"""Expiring offline tokens: refresh before expiry, on 401, persisted through save_credentials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from adapters.shopify import ShopifyAdapter
from adapters.shopify.auth import needs_refresh, parse_expiry
from adapters.shopify.exceptions import ShopifyCredentialStorageError
from connector.platform import AdapterAuthError, AdapterError, ConnectionContext, SyncPage
from tests.adapters.shopify.conftest import CLIENT_ID, CLIENT_SECRET, MakeConn
from tests.support.fake_shopify import FakeClock, FakeShopify, make_order


def _orders(fake: FakeShopify, count: int = 6) -> list[str]:
    fake.add_orders(
        *(make_order(500 + i, updated_at=f"2026-03-01T0{i}:00:00+01:00") for i in range(count))
    )
    return [str(500 + i) for i in range(count)]


def _ids(pages: list[SyncPage]) -> list[str]:
    return [i.external_id for p in pages for i in p.invoices]


def test_token_expiring_mid_sync_is_refreshed_saved_and_sync_completes(
    adapter: ShopifyAdapter,
    make_conn: MakeConn,
    fake: FakeShopify,
    clock: FakeClock,
    saved: list[dict[str, Any]],
) -> None:
    expected = _orders(fake)
    fake.refreshed_token_ttl = 600  # refreshed pairs are short-lived here
    conn = make_conn(token_ttl=3600)
    original = dict(conn.credentials)
    start = clock()
    pages: list[SyncPage] = []

    for page in adapter.sync(conn, None):
        pages.append(page)
        clock.advance(3400 if len(pages) == 1 else 590)  # the core takes its time per page

    assert _ids(pages) == expected
    # two refreshes: 200 s before the first expiry, 10 s before the second
    assert [r["grant_type"] for r in fake.refresh_requests] == ["refresh_token"] * 2
    first_refresh = fake.refresh_requests[0]
    assert first_refresh == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": original["refresh_token"],
    }
    assert fake.refresh_requests[1]["refresh_token"] == saved[0]["refresh_token"]
    assert len(saved) == 2
    first, second = saved
    assert first["access_token"] != original["access_token"]
    assert first["refresh_token"] != original["refresh_token"]
    assert parse_expiry(first["expires_at"]) == start + timedelta(seconds=3400 + 600)
    assert parse_expiry(second["expires_at"]) == start + timedelta(seconds=3400 + 590 + 600)
    assert "refresh_token_expires_at" in first
    assert first["client_secret"] == CLIENT_SECRET and first["shop"] == original["shop"]
    assert conn.credentials == second
    # pages 2 and 3 went out with the token of the refresh just before them
    tokens = [r["token"] for r in fake.graphql_requests]
    assert tokens == [original["access_token"], first["access_token"], second["access_token"]]
    assert "401" not in fake.responses


def test_refreshed_expiry_is_now_plus_expires_in(
    adapter: ShopifyAdapter,
    make_conn: MakeConn,
    fake: FakeShopify,
    clock: FakeClock,
    saved: list[dict[str, Any]],
) -> None:
    _orders(fake, 1)
    fake.refreshed_token_ttl = 600
    conn = make_conn(token_ttl=60)  # already inside the 5-minute margin

    list(adapter.sync(conn, None))

    assert len(saved) == 1
    assert parse_expiry(saved[0]["expires_at"]) == clock() + timedelta(seconds=600)
    assert parse_expiry(saved[0]["refresh_token_expires_at"]) == clock() + timedelta(
        seconds=7776000
    )
    # refreshed before the first call: Shopify never saw the old token
    assert [r["token"] for r in fake.graphql_requests] == [saved[0]["access_token"]]


def test_401_mid_sync_triggers_one_refresh_and_a_retry(
    adapter: ShopifyAdapter, make_conn: MakeConn, fake: FakeShopify, saved: list[dict[str, Any]]
) -> None:
    expected = _orders(fake)
    conn = make_conn(token_ttl=None)  # no expires_at: only a 401 reveals the expiry
    fake.script("ok", "expire_token")

    pages = list(adapter.sync(conn, None))

    assert _ids(pages) == expected
    assert fake.responses[:3] == ["ok", "401", "ok"]
    assert len(fake.refresh_requests) == 1
    assert len(saved) == 1
    assert fake.graphql_requests[2]["token"] == saved[0]["access_token"]
    assert fake.graphql_requests[2]["variables"] == fake.graphql_requests[1]["variables"]


def test_401_again_after_refresh_is_an_auth_error(
    adapter: ShopifyAdapter, make_conn: MakeConn, fake: FakeShopify
) -> None:
    _orders(fake)
    fake.refreshed_token_ttl = 0  # Shopify hands out tokens that are already dead
    conn = make_conn(token_ttl=None)
    fake.script("expire_token")

    with pytest.raises(AdapterAuthError):
        list(adapter.sync(conn, None))

    assert len(fake.refresh_requests) == 1
    assert fake.responses == ["401", "401"]


def test_refused_refresh_token_is_an_auth_error_and_nothing_is_saved(
    adapter: ShopifyAdapter,
    make_conn: MakeConn,
    fake: FakeShopify,
    saved: list[dict[str, Any]],
) -> None:
    _orders(fake)
    conn = make_conn(token_ttl=60)
    fake.refresh_tokens.clear()  # revoked (app uninstalled, or 90 days unused)

    with pytest.raises(AdapterAuthError, match="invalid_grant"):
        list(adapter.sync(conn, None))

    assert saved == []
    assert fake.graphql_requests == []


def test_without_refresh_token_a_401_is_an_auth_error(
    adapter: ShopifyAdapter, make_conn: MakeConn, fake: FakeShopify
) -> None:
    _orders(fake)
    conn = make_conn(token_ttl=None, with_refresh_token=False)
    fake.script("expire_token")

    with pytest.raises(AdapterAuthError):
        list(adapter.sync(conn, None))

    assert fake.refresh_requests == []


def test_a_pair_that_cannot_be_saved_is_not_used(
    adapter: ShopifyAdapter, make_conn: MakeConn, fake: FakeShopify
) -> None:
    _orders(fake)

    def broken_store(_: dict[str, Any]) -> None:
        raise RuntimeError("database is locked")

    conn = make_conn(token_ttl=60, save=broken_store)
    before = dict(conn.credentials)

    with pytest.raises(ShopifyCredentialStorageError) as caught:
        list(adapter.sync(conn, None))

    assert isinstance(caught.value, AdapterError)
    assert not isinstance(caught.value, AdapterAuthError)  # not the owner's fault
    assert conn.credentials == before
    assert fake.graphql_requests == []  # the new token never went out
    assert len(fake.refresh_requests) == 1


def test_fetch_status_refreshes_too(
    adapter: ShopifyAdapter, make_conn: MakeConn, fake: FakeShopify, saved: list[dict[str, Any]]
) -> None:
    _orders(fake, 1)
    conn = make_conn(token_ttl=10)

    invoice = adapter.fetch_status(conn, "500")

    assert invoice is not None and invoice.external_id == "500"
    assert len(saved) == 1


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({"refresh_token": "r", "expires_at": "2026-03-06T12:04:59+00:00"}, True),
        ({"refresh_token": "r", "expires_at": "2026-03-06T12:05:01+00:00"}, False),
        ({"refresh_token": "r", "expires_at": "2026-03-06T07:04:00-05:00"}, True),
        ({"refresh_token": "r", "expires_at": "2026-03-06T13:04:00+01:00"}, True),
        ({"refresh_token": "r", "expires_at": "2026-03-06T12:04:00"}, True),  # naive = UTC
        ({"refresh_token": "r", "expires_at": 1772798640}, True),  # epoch 12:04Z
        ({"refresh_token": "r"}, False),
        ({"expires_at": "2026-03-06T11:00:00+00:00"}, False),  # nothing to refresh with
    ],
)
def test_needs_refresh(credentials: dict[str, Any], expected: bool, clock: FakeClock) -> None:
    assert needs_refresh(credentials, clock(), timedelta(minutes=5)) is expected


def test_connection_context_is_updated_in_place(
    adapter: ShopifyAdapter, make_conn: MakeConn, fake: FakeShopify
) -> None:
    _orders(fake, 1)
    conn: ConnectionContext = make_conn(token_ttl=30)
    old_token = conn.credentials["access_token"]

    list(adapter.sync(conn, None))
    list(adapter.sync(conn, None))  # the second sync reuses the refreshed pair

    assert conn.credentials["access_token"] != old_token
    assert len(fake.refresh_requests) == 1
