"""`relance serve`'s apply of stored deliveries: the intake only stores (one INSERT, then the
200) and wakes this thread, which applies what is pending in small set-based batches right
after (``apply_pending``). A payment still stops its reminders the moment it is acknowledged:
before a reminder goes out, the sender applies any stored, not yet applied delivery naming its
invoice, inside the transaction that marks it SENDING (``connector.dunning.send_batch``).

Small batches: on SQLite a batch holds the one writer while it applies, and a delivery
arriving meanwhile waits for it (the intake's own INSERT goes first at the writer gate, but
cannot cut into a transaction already open)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from connector.services import Services
from connector.webhooks.activity import IntakeActivity
from connector.webhooks.apply import apply_pending

log = logging.getLogger(__name__)

#: Events per transaction: a batch holds SQLite's writer a few tens of milliseconds at most.
PUMP_BATCH = 4
#: The longest a batch waits for a lull in deliveries (a storm delays the apply, never the
#: payment's effect: the sender applies a waiting payment itself before a reminder goes out).
PUMP_LULL_SECONDS = 0.5
#: Also wake this often without being told (a delivery stored by another process, a restart).
PUMP_IDLE_SECONDS = 2.0


class ApplyPump:
    """One thread that applies stored deliveries whenever :meth:`wake` says one arrived."""

    def __init__(
        self,
        svc: Services,
        *,
        batch: int = PUMP_BATCH,
        idle: float = PUMP_IDLE_SECONDS,
        activity: IntakeActivity | None = None,
    ) -> None:
        self.svc = svc
        self.activity = activity
        self.batch = batch
        self.idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """A delivery was stored (the intake's hot path: sets a flag, nothing more)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-pump", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch under way (its transaction commits or rolls back whole), then end;
        what is still pending stays in the store for the next start or the worker."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int:
        """Apply everything pending now, batch after batch; how many were applied."""
        done = 0
        while not self._stop.is_set():
            if self.activity is not None:  # deliveries first: a batch waits for a lull
                self.activity.lull(PUMP_LULL_SECONDS)
            applied = apply_pending(self.svc, datetime.now(UTC), batch=self.batch, max_batches=1)
            done += applied
            if applied < self.batch:
                break
        return done

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.idle)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except Exception:  # the events stay pending: the next wake (or the worker) retries
                log.exception("applying stored webhook deliveries failed")
