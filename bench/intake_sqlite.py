"""The embedded default under a burst: `relance serve` on SQLite (one process: the web server
and the scheduler), 16 clients posting signed Stripe ``invoice.paid`` deliveries (handled as
serve does by default: stored on arrival, applied right after by its pump) while the
scheduler's tick sends reminders to a SendGrid-speaking server with 20 ms latency. Every
answer counts: anything but a 200 (a 503 included) is an error.

Naive baseline, same run and same server: one client at a time, no tick sending. Also printed:
the server's own ``/healthz`` pace with 16 clients (the ceiling of the HTTP layer), the server
process's CPU per delivery (the tick's sending included: it runs in the same process) and the
reminders the tick sent during the burst, each exactly once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import func, select, update

from bench.common import Figure, report, scratch_services, seed
from bench.intake import ROOT, drive, drive_requests, free_port, percentile, seed_deliveries
from bench.send import accepted_counts, mail_server
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Payment, Shop, WebhookEvent

CLIENTS = 16
WARM_UP = 50


@contextlib.contextmanager
def relance_serve(svc: Services, mail_url: str) -> Iterator[tuple[int, int]]:
    """`relance serve` in its own process on the bench's store; yields (port, pid)."""
    port = free_port()
    env = {
        **os.environ,
        **svc.settings.env,
        "SENDGRID_API_KEY": "SG.bench",
        "SENDGRID_API_HOST": mail_url,
        "RELANCE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("RELANCE_WEBHOOK_APPLY", None)  # serve's own default is what is measured
    log = open(svc.settings.var_dir / "serve.log", "wb")  # noqa: SIM115 - closed below
    profile = os.environ.get("RELANCE_BENCH_PROFILE")  # a directory: bench/serve_profile.py
    launcher = ["-m", "bench.serve_profile", profile] if profile else ["-m", "connector"]
    proc = subprocess.Popen(
        [sys.executable, *launcher, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts it slowly
        while time.monotonic() < deadline:  # bounded wait for the server to listen
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                raise RuntimeError("relance serve exited")
            time.sleep(0.1)
        else:
            raise RuntimeError("relance serve did not start")
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a tick still sending: the figures are taken
            print("relance serve did not stop within 60 s of SIGTERM; killed", file=sys.stderr)
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def healthz_pace(port: int, requests: int) -> float:
    """GET /healthz over 16 keep-alive connections: requests/s (the HTTP layer's ceiling)."""
    raw = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    seconds, _, failures = drive_requests(port, [raw] * requests, CLIENTS)
    if failures:
        raise RuntimeError(f"/healthz failed: {failures[:3]}")
    return requests / seconds


def sent_count(mail_url: str) -> int:
    return len(accepted_counts(mail_url))


def wait_for_sending(mail_url: str, timeout: float = 180.0) -> None:  # a loaded machine
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sent_count(mail_url) > 0:
            return
        time.sleep(0.05)
    raise RuntimeError("the tick did not start sending")


def run(deliveries: int, due: int) -> dict[str, float]:
    now = datetime.now(UTC)
    with scratch_services() as svc, mail_server(0.020) as mail_url:
        seed(svc, total=due, due=due, now=now)
        with write_session(svc.sessions) as s:  # the reminders may go out whenever the bench runs
            s.execute(
                update(Shop).values(
                    window_start=clock_time(0, 0),
                    window_end=clock_time(23, 59, 59),
                    business_days_only=False,
                )
            )
        conn_id, bodies = seed_deliveries(svc, deliveries + 2 * WARM_UP + 100, "serve")
        with relance_serve(svc, mail_url) as (port, pid):
            wait_for_sending(mail_url)
            # Naive baseline while the tick is still sending would not be naive: measure it after.
            drive(port, conn_id, bodies[:WARM_UP], CLIENTS)
            cpu0, sent0 = cpu_seconds(pid), sent_count(mail_url)
            seconds, lat, failures = drive(
                port, conn_id, bodies[WARM_UP : WARM_UP + deliveries], CLIENTS
            )
            cpu = cpu_seconds(pid) - cpu0
            sent_during = sent_count(mail_url)
            send_rate = (sent_during - sent0) / seconds
            deadline = time.monotonic() + 300
            while sent_count(mail_url) < due and time.monotonic() < deadline:
                time.sleep(0.2)
            counts = accepted_counts(mail_url)
            naive_seconds, naive_lat, naive_failures = drive(
                port, conn_id, bodies[WARM_UP + deliveries : 2 * WARM_UP + deliveries + 100], 1
            )
            health = healthz_pace(port, 2000)
        if failures or naive_failures:
            print(f"refused: {(failures + naive_failures)[:5]}", file=sys.stderr)
        server_log = (svc.settings.var_dir / "serve.log").read_text(errors="replace")
        tracebacks = server_log.count("Traceback")
        if tracebacks:
            first = server_log.index("Traceback")
            print(server_log[max(0, first - 300) : first + 3000], file=sys.stderr)
        with svc.sessions() as s:
            events = s.scalar(select(func.count()).select_from(WebhookEvent)) or 0
            payments = s.scalar(select(func.count()).select_from(Payment)) or 0
    stored = deliveries + 2 * WARM_UP + 100
    return {
        "rate": deliveries / seconds,
        "p50": percentile(lat, 0.50),
        "p99": percentile(lat, 0.99),
        "errors": float(len(failures) + len(naive_failures)),
        "cpu_us": cpu / deliveries * 1e6,
        "naive_rate": (WARM_UP + 100) / naive_seconds,
        "naive_p99": percentile(naive_lat, 0.99),
        "healthz": health,
        "sent_during": float(sent_during),
        "send_rate": send_rate,
        "sent": float(len(counts)),
        "exactly_once": float(set(counts.values()) <= {1}),
        "tracebacks": float(tracebacks),
        "lost": float(stored - min(events, payments)),
    }


def main(quick: bool = False) -> list[Figure]:
    deliveries, due = (300, 1500) if quick else (500, 3000)
    print(
        f"relance serve on SQLite: {deliveries} signed deliveries from {CLIENTS} clients while a "
        f"tick sends {due:,} reminders (20 ms mail latency)…",
        file=sys.stderr,
    )
    r = run(deliveries, due)
    return [
        Figure(
            "serve (SQLite), intake while a tick sends, 16 clients",
            r["rate"],
            "deliveries/s",
            baseline=r["naive_rate"],
            target=">= 0.5× /healthz pace",
        ),
        Figure("  p99 latency", r["p99"], "ms", baseline=r["naive_p99"], target="< 1 s (< 100 ms)"),
        Figure("  p50 latency", r["p50"], "ms"),
        Figure("  errors (anything but 200, 503 included)", r["errors"], "", target="0"),
        Figure("  deliveries not stored or not applied", r["lost"], "", target="0"),
        Figure("  tracebacks in the server's log", r["tracebacks"], "", target="0"),
        Figure("  CPU per delivery, server process (tick included)", r["cpu_us"], "µs"),
        Figure("  /healthz pace, same server, 16 clients", r["healthz"], "requests/s"),
        Figure("  reminders sent by the tick during the burst", r["sent_during"], ""),
        Figure("  the tick's sending pace during the burst", r["send_rate"], "reminders/s"),
        Figure("  reminders sent in all", r["sent"], ""),
        Figure("  each of them exactly once (1 = yes)", r["exactly_once"], "", target="1"),
    ]


if __name__ == "__main__":
    report(main())
