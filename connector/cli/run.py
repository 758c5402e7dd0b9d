from __future__ import annotations

import contextlib
import logging
import os
import signal
from types import FrameType

import click

from connector.cli.common import emit, json_option, services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.migrate import upgrade
from connector.store.models import Shop


def register(cli: click.Group) -> None:
    @cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=int)
    def serve(host: str, port: int) -> None:
        """Settings page + webhooks + one scheduler in one process (the embedded default)."""
        from waitress import create_server

        from connector.scheduler import build_scheduler
        from connector.web import create_app

        _logging()
        with services() as svc:
            upgrade(svc.settings.database_url)
            _first_shop(svc)
            scheduler = build_scheduler(svc, blocking=False)
            # waitress: one I/O loop holds every connection, a few threads run requests — few
            # threads competing with the tick's senders for the interpreter lock, so a writer
            # holding SQLite's lock gets it back quickly (werkzeug's dev server: a thread each).
            server = create_server(
                create_app(services=svc),
                host=host,
                port=port,
                threads=svc.settings.serve_threads,
                ident="relance",
            )
            signal.signal(signal.SIGTERM, _stop)
            scheduler.start()
            click.echo(f"Relance on http://{host}:{port} (scheduler running; Ctrl-C stops)")
            try:
                server.run()
            except (KeyboardInterrupt, SystemExit):
                pass
            finally:
                server.close()
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
        serve_gunicorn(host, port, workers)

    @cli.command("demo")
    @json_option
    def demo(as_json: bool) -> None:
        """Create a demo shop with invoices at every stage and run one tick (outbox folder)."""
        from connector.demo import run_demo

        with services() as svc:
            upgrade(svc.settings.database_url)
            shop_id, report = run_demo(svc)
            outbox = str(svc.settings.outbox_dir)
        data = {"shop": shop_id, "outbox": outbox, **report.as_dict()}
        emit(as_json, data, f"demo shop {shop_id}: {report.counts()} — messages in {outbox}")

    @cli.command("worker")
    def worker() -> None:
        """The worker half: a UTC blocking scheduler (tick every minute, syncs, reconciliation)."""
        from connector.scheduler import build_scheduler

        _logging()
        with services() as svc:
            click.echo("Relance worker running (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt, SystemExit):
                build_scheduler(svc, blocking=True).start()


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops `relance serve` as Ctrl-C does: the scheduler finishes its job first."""
    raise SystemExit(0)


def _first_shop(svc: object) -> None:
    """The first shop is created on first run if none exists."""
    from sqlalchemy import select

    from connector.services import Services

    assert isinstance(svc, Services)
    with write_session(svc.sessions) as s:
        if s.scalar(select(Shop.id).limit(1)) is None:
            create_shop(
                s,
                name=os.environ.get("RELANCE_SHOP_NAME", "My shop"),
                email=os.environ.get("RELANCE_OWNER_EMAIL", "owner@example.com"),
            )


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("RELANCE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
