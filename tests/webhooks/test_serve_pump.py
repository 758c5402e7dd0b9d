"""`relance serve`'s default intake: a delivery is stored and answered, and the process's own
pump applies it right after (no periodic job, no other process), in small batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping

import pytest
from sqlalchemy import select

from adapters.stripe.adapter import StripeAdapter
from connector.config import Settings
from connector.platform import ConnectionContext, InvoiceStatus, NormalizedEvent
from connector.scheduler import build_scheduler
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import WebhookEvent
from connector.web import create_app
from connector.webhooks.activity import IntakeActivity
from connector.webhooks.intake import WebhookIntake
from connector.webhooks.pump import ApplyPump
from connector.webhooks.routes import ServeHooks, attach_serve
from tests.support.builders import invoice_by_number
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

NOW = int(time.time())


@pytest.fixture
def serve_services(env: dict[str, str]) -> Iterator[Services]:
    svc = Services.build(Settings.from_env(env).for_serve())
    yield svc
    svc.close()


def test_serve_stores_then_applies_unless_told_otherwise(env: dict[str, str]) -> None:
    assert Settings.from_env(env).webhook_apply == "inline"  # `relance web`: unchanged
    serve = Settings.from_env(env).for_serve()
    assert (serve.webhook_apply, serve.tick_batch, serve.send_concurrency) == ("worker", 8, 8)
    for chosen in ("inline", "background", "worker"):
        told = Settings.from_env({**env, "RELANCE_WEBHOOK_APPLY": chosen})
        assert told.for_serve().webhook_apply == chosen
    told = Settings.from_env({**env, "RELANCE_TICK_BATCH": "100"}).for_serve()
    assert (told.webhook_apply, told.tick_batch) == ("worker", 100)


def test_the_pump_replaces_the_periodic_apply_job(serve_services: Services) -> None:
    def jobs(**kwargs: bool) -> set[str]:
        return {j.id for j in build_scheduler(serve_services, blocking=False, **kwargs).get_jobs()}

    assert "webhook_apply" in jobs()
    assert "webhook_apply" not in jobs(own_pump=True)


def _paid(svc: Services, external_ids: list[str], timeout: float = 20.0) -> bool:
    """Bounded wait (the pump's thread applies): every invoice paid, or False at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(invoice_by_number(svc, i).status is InvoiceStatus.PAID for i in external_ids):
            return True
        time.sleep(0.05)
    return False


def test_a_stored_delivery_is_applied_by_the_pump_right_after(serve_services: Services) -> None:
    svc = serve_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    refs = [f"in_P{i}" for i in range(40)]  # more than a batch
    seed_invoices(svc, shop_id, conn_id, [open_invoice(ref) for ref in refs])
    app = create_app(services=svc)
    activity = IntakeActivity()
    # Never woken by its clock within the test: only the intake's wake can make it apply.
    pump = ApplyPump(svc, batch=8, idle=3600, activity=activity)
    attach_serve(app, ServeHooks(activity, pump.wake))
    client = app.test_client()
    pump.start()
    try:
        for ref in refs:
            body = stripe_invoice_event(f"evt_{ref}", ref, created=NOW)
            for _ in range(20):  # 503 while the pump holds the writer: delivered again
                answer = client.post(
                    f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body)
                )
                if answer.status_code != 503:
                    break
            assert (answer.status_code, answer.get_json()["stored"]) == (200, 1)
        assert _paid(svc, refs)
    finally:
        pump.stop()
    assert not activity.busy  # every delivery counted out
    assert pump.run_once() == 0  # stopped: applies nothing more


