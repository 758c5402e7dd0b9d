"""Statement and commit budgets of the hot paths (design §8), counted with SQLAlchemy's engine
events: a regression to per-row ORM work breaks them. Counts, not times."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import event, func, select

from connector.config import Settings
from connector.dunning.claims import Claimer, StepCatalog, due_customer_ids
from connector.dunning.send_batch import BatchSender
from connector.mail.sendgrid import SendGridTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import is_sqlite, write_session
from connector.store.models import Customer, Invoice, Message, Payment, Reminder, Shop
from connector.webhooks.apply import apply_pending
from connector.webhooks.intake import WebhookIntake
from tests.conftest import make_env
from tests.engine.test_exactly_once import DUE, NOW, reminder_states, seed
from tests.support.builders import add_invoices, normalized
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.statements import counting
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

MESSAGES = 100


def test_a_batch_of_100_sends_stays_within_its_statement_budget(services: Services) -> None:
    """100 customers, one invoice each: the courtesy step is passed over, reminder_1 goes out.
    The whole tick — claims, reads, marks, records, the skipped steps' timeline — within
    2 statements and 0.2 commits per message (1.4 on SQLite, 1.2 on PostgreSQL; with the
    claim's messages and reminders flushed by the unit of work: 4.3 and 1.2; with a savepoint
    and a flush per customer's claim: 7.3 and 6.0; before batching: 33 statements, 2
    commits)."""
    seed(services, MESSAGES)
    with FakeSendGrid() as sendgrid:
        runner = dunning_runner(services, transport=SendGridTransport("SG.t", sendgrid.url))
        with counting(services.engine) as counted:
            report = runner.tick(NOW)
        accepted = sendgrid.accepted_reminder_ids()
    assert report.counts() == {"sent": MESSAGES, "skipped": MESSAGES}
    assert len(accepted) == MESSAGES and set(accepted.values()) == {1}
    assert reminder_states(services) == {"sent": MESSAGES, "skipped": MESSAGES}
    statements, commits = counted.per(MESSAGES)
    top = Counter(counted.texts).most_common(8)
    assert statements <= 2, (statements, top)
    assert commits <= 0.2, (commits, top)


def test_a_send_batch_on_postgresql_binds_its_ids_as_arrays(
    postgres_url: str, tmp_path: Path
) -> None:
    """psycopg caches the conversion of a statement with at most 50 parameters only, and
    SQLAlchemy rewrites an ``IN`` list's text at each execution: a send batch's reads by its
    messages' ids bind one array each instead (connector.store.idset), so however big the
    batch, none of its statements binds more than a row's worth of parameters (before: one
    per id, 64 for a full batch)."""
    svc = Services.build(Settings.from_env(make_env(postgres_url, tmp_path / "var")))
    try:
        seed(svc, 64)
        with write_session(svc.sessions) as s:
            due = due_customer_ids(s, NOW, 100, skip_locked=True)
            claimed = Claimer(
                s, worker="w", lease_until=NOW + timedelta(minutes=5)
            ).claim_customers(due, NOW, skip_locked=True)
        assert len(claimed.message_ids) == 64
        with FakeSendGrid() as sendgrid:
            runner = dunning_runner(svc, transport=SendGridTransport("SG.t", sendgrid.url))
            sender = BatchSender(runner.deliverer("w"))
            with counting(svc.engine) as counted:
                outcomes = sender.deliver(claimed.message_ids, NOW)
        assert [o.outcome for o in outcomes] == ["sent"] * 64
        assert counted.widest[0] <= 20, counted.widest
    finally:
        svc.close()


def test_a_send_batch_on_postgresql_writes_its_rows_in_one_server_execution_per_table(
    postgres_url: str, tmp_path: Path
) -> None:
    """psycopg runs an executemany as one execution per row in the server (a bind, a plan,
    an executor run each): the batch's marks (SENDING) and records (SENT) of its messages and
    reminders go as one UPDATE … FROM unnest(…) per table instead (connector.store.rowupdate;
    before: four executemany UPDATEs, 64 server executions each)."""
    svc = Services.build(Settings.from_env(make_env(postgres_url, tmp_path / "var")))
    try:
        seed(svc, 64)
        with write_session(svc.sessions) as s:
            due = due_customer_ids(s, NOW, 100, skip_locked=True)
            claimed = Claimer(
                s, worker="w", lease_until=NOW + timedelta(minutes=5)
            ).claim_customers(due, NOW, skip_locked=True)
        updates: list[tuple[str, bool]] = []

        def seen(*args: object) -> None:
            text, many = cast(str, args[2]), cast(bool, args[5])
            if text.startswith("UPDATE"):
                updates.append((text.split(" SET", 1)[0], many))

        with FakeSendGrid() as sendgrid:
            runner = dunning_runner(svc, transport=SendGridTransport("SG.t", sendgrid.url))
            sender = BatchSender(runner.deliverer("w"))
            event.listen(svc.engine, "before_cursor_execute", seen)
            try:
                outcomes = sender.deliver(claimed.message_ids, NOW)
            finally:
                event.remove(svc.engine, "before_cursor_execute", seen)
        assert [o.outcome for o in outcomes] == ["sent"] * 64
        assert sorted(updates) == [
            ("UPDATE message", False),
            ("UPDATE message", False),
            ("UPDATE reminder", False),
            ("UPDATE reminder", False),
        ]
    finally:
        svc.close()


def test_a_send_batch_reads_plain_rows_not_mapped_objects(services: Services) -> None:
    """The batch's two reads of its messages, reminders, invoices and customers (before
    rendering, then under lock) are Core rows of the columns it uses: the ORM's instances,
    identity map and refresh cost ~100 µs per message on top (before: each message, customer,
    reminder and invoice was built as a mapped object twice)."""
    seed(services, 20)
    with write_session(services.sessions) as s:
        due = due_customer_ids(s, NOW, 100, skip_locked=not is_sqlite(services.engine))
        claimed = Claimer(s, worker="w", lease_until=NOW + timedelta(minutes=5)).claim_customers(
            due, NOW, skip_locked=not is_sqlite(services.engine)
        )
    built: Counter[str] = Counter()

    def count(target: object, _context: object) -> None:
        built[type(target).__name__] += 1

    models = (Message, Customer, Reminder, Invoice)
    for model in models:
        event.listen(model, "load", count)
    try:
        with FakeSendGrid() as sendgrid:
            runner = dunning_runner(services, transport=SendGridTransport("SG.t", sendgrid.url))
            outcomes = BatchSender(runner.deliverer("w")).deliver(claimed.message_ids, NOW)
    finally:
        for model in models:
            event.remove(model, "load", count)
    assert [o.outcome for o in outcomes] == ["sent"] * 20
    assert not built, built


def _claim_over_shops(
    services: Services, shops: int, customers: int, *, known_steps: bool = True
) -> int:
    """Statements of one claim of ``customers`` due customers spread over ``shops`` new shops,
    once the tick knows their steps (as after its first batch), or, ``known_steps`` False, as
    the tick's first batch over them."""
    for n in range(shops):
        with write_session(services.sessions) as s:
            shop = create_shop(s, name=f"Shop {shops}-{n}", email=f"owner{n}@s{shops}.example")
        add_invoices(
            services,
            shop,
            [
                normalized(f"F-{shops}-{n}-{i}", email=f"c{i}@s{shops}-{n}.example", due_on=DUE)
                for i in range(customers // shops)
            ],
        )
    catalog = StepCatalog()
    with write_session(services.sessions) as s:
        known = s.scalars(select(Invoice).where(Invoice.next_action_at <= NOW))
        for inv in known if known_steps else ():
            shop_row = s.get(Shop, inv.shop_id)
            assert shop_row is not None
            catalog.for_invoice(s, shop_row, inv)
    skip_locked = not is_sqlite(services.engine)
    with write_session(services.sessions) as s:
        due = due_customer_ids(s, NOW, 100, skip_locked=skip_locked)
        assert len(due) == customers
        claimer = Claimer(s, worker="w", lease_until=NOW + timedelta(minutes=5), catalog=catalog)
        with counting(services.engine) as counted:
            claimed = claimer.claim_customers(due, NOW, skip_locked=skip_locked)
    assert len(claimed.message_ids) == customers
    return counted.statements


def test_a_claim_costs_the_same_statements_however_many_shops_it_spans(
    services: Services,
) -> None:
    """One claim batch reads its shops in one query and plans without a query (a read while
    planning flushed what was planned so far): 24 customers of 2 shops or of 8 shops, the
    same statements (with a read per shop: 8 more, and as many flushes)."""
    assert _claim_over_shops(services, 2, 24) == _claim_over_shops(services, 8, 24)


def test_a_first_claim_reads_its_shops_steps_in_the_same_statements_however_many_shops(
    services: Services,
) -> None:
    """A tick's first batch over its shops reads their rules, default sequences, steps and ECB
    rates in a few queries for all of them: 2 shops or 8, the same statements (read per shop,
    it was 3 or 4 more a shop — and each worker of a tick read every shop again)."""
    two = _claim_over_shops(services, 2, 24, known_steps=False)
    assert two == _claim_over_shops(services, 8, 24, known_steps=False)


PAYMENTS = 100


def test_applying_100_stored_payments_stays_within_its_statement_budget(
    env: dict[str, str],
) -> None:
    """The worker applies stored `invoice.paid` deliveries in set-based chunks: the chunk's
    invoices read and locked in one statement, its payments, invoice updates, cancellations and
    timeline written in one each — at most 0.2 statements and 0.05 commits per payment (one
    event at a time: 9 statements and one commit each; row by row in a chunk: 6)."""
    svc = Services.build(Settings.from_env({**env, "RELANCE_WEBHOOK_APPLY": "worker"}))
    try:
        with write_session(svc.sessions) as s:
            shop_id = create_shop(s, name="Atelier Dupont", email="compta@dupont.example").id
        conn_id = stripe_connection(svc, shop_id)
        seed_invoices(
            svc,
            shop_id,
            conn_id,
            [open_invoice(f"in_{i}", email=f"c{i}@client.example") for i in range(PAYMENTS)],
        )
        intake = WebhookIntake(svc)
        created = int(time.time()) - 60
        for i in range(PAYMENTS):
            body = stripe_invoice_event(f"evt_{i}", f"in_{i}", created=created)
            assert intake.receive("stripe", conn_id, stripe_headers(body), body).status == 200
        with counting(svc.engine) as counted:
            applied = apply_pending(svc, datetime.now(UTC))
        assert applied == PAYMENTS
        with svc.sessions() as s:
            statuses = Counter(s.scalars(select(Invoice.status)))
            payments = s.scalar(select(func.count()).select_from(Payment))
        assert statuses == {InvoiceStatus.PAID: PAYMENTS} and payments == PAYMENTS
        statements, commits = counted.per(PAYMENTS)
        top = Counter(counted.texts).most_common(8)
        assert statements <= 0.2, (statements, top)
        assert commits <= 0.05, (commits, top)
    finally:
        svc.close()
