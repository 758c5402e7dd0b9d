"""Bounded exponential backoff with jitter, for adapters retrying a throttled platform API.

Part of the adapter toolkit the core offers (like the error tree in ``connector.platform``):
each adapter picks its own budget in its settings."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` after the first attempt, doubling from ``base_delay`` up to ``max_delay``;
    ``sleep`` is injectable for tests."""

    sleep: Sleep
    retries: int
    base_delay: float
    max_delay: float
    rng: Callable[[], float] = random.random

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        backoff *= 0.5 + self.rng() / 2  # jitter: spread clients that were throttled together
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_delay))
        return backoff
