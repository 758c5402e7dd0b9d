"""The in-process apply after the commit, inline or on a background thread.

Inline: the answer waits for the apply (a 200 means the payment is in the books). Background:
the answer goes out once the delivery is stored; one thread per process applies in arrival
order. Worker: the web process only stores; the worker applies what is pending every couple of
seconds and before every tick (for many web processes under load). Whatever the mode, a web
process never calls a platform: an event that needs its answer (``resolve``) stays PENDING for the
worker. A crash loses nothing: what is not applied stays PENDING/FAILED in the store and the
worker applies it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime

from connector.platform import NormalizedEvent
from connector.services import Services
from connector.store.db import bounded_writes
from connector.webhooks.apply import Parsed, apply_stored
from connector.webhooks.registry import AdapterRegistry

log = logging.getLogger(__name__)

_Job = tuple[int, datetime, Parsed]
#: `relance serve`'s pump told of a stored delivery: its id and the intake's parse of it.
OnStored = Callable[[int, NormalizedEvent | None], None]
#: How long an inline apply waits for SQLite's writer before leaving the event to the worker.
INLINE_APPLY_WAIT = 1.0


class Applier:
    def __init__(
        self,
        svc: Services,
        registry: AdapterRegistry,
        *,
        background: bool,
        store_only: bool = False,
        on_stored: OnStored | None = None,
    ) -> None:
        self.svc = svc
        self.on_stored = on_stored
        self.registry = registry
        self.background = background
        self.store_only = store_only
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, event_id: int, now: datetime, parsed: Parsed) -> None:
        if self.store_only:
            if self.on_stored is not None:  # `relance serve`: its pump applies it right after
                self.on_stored(event_id, parsed.platform)
            return  # else the worker applies it (connector.scheduler)
        if not self.background:
            # Inline, the answer waits for the apply: a bounded wait for the writer; past it
            # the event stays PENDING (stored, answered 200) for the retry job and the tick.
            with bounded_writes(INLINE_APPLY_WAIT):
                apply_stored(self.svc, self.registry, event_id, now, parsed, may_ask_platform=False)
            return
        self._ensure_thread()
        self._queue.put((event_id, now, parsed))

    def drain(self, timeout: float | None = None) -> None:
        """Wait until everything submitted so far is applied (tests, benchmarks, shutdown)."""
        if self.background and self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:  # started lazily: after a pre-fork server forked us
                self._thread = threading.Thread(
                    target=self._run, name="webhook-applier", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                apply_stored(self.svc, self.registry, *job, may_ask_platform=False)
            except Exception:  # apply_stored records failures itself; never kill the thread
                log.exception("webhook applier")
            finally:
                self._queue.task_done()
