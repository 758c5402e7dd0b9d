"""Fixtures: a fake Shopify on 127.0.0.1, a shared fake clock, connections that point at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema

from adapters.shopify import ShopifyAdapter, ShopifySettings
from connector.platform import ConnectionContext
from tests.support.fake_shopify import SCHEMA_PATH, FakeClock, FakeShopify, load_admin_schema

SHOP = "relance-test.myshopify.com"
CLIENT_ID = "client-id-1"
CLIENT_SECRET = "shpss_test_secret"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "shopify"


@pytest.fixture(scope="session")
def admin_schema() -> GraphQLSchema:
    return load_admin_schema(str(SCHEMA_PATH))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock, admin_schema: GraphQLSchema) -> Iterator[FakeShopify]:
    with FakeShopify(
        clock=clock, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, schema=admin_schema
    ) as server:
        yield server


@pytest.fixture
def saved() -> list[dict[str, Any]]:
    """Every credentials dict the adapter asked the core to store."""
    return []


MakeConn = Callable[..., ConnectionContext]


@pytest.fixture
def make_conn(fake: FakeShopify, clock: FakeClock, saved: list[dict[str, Any]]) -> MakeConn:
    def factory(
        *,
        token_ttl: float | None = 3600.0,
        store_expiry: bool = True,
        with_refresh_token: bool = True,
        save: Callable[[dict[str, Any]], None] | None = None,
        shop: str = SHOP,
        server: FakeShopify | None = None,
    ) -> ConnectionContext:
        target = server or fake
        pair = target.issue_token_pair(token_ttl)
        credentials: dict[str, Any] = {
            "shop": shop,
            "access_token": pair["access_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        if with_refresh_token:
            credentials["refresh_token"] = pair["refresh_token"]
        if store_expiry and token_ttl is not None:
            credentials["expires_at"] = (clock() + timedelta(seconds=token_ttl)).isoformat()
        return ConnectionContext(
            id=42,
            shop_id=1,
            platform="shopify",
            external_account=shop,
            credentials=credentials,
            webhook_secret=None,
            api_base=target.base_url,
            settings={},
            save_credentials=save or saved.append,
        )

    return factory


@pytest.fixture
def conn(make_conn: MakeConn) -> ConnectionContext:
    return make_conn()


@pytest.fixture
def settings() -> ShopifySettings:
    return ShopifySettings(page_size=2, max_retries=3)


@pytest.fixture
def adapter(settings: ShopifySettings, clock: FakeClock) -> ShopifyAdapter:
    return ShopifyAdapter(settings, sleep=clock.sleep, clock=clock)
