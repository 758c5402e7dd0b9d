"""Exactly once, whatever the number of workers, threads or crashes: counted at a local HTTP
server speaking SendGrid's v3 mail-send API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.config import Settings
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Message, MessageState, Reminder, ReminderState, Task, TaskKind
from tests.conftest import make_env
from tests.support.builders import add_invoices, normalized, paris
from tests.support.fake_sendgrid import FakeSendGrid

DUE = date(2026, 6, 10)
NOW = paris(date(2026, 6, 11), 10)  # reminder_1 due for everyone; courtesy skipped
ROOT = Path(__file__).resolve().parents[2]


def seed(svc: Services, count: int) -> None:
    with write_session(svc.sessions) as s:
        shop = create_shop(s, name="Atelier Dupont", email="compta@dupont.example")
    for start in range(0, count, 500):
        add_invoices(
            svc,
            shop,
            [
                normalized(f"F-{i:05d}", email=f"c{i}@client.example", due_on=DUE)
                for i in range(start, min(count, start + 500))
            ],
        )


def worker_env(env: dict[str, str], sendgrid: FakeSendGrid, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **env,
        "SENDGRID_API_KEY": "SG.test",
        "SENDGRID_API_HOST": sendgrid.url,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def spawn(env: dict[str, str], threads: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.tick_worker",
            "--threads",
            str(threads),
            "--now",
            NOW.isoformat(),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def reminder_states(svc: Services) -> dict[str, int]:
    with svc.sessions() as s:
        rows = s.execute(select(Reminder.state, func.count()).group_by(Reminder.state)).all()
    return {state.value: n for state, n in rows}


@pytest.mark.slow
@pytest.mark.postgres
def test_two_processes_eight_threads_postgres_each_sent_once(
    postgres_url: str, tmp_path: Path
) -> None:
    env = make_env(postgres_url, tmp_path / "var", RELANCE_SEND_CONCURRENCY="4")
    svc = Services.build(Settings.from_env(env))
    seed(svc, 2000)
    with FakeSendGrid(latency=0.002) as sendgrid:
        procs = [spawn(worker_env(env, sendgrid), threads=8) for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err[-3000:]
        counts = sendgrid.accepted_reminder_ids()
    assert len(counts) == 2000
    assert set(counts.values()) == {1}
    states = reminder_states(svc)
    assert states == {"sent": 2000, "skipped": 2000}  # reminder_1 sent, courtesy skipped
    svc.close()


def test_threads_on_sqlite_each_sent_once(sqlite_url: str, tmp_path: Path) -> None:
    env = make_env(sqlite_url, tmp_path / "var", RELANCE_SEND_CONCURRENCY="4")
    svc = Services.build(Settings.from_env(env))
    seed(svc, 300)
    with FakeSendGrid(latency=0.002) as sendgrid:
        transport = Services.build(
            Settings.from_env(
                {**env, "SENDGRID_API_KEY": "SG.t", "SENDGRID_API_HOST": sendgrid.url}
            )
        ).transport()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                runner = dunning_runner(svc, transport=transport)
                while runner.tick(NOW).outcomes:
                    pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=loop) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        counts = sendgrid.accepted_reminder_ids()
    assert len(counts) == 300
    assert set(counts.values()) == {1}
    svc.close()


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sigkill_mid_batch_never_sends_twice(
    db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "postgres_url")
    env = make_env(
        url,
        tmp_path / "var",
        RELANCE_SEND_CONCURRENCY="4",
        RELANCE_CLAIM_LEASE_SECONDS="2",
        RELANCE_SEND_LEASE_SECONDS="2",
    )
    svc = Services.build(Settings.from_env(env))
    seed(svc, 120)
    with FakeSendGrid(latency=0.15) as sendgrid:
        wenv = worker_env(env, sendgrid)
        first = spawn(wenv, threads=2)
        assert sendgrid.wait_for_requests(20, timeout=60), "the worker never started sending"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        in_flight_at_kill = reminder_states(svc).get("sending", 0)
        time.sleep(2.5)  # past both leases: the restarted worker settles what the dead one left
        second = spawn(wenv, threads=2)
        _out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err[-3000:]
        counts = sendgrid.accepted_reminder_ids()
    assert counts and max(counts.values()) == 1  # never twice, whatever the crash
    states = reminder_states(svc)
    assert states.get("claimed", 0) == 0 and states.get("sending", 0) == 0
    assert states.get("sent", 0) + states.get("unknown", 0) == 120
    with svc.sessions() as s:
        unknown_messages = s.scalar(
            select(func.count()).select_from(Message).where(Message.state == MessageState.UNKNOWN)
        )
        unknown_tasks = s.scalar(
            select(func.count()).select_from(Task).where(Task.kind == TaskKind.UNKNOWN_OUTCOME)
        )
    assert unknown_messages == in_flight_at_kill == unknown_tasks
    # Every reminder the server accepted is recorded as sent or raised as unknown.
    assert all(n == 1 for n in counts.values()) and len(counts) <= states.get(
        "sent", 0
    ) + states.get("unknown", 0)
    svc.close()


def test_server_errors_and_timeouts(services: Services) -> None:
    """500 and 429 are retried and sent once; a 400 fails for good, never retried; a read
    timeout leaves the outcome UNKNOWN, raised to a person and never re-sent."""
    from connector.mail.sendgrid import SendGridTransport

    with write_session(services.sessions) as s:
        shop = create_shop(s, name="Atelier Dupont", email="compta@dupont.example")
    add_invoices(
        services,
        shop,
        [normalized(f"E-{i}", email=f"e{i}@client.example", due_on=DUE) for i in range(4)],
    )
    with FakeSendGrid(hang_seconds=2.0) as sendgrid:
        # One message at a time, in id order: E-0 500→202, E-1 429→202, E-2 400, E-3 hangs.
        sendgrid.script([500, 202, 429, 202, 400, "hang"])
        transport = SendGridTransport(
            "SG.t", sendgrid.url, timeout=0.5, backoff_base=0.01, budget_seconds=5
        )
        runner = dunning_runner(services, transport=transport, concurrency=1)
        runner.tick(NOW)
        assert sendgrid.requests_total == 6
        runner.tick(NOW + timedelta(hours=2))
        runner.tick(NOW + timedelta(days=1, hours=1))
        assert sendgrid.requests_total == 6  # nothing retried on later ticks
        counts = sendgrid.accepted_reminder_ids()
    # E-0 and E-1 after their retries, and E-3 (SendGrid queued it; we never heard back):
    # three accepted, each exactly once. E-2's 400 was never accepted nor retried.
    assert sorted(counts.values()) == [1, 1, 1]
    states = reminder_states(services)
    assert states == {"skipped": 4, "sent": 2, "failed": 1, "unknown": 1}
    with services.sessions() as s:
        kinds = sorted(t.kind.value for t in s.scalars(select(Task)))
        failed = s.scalar(select(Reminder).where(Reminder.state == ReminderState.FAILED))
    assert kinds == sorted([TaskKind.SEND_FAILED.value, TaskKind.UNKNOWN_OUTCOME.value])
    assert failed is not None and failed.reason  # the provider's message is kept


def test_a_tick_told_to_stop_claims_no_more_and_the_next_sends_the_rest_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    """`relance serve` on SIGTERM: the tick under way claims nothing more and drops the batches
    not started (their messages stay CLAIMED, the mail API never called for them); it ends with
    the sends already under way. Once the claims' lease is past, the next tick takes them over:
    everything is sent, each exactly once."""
    env = make_env(
        sqlite_url,
        tmp_path / "var",
        RELANCE_SEND_CONCURRENCY="2",
        RELANCE_TICK_BATCH="4",
        RELANCE_CLAIM_LEASE_SECONDS="1",
    )
    svc = Services.build(Settings.from_env(env))
    seed(svc, 60)
    stopping = threading.Event()
    with FakeSendGrid(latency=0.01) as sendgrid:
        mail = Services.build(
            Settings.from_env(
                {**env, "SENDGRID_API_KEY": "SG.t", "SENDGRID_API_HOST": sendgrid.url}
            )
        ).transport()
        stopper = threading.Thread(
            target=lambda: sendgrid.wait_for_requests(6, timeout=60) and stopping.set()
        )
        stopper.start()
        first = dunning_runner(svc, transport=mail, stopping=stopping).tick(NOW)
        stopper.join(60)
        assert stopping.is_set()
        sent_first = len(sendgrid.accepted_reminder_ids())
        states = reminder_states(svc)
        assert states.get("sending", 0) == 0  # nothing left half-sent
        assert sent_first == states.get("sent", 0) < 60  # it stopped before the end
        assert len([o for o in first.outcomes if o.outcome == "sent"]) == sent_first
        time.sleep(1.2)  # past the claims' lease: the next tick takes over what was dropped
        dunning_runner(svc, transport=mail).tick(NOW)
        counts = sendgrid.accepted_reminder_ids()
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert reminder_states(svc).get("sent", 0) == 60
    svc.close()


def test_a_tick_gives_way_before_each_claim_and_each_batch(services: Services) -> None:
    """The hook `relance serve` uses to let webhook deliveries go first."""
    seed(services, 10)
    calls: list[int] = []
    runner = dunning_runner(
        services,
        transport=OutboxTransport(services.settings.outbox_dir),
        concurrency=2,
        give_way=lambda: calls.append(1),
    )
    report = runner.tick(NOW)
    assert len([o for o in report.outcomes if o.outcome == "sent"]) == 10
    assert len(calls) >= 2  # a claim and a batch at least