def test_during_a_storm_the_pump_applies_a_batch_at_once_not_each_delivery(
    serve_services: Services,
) -> None:
    """A transaction's own cost is most of what applying a delivery costs: while deliveries
    keep coming, the pump waits for a batch's worth (bounded) and applies them together."""
    svc = serve_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    refs = [f"in_S{i}" for i in range(6)]
    seed_invoices(svc, shop_id, conn_id, [open_invoice(ref) for ref in refs])
    app = create_app(services=svc)
    activity = IntakeActivity()
    pump = ApplyPump(svc, batch=len(refs), idle=3600, gather=120, activity=activity)
    attach_serve(app, ServeHooks(activity, pump.wake))
    client = app.test_client()
    pump.start()
    try:
        with activity.receiving():  # the storm: another delivery is always being received
            for n, ref in enumerate(refs):
                body = stripe_invoice_event(f"evt_{ref}", ref, created=NOW)
                answer = client.post(
                    f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body)
                )
                assert answer.status_code == 200
                if n == 0:  # time enough for a pump that applies each delivery on its own
                    time.sleep(1.5)
        assert _paid(svc, refs)
    finally:
        pump.stop()
    with svc.sessions() as s:
        applied = s.scalars(select(WebhookEvent.processed_at)).all()
    assert len(applied) == len(refs) and len(set(applied)) == 1  # one apply for all of them


def test_without_a_pump_the_web_only_stores(serve_services: Services) -> None:
    """The same app with nobody told: stored and answered, left pending for the worker."""
    svc = serve_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    seed_invoices(svc, shop_id, conn_id, [open_invoice("in_Q1")])
    body = stripe_invoice_event("evt_in_Q1", "in_Q1", created=NOW)
    answer = (
        create_app(services=svc)
        .test_client()
        .post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
    )
    assert answer.status_code == 200
    assert invoice_by_number(svc, "in_Q1").status is InvoiceStatus.OPEN
    pump = ApplyPump(svc, batch=8)
    assert pump.run_once() == 1
    assert invoice_by_number(svc, "in_Q1").status is InvoiceStatus.PAID


def test_background_work_waits_for_a_lull_in_deliveries_a_bounded_time() -> None:
    activity = IntakeActivity()
    assert activity.lull(5.0) < 1.0  # nothing being received: no wait
    with activity.receiving():
        assert activity.busy
        assert activity.lull(0.05) >= 0.05  # a storm: waits its bound, then goes on
    ended: list[float] = []
    with activity.receiving():
        waiter = threading.Thread(target=lambda: ended.append(activity.lull(30.0)))
        waiter.start()
        time.sleep(0.05)
    waiter.join(10)
    assert ended and ended[0] < 10  # woken when the last delivery ended, not at its bound


def test_the_pump_applies_the_intakes_parse_and_parses_only_what_another_process_stored(
    serve_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing a body again in the pump cost as much CPU as the rest of its apply, inside the
    transaction that holds SQLite's writer: the pump takes the intake's parse instead."""
    svc = serve_services
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name="Atelier", email="owner@atelier.example").id
    conn_id = stripe_connection(svc, shop_id)
    refs = [f"in_Q{i}" for i in range(5)]
    seed_invoices(svc, shop_id, conn_id, [open_invoice(ref) for ref in refs])
    parsed: list[bytes] = []
    parse = StripeAdapter.parse_webhook

    def counted(
        self: StripeAdapter, ctx: ConnectionContext, headers: Mapping[str, str], body: bytes
    ) -> NormalizedEvent:
        parsed.append(body)
        return parse(self, ctx, headers, body)

    monkeypatch.setattr(StripeAdapter, "parse_webhook", counted)
    app = create_app(services=svc)
    pump = ApplyPump(svc, batch=8, idle=3600, activity=IntakeActivity())
    attach_serve(app, ServeHooks(IntakeActivity(), pump.wake))
    client = app.test_client()  # the pump's thread is not started: run_once below applies
    bodies = [stripe_invoice_event(f"evt_{ref}", ref, created=NOW) for ref in refs[:4]]
    for body in bodies:
        answer = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
        assert answer.status_code == 200
    # One more, stored by another process's intake (no pump of ours was told of it).
    other = stripe_invoice_event(f"evt_{refs[4]}", refs[4], created=NOW)
    assert WebhookIntake(svc).receive("stripe", conn_id, stripe_headers(other), other).stored
    assert parsed == [*bodies, other]  # each parsed once by the intake that stored it

    assert pump.run_once() == 5
    assert parsed == [*bodies, other, other]  # the pump parsed only the one it was not given
    assert _paid(svc, refs)
