"""The core finds the adapter through the relance.adapters entry point, never by import."""

from __future__ import annotations

from importlib.metadata import entry_points

from adapters.shopify import ShopifyAdapter
from connector.platform import ENTRY_POINT_GROUP, PlatformAdapter, load_adapters


def test_entry_point_loads_the_adapter() -> None:
    (ep,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "shopify"]
    factory = ep.load()
    assert factory is ShopifyAdapter
    adapter = factory()
    assert isinstance(adapter, PlatformAdapter)
    assert adapter.platform == "shopify"


def test_load_adapters_finds_shopify() -> None:
    adapters = load_adapters()
    assert isinstance(adapters["shopify"], ShopifyAdapter)
    assert isinstance(adapters["shopify"], PlatformAdapter)


def test_credential_fields() -> None:
    fields = {f.name: f for f in ShopifyAdapter.credential_fields}
    assert list(fields) == [
        "shop",
        "access_token",
        "refresh_token",
        "expires_at",
        "client_id",
        "client_secret",
    ]
    assert [f.name for f in fields.values() if f.is_account] == ["shop"]
    assert {n for n, f in fields.items() if not f.required} == {"refresh_token", "expires_at"}
    assert {n for n, f in fields.items() if f.secret} == {
        "access_token",
        "refresh_token",
        "client_secret",
    }
