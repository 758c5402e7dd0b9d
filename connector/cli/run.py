from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from datetime import date
from types import FrameType

import click

from connector.actions.shops import list_shops
from connector.cli.common import (
    CLI_LANGUAGE,
    check_secrets_at_start,
    emit,
    json_option,
    services,
)
from connector.config import Settings
from connector.demo import DEMO_DAYS, DemoPayment, DemoReport, run_demo
from connector.domain.dates import long_date
from connector.domain.phrases import step_name
from connector.store.migrate import upgrade

NO_SHOP_YET = (
    "No shop yet: open the page to create your owner account and shop, or from the command line"
    " `relance shop create --name … --email …` (or try `relance demo`)."
)

#: Seconds a thread may hold the interpreter lock before another is let in (Python: 0.005).
SERVE_SWITCH_INTERVAL = 0.001
#: The longest the tick waits for a lull in webhook deliveries before each claim and batch.
TICK_LULL_SECONDS = 0.25


def register(cli: click.Group) -> None:
    @cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=int)
    def serve(host: str, port: int) -> None:
        """The pages + webhooks + one scheduler in one process (the embedded default). On an empty
        store the first page creates the owner account, then the shop."""
        # Loaded when the command runs, not by every `relance …` (no import cycle here).
        from waitress import create_server

        from connector.scheduler import build_scheduler
        from connector.web import create_app
        from connector.webhooks.activity import IntakeActivity
        from connector.webhooks.pump import ApplyPump
        from connector.webhooks.routes import ServeHooks, attach_serve

        _logging()
        # Web requests and the tick's threads share one interpreter lock: a thread holding
        # SQLite's writer gets it back sooner when the others give it up more often.
        sys.setswitchinterval(SERVE_SWITCH_INTERVAL)
        with services(needs_store=False, adjust=Settings.for_serve) as svc:
            upgrade(svc.settings.database_url)
            check_secrets_at_start(svc)
            if not list_shops(svc):  # no shop is made behind the owner's back
                click.echo(NO_SHOP_YET)
            pumped = svc.settings.webhook_apply == "worker"  # stored by the intake, applied here
            stopping = threading.Event()
            activity = IntakeActivity()
            scheduler = build_scheduler(
                svc,
                blocking=False,
                own_pump=pumped,
                stopping=stopping,
                give_way=lambda: activity.lull(TICK_LULL_SECONDS),
            )
            app = create_app(services=svc)
            pump = ApplyPump(svc, activity=activity)
            attach_serve(app, ServeHooks(activity, pump.wake if pumped else None))
            # waitress: one I/O loop holds every connection, a few threads run requests — few
            # threads competing with the tick's senders for the interpreter lock, so a writer
            # holding SQLite's lock gets it back quickly (werkzeug's dev server: a thread each).
            server = create_server(
                app,
                host=host,
                port=port,
                threads=svc.settings.serve_threads,
                ident="relance",
            )
            signal.signal(signal.SIGTERM, _stop)
            scheduler.start()
            if pumped:
                pump.start()
            click.echo(f"Relance on http://{host}:{port} (scheduler running; Ctrl-C stops)")
            try:
                server.run()
            except (KeyboardInterrupt, SystemExit):
                pass
            finally:
                stopping.set()  # a tick under way ends with the sends already started
                server.close()
                pump.stop()
                scheduler.shutdown(wait=True)

    @cli.command("web")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=int)
    @click.option(
        "--workers",
        default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")),
        show_default="WEB_CONCURRENCY or 2",
        type=click.IntRange(min=1),
    )
    def web(host: str, port: int, workers: int) -> None:
        """The web half only (settings page and webhooks) in gunicorn processes; no scheduler."""
        from connector.web.server import serve_gunicorn

        _logging()
        with services() as svc:  # checked once here, before the workers fork
            check_secrets_at_start(svc)
        serve_gunicorn(host, port, workers)

    @cli.command("demo")
    @click.option(
        "--days",
        default=DEMO_DAYS,
        show_default=True,
        type=click.IntRange(1, 60),
        help="Business days to simulate.",
    )
    @json_option
    def demo(days: int, as_json: bool) -> None:
        """The demo shop (made once): its invoices synced from local Stripe, Shopify and
        WooCommerce servers through the real adapters, the next business days run at 10:00 shop
        time (each reminder written to the outbox folder and listed), and one invoice paid by a
        signed Stripe webhook posted to the app. Running it again sends nothing twice."""
        from connector.web import create_app

        with services(needs_store=False) as svc:
            upgrade(svc.settings.database_url)
            report = run_demo(svc, create_app(services=svc), days=days)
        emit(as_json, report.as_dict(), lambda: _demo_text(report))

    @cli.command("worker")
    def worker() -> None:
        """The worker half: a UTC blocking scheduler (tick every minute, syncs, reconciliation)."""
        from connector.scheduler import build_scheduler

        _logging()
        with services() as svc:
            check_secrets_at_start(svc)
            click.echo("Relance worker running (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt, SystemExit):
                build_scheduler(svc, blocking=True).start()


def _demo_text(report: DemoReport) -> str:
    first, last = (long_date(d, CLI_LANGUAGE) for d in (report.days[0], report.days[-1]))
    made = "created" if report.created else "reused"
    lines = [f"demo shop {report.shop_id} ({made})"]
    for sync in report.syncs:
        lines.append(
            f"  {sync.platform:<12} connection {sync.connection}: {sync.invoices} invoice(s) "
            f"synced through the adapter, {sync.inserted} new"
        )
    lines.append(
        f"{len(report.days)} business days simulated, {first} to {last}, at 10:00 {report.timezone}"
    )
    events: list[tuple[date, int, str]] = []
    for send in report.sends:
        what, subject = send.recipient or "", send.subject or ""
        if send.outcome == "letter":
            what, subject = "letter to post", f"PDF: relance letters list --shop {report.shop_id}"
        day, step = long_date(send.day, CLI_LANGUAGE), step_name(send.step, CLI_LANGUAGE)
        line = f"  {day:<17} {send.invoice:<9} {step:<18} {what:<26} {subject}"
        events.append((send.day, 0, line))
    if report.payment is not None:
        events.append((report.payment.day, 1, _payment_text(report.payment)))
    lines += [line for _, _, line in sorted(events, key=lambda e: (e[0], e[1]))]
    if report.sends:
        lines.append(f"{len(report.sends)} reminder(s); emails written to {report.outbox}")
    else:
        lines.append(f"nothing new: every step due by {last} was sent by an earlier run")
    lines.append(f"to open the page: {report.sign_in}")
    return "\n".join(lines)


def _payment_text(payment: DemoPayment) -> str:
    head = (
        f"  {long_date(payment.day, CLI_LANGUAGE):<17} {payment.invoice:<9} "
        f"paid: {payment.platform} {payment.topic} "
        f"POST {payment.url} -> {payment.http_status}"
    )
    if payment.already_paid:
        return f"{head}; already paid on an earlier run, nothing changed"
    if payment.status == "paid":
        return f"{head}; sequence closed, no reminder after this"
    return f"{head}; invoice now {payment.status}"


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops `relance serve` as Ctrl-C does: the scheduler finishes its job first."""
    raise SystemExit(0)


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("RELANCE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The clock's own chatter ("Running job … executed successfully" for every job, every
    # minute) drowns what the jobs say; its warnings and errors still show.
    # Likewise the platform SDKs' request lines ("Request to Stripe api" per page of a sync).
    for chatty in ("apscheduler", "stripe", "shopify", "urllib3", "alembic.runtime.migration"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
