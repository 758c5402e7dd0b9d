"""The dunning runner as a deployment runs it: the engine (connector.dunning) with the webhook
apply step (connector.webhooks.apply) in front of each send.

It lives above both: the webhooks build on the services (sessions, secrets, settings), so the
services cannot make a runner that needs the webhooks without an import cycle. The CLI, the
scheduler, the owner's "send now", the demo, the tests and the benches make theirs here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from connector.dunning.deliver import StatusChecker
from connector.dunning.rendering import keep_compiled_templates
from connector.dunning.runner import DunningRunner, RunnerOptions
from connector.dunning.thank_you import ThankYouSender
from connector.mail.base import MailTransport
from connector.services import Services
from connector.webhooks.apply import apply_waiting


def dunning_runner(
    svc: Services,
    *,
    transport: MailTransport | None = None,
    status_checker: StatusChecker | None = None,
    concurrency: int | None = None,
    stopping: threading.Event | None = None,
    give_way: Callable[[], object] | None = None,
) -> DunningRunner:
    """The engine; before a reminder goes out, a payment stored for its invoice but not
    applied yet is applied (``apply_waiting``), whatever RELANCE_WEBHOOK_APPLY says. The
    shipped templates' compiled code is kept under the var dir (the next worker loads it)."""
    s = svc.settings
    keep_compiled_templates(s.var_dir / "compiled-templates")

    def waiting_payments(invoices: list[tuple[int, str]], now: datetime) -> int:
        return apply_waiting(svc, invoices, now)

    return DunningRunner(
        svc.sessions,
        transport or svc.transport(),
        RunnerOptions(
            letters_dir=s.letters_dir,
            claim_lease=timedelta(seconds=s.claim_lease_seconds),
            send_lease=timedelta(seconds=s.send_lease_seconds),
            concurrency=concurrency or s.send_concurrency,
            batch=s.tick_batch,
        ),
        status_checker=status_checker,
        waiting_payments=waiting_payments,
        stopping=stopping,
        give_way=give_way,
    )


def thank_you_sender(svc: Services, *, transport: MailTransport | None = None) -> ThankYouSender:
    """Sends the thank-yous payments recorded (the tick does too; so does its own job)."""
    return dunning_runner(svc, transport=transport).thank_you_sender()
