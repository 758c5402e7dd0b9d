"""Verified webhook intake on loopback, served by gunicorn (several worker processes): signed
Stripe ``invoice.paid`` deliveries, each verified, stored once and applied (payment recorded,
reminders cancelled). Naive baseline, same run: one sync worker, one client at a time.

Figures: deliveries/s as the clients see them, p50/p99 latency, and — in background-apply mode —
how long the store takes to finish applying what was answered.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.queues
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import Figure, postgres_database, report, scratch_services
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Payment, WebhookEvent, WebhookOutcome
from connector.webhooks.apply import apply_pending
from tests.support.webhooks import (
    open_invoice,
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
WARM_UP = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(svc: Services, *, workers: int, threads: int, apply: str) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        **{k: v for k, v in svc.settings.env.items()},
        "RELANCE_WEBHOOK_APPLY": apply,
        "PYTHONPATH": str(ROOT),
    }
    worker_class = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else []
    proc = subprocess.Popen(
        [
            str(GUNICORN),
            "-w",
            str(workers),
            *worker_class,
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
            "connector.web:create_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded wait for the workers to listen
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def seed_deliveries(svc: Services, count: int, tag: str) -> tuple[int, list[bytes]]:
    with write_session(svc.sessions) as s:
        shop_id = create_shop(s, name=f"Bench {tag}", email="owner@bench.example").id
    conn_id = stripe_connection(svc, shop_id)
    seed_invoices(
        svc,
        shop_id,
        conn_id,
        [open_invoice(f"in_{tag}_{i}", email=f"c{i}@{tag}.example") for i in range(count)],
    )
    created = int(time.time()) - 60
    bodies = [
        stripe_invoice_event(f"evt_{tag}_{i}", f"in_{tag}_{i}", created=created)
        for i in range(count)
    ]
    return conn_id, bodies


def _drive(port: int, conn_id: int, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """Every body POSTed once (see :func:`drive`); any refused delivery aborts the bench."""
    seconds, latencies, failures = drive(port, conn_id, bodies, clients)
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries refused: {failures[:5]}")
    return seconds, latencies


def drive(
    port: int, conn_id: int, bodies: list[bytes], clients: int
) -> tuple[float, list[float], list[str]]:
    """Every body POSTed once, signed just before the run, spread over ``clients`` keep-alive
    connections held by two client processes (so the load generator does not share one
    interpreter lock with itself). Returns (seconds, sorted latencies, failures)."""
    path = f"/webhooks/stripe/{conn_id}"
    requests = [_request_bytes(path, body, stripe_headers(body)) for body in bodies]
    return drive_requests(port, requests, clients)


def drive_requests(
    port: int, requests: list[bytes], clients: int
) -> tuple[float, list[float], list[str]]:
    """Raw HTTP/1.1 requests, each sent once over ``clients`` keep-alive connections."""
    processes = min(2, clients)
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.queues.Queue[tuple[list[float], list[str]]] = ctx.Queue()
    start_gate = ctx.Event()
    workers = [
        ctx.Process(
            target=_client_process,
            args=(port, requests[i::processes], clients // processes, start_gate, results),
        )
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    time.sleep(0.2)  # let them connect
    start = time.perf_counter()
    start_gate.set()
    latencies: list[float] = []
    failures: list[str] = []
    for _ in workers:
        lat, failed = results.get(timeout=600)
        latencies += lat
        failures += failed
    seconds = time.perf_counter() - start
    for w in workers:
        w.join(timeout=30)
    return seconds, sorted(latencies), failures


def _request_bytes(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _client_process(
    port: int,
    requests: list[bytes],
    connections: int,
    start_gate: Any,
    results: Any,
) -> None:
    """``connections`` threads, one keep-alive socket each, raw HTTP/1.1 (a request is sent
    only once the previous answer is read, as a webhook sender does)."""
    chunks = [requests[i::connections] for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in chunks]
    failures: list[str] = []

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def run(index: int) -> None:
        sock = connect()
        start_gate.wait()
        try:
            for raw in chunks[index]:
                t0 = time.perf_counter()
                sock.sendall(raw)
                status, keep_alive = _read_response(sock)
                latencies[index].append(time.perf_counter() - t0)
                if status != 200:
                    failures.append(str(status))
                if not keep_alive:  # a sync worker answers one request per connection
                    sock.close()
                    sock = connect()
        except OSError as exc:
            failures.append(repr(exc))
        finally:
            sock.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(([x for lat in latencies for x in lat], failures))


def _read_response(sock: socket.socket) -> tuple[int, bool]:
    """Read one HTTP/1.1 response (Content-Length framed): its status, and whether the server
    keeps the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length, keep_alive = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    return int(head.split(b" ", 2)[1]), keep_alive


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))] * 1000


