"""`relance serve`'s apply of stored deliveries: the intake only stores (one INSERT, then the
200) and wakes this thread, which applies what is pending in small set-based batches right
after (``apply_pending``). A payment still stops its reminders the moment it is acknowledged:
before a reminder goes out, the sender applies any stored, not yet applied delivery naming its
invoice, inside the transaction that marks it SENDING (``connector.dunning.send_batch``).

Small batches: on SQLite a batch holds the one writer while it applies, and a delivery
arriving meanwhile waits for it (the intake's own INSERT goes first at the writer gate, but
cannot cut into a transaction already open). Not too small either: a transaction's own cost is
most of what applying a few events costs, so during a storm the pump lets a batch's worth of
deliveries gather (a bounded wait) rather than applying each one or two on their own."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from connector.platform import NormalizedEvent
from connector.services import Services
from connector.webhooks.activity import IntakeActivity
from connector.webhooks.apply import apply_pending

log = logging.getLogger(__name__)

#: Events per transaction. A transaction's own cost (its ~10 statements, whatever the number of
#: events) is most of what applying a few events costs: measured, 4.5 ms CPU per event one at a
#: time, 1.3 ms four at a time, 0.5 ms sixteen at a time — and a batch of sixteen holds SQLite's
#: writer hardly longer than one of four (bench/intake_sqlite.py).
PUMP_BATCH = 16
#: During a storm, the longest the pump waits for a batch's worth of stored deliveries before it
#: applies what there is (a quiet store: applied at once).
PUMP_GATHER_SECONDS = 0.25
#: The longest a batch waits for a lull in deliveries (a storm delays the apply, never the
#: payment's effect: the sender applies a waiting payment itself before a reminder goes out).
PUMP_LULL_SECONDS = 0.5
#: At most this many of the intake's parses are kept for the pump (a bound, not a target: the
#: pump takes each out as it applies it).
PARSED_KEPT = 1024
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
        gather: float = PUMP_GATHER_SECONDS,
        activity: IntakeActivity | None = None,
    ) -> None:
        self.svc = svc
        self.activity = activity
        self.batch = batch
        self.idle = idle
        self.gather = gather
        self._stored = 0  # deliveries stored since the pump last looked (a hint, not a count)
        # The intake's parse of each delivery it stored, taken out as the pump applies it (one
        # it does not find there, stored by another process or applied by a sender, it parses).
        self._parsed: dict[int, NormalizedEvent] = {}
        self._woken = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self, event_id: int | None = None, event: NormalizedEvent | None = None) -> None:
        """A delivery was stored (the intake's hot path: a counter, and the intake's parse of
        it kept for the apply; the pump's thread is woken by the first delivery and when a
        batch's worth is waiting, not by every one)."""
        with self._woken:
            if event_id is not None and event is not None:
                if len(self._parsed) >= PARSED_KEPT:  # left there by events others applied
                    self._parsed.clear()
                self._parsed[event_id] = event
            self._stored += 1
            if self._stored == 1 or self._stored >= self.batch:
                self._woken.notify()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-pump", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch under way (its transaction commits or rolls back whole), then end;
        what is still pending stays in the store for the next start or the worker."""
        self._stop.set()
        with self._woken:
            self._woken.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int:
        """Apply everything pending now, batch after batch; how many were applied."""
        done = 0
        while not self._stop.is_set():
            if self.activity is not None:  # deliveries first: a batch waits for a lull
                self.activity.lull(PUMP_LULL_SECONDS)
            applied = apply_pending(
                self.svc, datetime.now(UTC), batch=self.batch, max_batches=1, parsed=self._parsed
            )
            done += applied
            if applied < self.batch:
                break
        return done

    def _gather(self) -> None:
        """While deliveries are being received, wait (bounded) for a batch's worth of them: one
        transaction then applies sixteen instead of two or three, for about the same cost."""
        if self.activity is None:
            return
        deadline = time.monotonic() + self.gather
        with self._woken:
            while self._stored < self.batch and self.activity.busy and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._woken.wait(remaining)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._woken:
                self._woken.wait_for(lambda: self._stored > 0 or self._stop.is_set(), self.idle)
            if self._stop.is_set():
                return
            self._gather()
            with self._woken:
                self._stored = 0
            try:
                self.run_once()
            except Exception:  # the events stay pending: the next wake (or the worker) retries
                log.exception("applying stored webhook deliveries failed")
