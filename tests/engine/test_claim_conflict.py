"""A batch claim is one savepoint and one flush; when another writer claimed one customer's day
first, the batch falls back to one savepoint per customer: the others are still claimed, the
conflicting customer is looked at again later, and nothing of the failed try is kept.

PostgreSQL only: that is where another transaction can hold a conflicting row the claim cannot
see yet (SQLite's single writer makes the claim's own read exact)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from connector.config import Settings
from connector.dunning.claims import RECHECK_DELAY, Claimer, due_customer_ids
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    Message,
    MessageState,
    Reminder,
    ReminderState,
    Shop,
)
from tests.conftest import make_env
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

NOW = paris(date(2026, 6, 11))  # the day after the due date: reminder_1 is due


@pytest.fixture
def pg_services(postgres_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = Services.build(Settings.from_env(make_env(postgres_url, tmp_path / "var")))
    yield svc
    svc.close()


def _shop(svc: Services) -> Shop:
    with write_session(svc.sessions) as s:
        shop = create_shop(s, name="Atelier Dupont", email="compta@dupont.example")
        s.flush()
        s.expunge(shop)
    return shop


def _until_someone_waits_on(svc: Services, holder_pid: int) -> None:
    """Returns once another backend waits on a lock held by ``holder_pid``'s transaction.

    Each poll is its own transaction (AUTOCOMMIT): PostgreSQL reads pg_stat_activity once per
    transaction and shows that snapshot until it ends, so polls in one transaction never saw a
    wait that began after the first of them (the claim then went through, the test failed)."""
    with svc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for _ in range(600):
            if conn.scalar(
                text(
                    "SELECT EXISTS (SELECT FROM pg_stat_activity "
                    "WHERE CAST(:holder AS integer) = ANY(pg_blocking_pids(pid)))"
                ),
                {"holder": holder_pid},
            ):
                return
            time.sleep(0.05)
    raise AssertionError("the claim never waited on the other writer's row")


def test_a_customer_claimed_meanwhile_leaves_the_rest_of_the_batch_claimed(
    pg_services: Services,
) -> None:
    svc = pg_services
    shop = _shop(svc)
    add_invoices(
        svc,
        shop,
        [
            normalized("F-1", email="a@client.example", due_on=date(2026, 6, 10)),
            normalized("F-2", email="b@client.example", due_on=date(2026, 6, 10)),
            normalized("F-3", email="c@client.example", due_on=date(2026, 6, 10)),
        ],
    )
    taken = invoice_by_number(svc, "F-2")
    inserted = threading.Event()
    failed: list[BaseException] = []

    def other_writer() -> None:
        """Claims F-2's customer day, and commits only once our claim waits on that row (its
        failure is the test's: an exception of a thread would only be a warning)."""
        try:
            with write_session(svc.sessions) as s:
                s.add(
                    Message(
                        shop_id=taken.shop_id,
                        customer_id=taken.customer_id,
                        channel=Channel.EMAIL,
                        local_day=date(2026, 6, 11),
                        state=MessageState.CLAIMED,
                        lease_owner="other",
                        lease_until=NOW + timedelta(minutes=5),
                    )
                )
                s.flush()
                pid = s.scalar(text("SELECT pg_backend_pid()"))
                assert isinstance(pid, int)
                inserted.set()
                _until_someone_waits_on(svc, pid)
        except BaseException as exc:
            failed.append(exc)

    other = threading.Thread(target=other_writer)
    other.start()
    assert inserted.wait(10), failed
    # Our flush waits on that uncommitted row (no customer locks taken here: the other
    # writer's row holds a key-share lock on its customer that SKIP LOCKED would pass over).
    with write_session(svc.sessions) as s:
        ids = due_customer_ids(s, NOW, 10, skip_locked=False)
        claimed = Claimer(s, worker="w1", lease_until=NOW + timedelta(minutes=5)).claim_customers(
            ids, NOW, skip_locked=False
        )
    other.join(10)
    assert not other.is_alive() and not failed, failed
    assert claimed.customers_seen == 3
    with svc.sessions() as s:
        mine = s.scalars(select(Message).where(Message.id.in_(claimed.message_ids))).all()
        assert sorted(
            s.scalars(select(Customer.email).where(Customer.id.in_(m.customer_id for m in mine)))
        ) == ["a@client.example", "c@client.example"]
        assert all(m.lease_owner == "w1" and m.state is MessageState.CLAIMED for m in mine)
        claimed_reminders = s.execute(
            select(Invoice.number, Reminder.state).join(Invoice, Reminder.invoice_id == Invoice.id)
        ).all()
        # F-2: nothing of the failed batch kept (no reminder row, not even the skipped step);
        # looked at again later, not in this pass.
        assert {n for n, _ in claimed_reminders} == {"F-1", "F-3"}
        assert {st for n, st in claimed_reminders if st is not ReminderState.SKIPPED} == {
            ReminderState.CLAIMED
        }
        again = s.get(Invoice, taken.id)
        assert again is not None and again.next_action_at is not None
        assert again.next_action_at >= NOW + RECHECK_DELAY
