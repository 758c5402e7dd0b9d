"""Fixtures: a fake clock shared by the adapter and the local Stripe, the server, connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.stripe import StripeAdapter
from connector.platform import ConnectionContext
from tests.support.fake_stripe import DEFAULT_API_KEY, FakeStripe

T0 = 1_760_000_000  # 2025-10-09T08:53:20Z
DAY = 86400


class Clock:
    """A settable clock (seconds since the epoch), callable like ``time.time``."""

    def __init__(self, now: float = T0) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
def fake(clock: Clock) -> Iterator[FakeStripe]:
    with FakeStripe(clock=clock) as server:
        yield server


@pytest.fixture
def adapter(clock: Clock, sleeps: Sleeps) -> StripeAdapter:
    return StripeAdapter(sleep=sleeps, clock=clock, max_network_retries=0)


@pytest.fixture
def make_conn(fake: FakeStripe) -> Callable[..., ConnectionContext]:
    def make(
        *,
        api_key: str = DEFAULT_API_KEY,
        account: str | None = None,
        webhook_secret: str | None = None,
        conn_id: int = 7,
    ) -> ConnectionContext:
        credentials: dict[str, Any] = {"api_key": api_key}
        if account:
            credentials["account"] = account
        return ConnectionContext(
            id=conn_id,
            shop_id=1,
            platform="stripe",
            external_account=account or "",
            credentials=credentials,
            webhook_secret=webhook_secret,
            api_base=fake.url,
            settings={},
        )

    return make


@pytest.fixture
def conn(make_conn: Callable[..., ConnectionContext]) -> ConnectionContext:
    return make_conn()
