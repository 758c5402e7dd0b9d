"""APScheduler is only the clock. A UTC scheduler with an in-memory job store and a few fixed
jobs; what is due lives in the database (``next_action_at``), and correctness never depends
on there being a single scheduler (the claims in the store do). Never started at import time,
nor in web workers: only `relance worker` and `relance serve` build one.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector import sync
from connector.runners import dunning_runner, thank_you_sender
from connector.services import Services
from connector.webhooks.apply import apply_pending, retry_pending

log = logging.getLogger(__name__)

REQUESTED_SYNC_SECONDS = 3  # how soon "sync now" starts
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 120}


def _safe(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:  # a failing job must not kill the clock; the next run retries
            log.exception("job %s failed", name)

    return run


def dunning_tick(
    svc: Services,
    stopping: threading.Event | None = None,
    give_way: Callable[[], object] | None = None,
) -> None:
    apply_pending(svc, datetime.now(UTC))  # a payment stored but not yet applied counts first

    runner = dunning_runner(
        svc, status_checker=sync.status_checker(svc), stopping=stopping, give_way=give_way
    )
    report = runner.tick(datetime.now(UTC))
    if report.outcomes:
        log.info("tick: %s", report.counts())


def send_thank_yous(svc: Services) -> None:
    """Thank-yous recorded with payments; the tick sends them too, this keeps them prompt
    while a long tick is busy with reminders (the claims keep each one sent at most once)."""
    outcomes = thank_you_sender(svc).run(datetime.now(UTC))
    if outcomes:
        log.info("thank-yous: %s", dict(Counter(o.outcome for o in outcomes)))


def sync_due_connections(svc: Services) -> None:
    """Each connection on its own interval; filled in by the platform adapters."""
    sync.sync_due(svc, datetime.now(UTC))


def requested_syncs(svc: Services) -> None:
    """The owners' "sync now" (the web only sets the flag; the worker runs the sync)."""
    sync.sync_requested(svc, datetime.now(UTC))


def nightly_reconciliation(svc: Services) -> None:
    """Re-read what changed on each platform since the last webhook applied."""
    sync.reconcile_all(svc, datetime.now(UTC))


def apply_stored_webhooks(svc: Services) -> None:
    """RELANCE_WEBHOOK_APPLY=worker: the web processes only store; this applies, in order."""
    apply_pending(svc, datetime.now(UTC))


def retry_webhooks(svc: Services) -> None:
    """Apply what the intake stored but could not apply (crash, database hiccup, bug)."""
    counts = retry_pending(svc, datetime.now(UTC))
    if counts:
        log.info("webhook retries: %s", counts)


def build_scheduler(
    svc: Services,
    *,
    blocking: bool,
    own_pump: bool = False,
    stopping: threading.Event | None = None,
    give_way: Callable[[], object] | None = None,
) -> BaseScheduler:
    """``own_pump``: the process applies stored deliveries itself as they arrive (`relance
    serve`, connector.webhooks.pump), so no periodic apply job competes with it. ``stopping``:
    set on SIGTERM, a tick under way claims nothing more and ends once its sends are done.
    ``give_way``: the tick calls it before each claim and batch (serve: a lull in deliveries)."""
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler: BaseScheduler = cls(timezone=UTC, job_defaults=JOB_DEFAULTS)
    scheduler.add_job(
        _safe("dunning_tick", lambda: dunning_tick(svc, stopping, give_way)),
        IntervalTrigger(minutes=1, timezone=UTC),
        id="dunning_tick",
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        _safe("thank_you", lambda: send_thank_yous(svc)),
        IntervalTrigger(minutes=1, timezone=UTC),
        id="thank_you",
    )
    scheduler.add_job(
        _safe("sync", lambda: sync_due_connections(svc)),
        IntervalTrigger(minutes=1, timezone=UTC),
        id="sync",
    )
    scheduler.add_job(
        _safe("sync_requested", lambda: requested_syncs(svc)),
        IntervalTrigger(seconds=REQUESTED_SYNC_SECONDS, timezone=UTC),
        id="sync_requested",
    )
    scheduler.add_job(
        _safe("webhook_retry", lambda: retry_webhooks(svc)),
        IntervalTrigger(minutes=1, timezone=UTC),
        id="webhook_retry",
    )
    if svc.settings.webhook_apply == "worker" and not own_pump:
        scheduler.add_job(
            _safe("webhook_apply", lambda: apply_stored_webhooks(svc)),
            IntervalTrigger(seconds=2, timezone=UTC),
            id="webhook_apply",
        )
    scheduler.add_job(
        _safe("reconciliation", lambda: nightly_reconciliation(svc)),
        CronTrigger(hour=3, minute=17, timezone=UTC),
        id="reconciliation",
    )
    return scheduler
