"""Applying stored payment deliveries, as `relance worker` does (``apply_pending``): signed
Stripe ``invoice.paid`` deliveries stored by the real intake (store-only mode), then applied in
batches on PostgreSQL (SQLite when no server answers): the invoice update, the payment row, the
cancellation of pending reminders, the timeline. Target: >= 1,000 payments/s per worker, <= 1 ms
CPU each. Naive baseline, same run: one event at a time (``apply_stored`` per id)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from bench.common import Figure, Meter, Usage, postgres_database, report, scratch_services
from bench.intake import seed_deliveries
from connector.services import Services
from connector.store.models import Payment, WebhookEvent, WebhookOutcome
from connector.webhooks.apply import apply_pending, apply_stored
from connector.webhooks.intake import WebhookIntake
from connector.webhooks.registry import AdapterRegistry
from tests.support.webhooks import stripe_headers


def _store(svc: Services, count: int, tag: str) -> None:
    """``count`` deliveries through the real intake, stored and not applied (worker mode)."""
    conn_id, bodies = seed_deliveries(svc, count, tag)
    intake = WebhookIntake(svc)
    for body in bodies:
        result = intake.receive("stripe", conn_id, stripe_headers(body), body)
        assert result.status == 200, result


def _applied(svc: Services) -> int:
    with svc.sessions() as s:
        payments = s.scalar(select(func.count()).select_from(Payment)) or 0
        left = s.scalar(
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.outcome == WebhookOutcome.PENDING)
        )
    assert left == 0, f"{left} deliveries left pending"
    return payments


def run(count: int, *, naive: bool) -> tuple[float, Usage, str]:
    with postgres_database() as url, scratch_services(url, RELANCE_WEBHOOK_APPLY="worker") as svc:
        _store(svc, count, "naive" if naive else "batch")
        now = datetime.now(UTC)
        meter = Meter(svc.engine).start()
        started = time.perf_counter()
        if naive:
            registry = AdapterRegistry()
            with svc.sessions() as s:
                ids = list(s.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)))
            for event_id in ids:
                apply_stored(svc, registry, event_id, now)
        else:
            apply_pending(svc, now, max_batches=10_000)
        seconds = time.perf_counter() - started
        usage = meter.stop()
        meter.close()
        assert _applied(svc) == count
        return count / seconds, usage, svc.engine.dialect.name


def main(quick: bool = False) -> list[Figure]:
    count = 1000 if quick else 5000
    print(f"applying {count:,} stored payment deliveries…", file=sys.stderr)
    naive, naive_usage, _ = run(max(200, count // 5), naive=True)
    rate, usage, dialect = run(count, naive=False)
    return [
        Figure(
            f"apply, naive baseline: one event at a time ({dialect})",
            naive,
            "payments/s",
            usage=naive_usage,
            items=max(200, count // 5),
        ),
        Figure(
            f"apply stored payments, one worker ({dialect})",
            rate,
            "payments/s",
            baseline=naive,
            target=">= 1,000/s, <= 1 ms CPU each",
            usage=usage,
            items=count,
        ),
    ]


if __name__ == "__main__":
    report(main())