def _applied(svc: Services, count: int, timeout: float = 120.0) -> float:
    """Seconds until ``count`` events are applied (bounded)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with svc.sessions() as s:
            done = s.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.outcome == WebhookOutcome.APPLIED)
            )
        if (done or 0) >= count:
            return time.perf_counter() - start
        time.sleep(0.05)
    raise RuntimeError("events were not all applied in time")


def _check(svc: Services, expected: int) -> None:
    with svc.sessions() as s:
        events = s.scalar(select(func.count()).select_from(WebhookEvent))
        payments = s.scalar(select(func.count()).select_from(Payment))
    assert events == expected and payments == expected, (events, payments, expected)


def run(count: int, *, workers: int, threads: int, clients: int, apply: str) -> dict[str, float]:
    with postgres_database() as url, scratch_services(url) as svc:
        conn_id, bodies = seed_deliveries(svc, count, f"{apply}{workers}")
        with gunicorn(svc, workers=workers, threads=threads, apply=apply) as port:
            # Warm every worker process (imports, connection cache, prepared statements).
            _drive(port, conn_id, bodies[:WARM_UP], clients)
            seconds, lat = _drive(port, conn_id, bodies[WARM_UP:], clients)
            drain = _applied(svc, count) if apply == "background" else 0.0
        if apply == "worker":  # what `relance worker` does: apply what the web processes stored
            start = time.perf_counter()
            assert apply_pending(svc, datetime.now(UTC), max_batches=100) == count
            drain = time.perf_counter() - start
        _check(svc, count)
    n = count - WARM_UP
    return {
        "rate": n / seconds,
        "p50": percentile(lat, 0.50),
        "p99": percentile(lat, 0.99),
        "drain": drain,
    }


def main(quick: bool = False) -> list[Figure]:
    count = 1500 if quick else 6000
    cores = os.cpu_count() or 2
    print(
        f"webhook intake: {count:,} signed deliveries, gunicorn on {cores} cores…", file=sys.stderr
    )
    naive = run(max(500, count // 8), workers=1, threads=1, clients=1, apply="inline")
    inline = run(count, workers=cores * 2, threads=4, clients=16, apply="inline")
    background = run(count, workers=cores * 2, threads=4, clients=16, apply="background")
    worker = run(count, workers=cores * 2, threads=4, clients=16, apply="worker")
    figures = [
        Figure(
            "intake, verified + stored + applied, answered after apply",
            inline["rate"],
            "deliveries/s",
            baseline=naive["rate"],
            target=">= 1,000/s",
        ),
        Figure(
            "  p99 latency (apply inline)",
            inline["p99"],
            "ms",
            baseline=naive["p99"],
            target="< 50 ms",
        ),
        Figure("  p50 latency (apply inline)", inline["p50"], "ms", baseline=naive["p50"]),
        Figure(
            "intake, verified + stored, applied right after (background)",
            background["rate"],
            "deliveries/s",
            baseline=naive["rate"],
            target=">= 1,000/s",
        ),
        Figure(
            "  p99 latency (apply in background)",
            background["p99"],
            "ms",
            baseline=naive["p99"],
            target="< 50 ms",
        ),
        Figure("  store fully applied after the last answer", background["drain"] * 1000, "ms"),
        Figure(
            "intake, verified + stored; applied by the worker (RELANCE_WEBHOOK_APPLY=worker)",
            worker["rate"],
            "deliveries/s",
            baseline=naive["rate"],
            target=">= 1,000/s",
        ),
        Figure(
            "  p99 latency (store only)",
            worker["p99"],
            "ms",
            baseline=naive["p99"],
            target="< 50 ms",
        ),
        Figure(
            "  one worker applying them all afterwards",
            count / worker["drain"],
            "deliveries/s",
        ),
    ]
    return figures


if __name__ == "__main__":
    report(main())
