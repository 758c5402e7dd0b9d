"""Fixtures: a fake clock shared by the adapter and the local WooCommerce, the server,
connections that point at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.woocommerce import WooCommerceAdapter
from connector.platform import ConnectionContext
from tests.support.fake_woocommerce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SITE_URL,
    FakeWooCommerce,
)

T0 = 1_760_000_000  # 2025-10-09T08:53:20Z
DAY = 86400
WEBHOOK_SECRET = "whsec-relance-woo"


class Clock:
    """A settable clock (seconds since the epoch), callable like ``time.time``."""

    def __init__(self, now: float = T0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)


class Sleeps(list[float]):
    """Records the adapter's backoff sleeps instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce(clock=clock) as server:
        yield server


@pytest.fixture
def adapter(clock: Clock, sleeps: Sleeps) -> WooCommerceAdapter:
    return WooCommerceAdapter(sleep=sleeps, clock=clock.utc)


MakeConn = Callable[..., ConnectionContext]


@pytest.fixture
def make_conn(fake: FakeWooCommerce) -> MakeConn:
    def make(
        *,
        consumer_secret: str = CONSUMER_SECRET,
        webhook_secret: str | None = WEBHOOK_SECRET,
        settings: dict[str, Any] | None = None,
        conn_id: int = 7,
    ) -> ConnectionContext:
        return ConnectionContext(
            id=conn_id,
            shop_id=1,
            platform="woocommerce",
            external_account=SITE_URL,
            credentials={
                "site_url": SITE_URL,
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": consumer_secret,
            },
            webhook_secret=webhook_secret,
            api_base=fake.url,
            settings=settings or {},
        )

    return make


@pytest.fixture
def conn(make_conn: MakeConn) -> ConnectionContext:
    return make_conn()
