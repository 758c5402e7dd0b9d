"""Deliveries being received right now, so that `relance serve`'s background work gives them
the way: web requests, the pump and the tick's threads share one process, one interpreter lock
and SQLite's one writer. The pump and the tick wait for a lull between deliveries before each
batch — a bounded wait, so a steady storm slows them down without ever stopping them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class IntakeActivity:
    def __init__(self) -> None:
        self._receiving = 0
        self._idle = threading.Condition()

    @contextmanager
    def receiving(self) -> Iterator[None]:
        """Around one delivery's handling (a request thread)."""
        with self._idle:
            self._receiving += 1
        try:
            yield
        finally:
            with self._idle:
                self._receiving -= 1
                if not self._receiving:
                    self._idle.notify_all()

    def lull(self, max_wait: float) -> float:
        """Wait until no delivery is being received, at most ``max_wait`` seconds; returns how
        long it waited."""
        start = time.monotonic()
        with self._idle:
            self._idle.wait_for(lambda: not self._receiving, timeout=max_wait)
        return time.monotonic() - start

    @property
    def busy(self) -> bool:
        return self._receiving > 0
