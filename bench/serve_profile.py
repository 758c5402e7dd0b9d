"""Bench only: `relance serve` under cProfile, every thread (``RELANCE_BENCH_PROFILE=DIR`` makes
``bench/intake_sqlite.py`` start the server through this module). Each thread gets its own
profiler when it starts; at exit the profiles are merged per kind of thread (request threads,
the tick's senders, the pump, the rest) into ``DIR/<kind>.prof`` for ``pstats``, and how long
each kind of thread held SQLite's writer gate, by the function that wrote, into
``DIR/writer_gate.txt`` (``RELANCE_BENCH_PROFILE_CPU=0``: the gate's timing alone, which
costs next to nothing, so the figures stay those of an unprofiled server).

    python -m bench.serve_profile DIR serve --port 8000
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

_profiles: list[tuple[str, cProfile.Profile]] = []
#: How long each kind of thread held SQLite's writer gate, each time (seconds).
_holds: dict[str, list[float]] = {}
_held_since: dict[int, float] = {}


def _opener() -> str:
    """The first function of ours above the store's own code: who wrote."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if "/connector/" in name and "/connector/store/" not in name and "contextlib" not in name:
            return f"{Path(name).stem}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def _time_the_gate() -> None:
    """Wrap the writer gate: who holds SQLite's one writer, how long (wall time)."""
    from connector.store import db

    acquire, release = db.WriterGate.acquire, db.WriterGate.release

    def timed_acquire(gate: db.WriterGate, timeout: float, *, urgent: bool = False) -> bool:
        got = acquire(gate, timeout, urgent=urgent)
        if got:
            _held_since[threading.get_ident()] = time.perf_counter()
        return got

    def timed_release(gate: db.WriterGate) -> None:
        since = _held_since.pop(threading.get_ident(), None)
        if since is not None:
            kind = f"{_kind(threading.current_thread().name)} {_opener()}"
            _holds.setdefault(kind, []).append(time.perf_counter() - since)
        release(gate)

    db.WriterGate.acquire = timed_acquire  # type: ignore[method-assign, assignment]
    db.WriterGate.release = timed_release  # type: ignore[method-assign, assignment]


def _kind(name: str) -> str:
    """waitress-0 → waitress; ThreadPoolExecutor-1_3 → ThreadPoolExecutor; webhook-pump …"""
    for prefix in ("waitress", "ThreadPoolExecutor", "send"):
        if name.startswith(prefix):
            return prefix
    return name


def _start(frame: FrameType, event: str, arg: Any) -> None:
    sys.setprofile(None)
    profile = cProfile.Profile(time.thread_time)  # CPU, not lock waits
    _profiles.append((_kind(threading.current_thread().name), profile))
    profile.enable()


def _dump(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    merged: dict[str, pstats.Stats] = {}
    for kind, profile in list(_profiles):
        profile.create_stats()
        if kind in merged:
            merged[kind].add(profile)
        else:
            merged[kind] = pstats.Stats(profile)
    for kind, stats in merged.items():
        stats.dump_stats(str(out / f"{kind}.prof"))
    lines = []
    for kind, holds in sorted(_holds.items()):
        holds.sort()
        p99 = holds[min(len(holds) - 1, int(len(holds) * 0.99))]
        lines.append(
            f"{kind:<45} {len(holds):>6} holds, {sum(holds) * 1000:>9.1f} ms in all, "
            f"p50 {holds[len(holds) // 2] * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
            f"max {holds[-1] * 1000:.2f} ms"
        )
    (out / "writer_gate.txt").write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    _time_the_gate()
    if os.environ.get("RELANCE_BENCH_PROFILE_CPU", "1") != "0":
        threading.setprofile(_start)
    atexit.register(_dump, out)
    if os.environ.get("RELANCE_BENCH_PROFILE_CPU", "1") != "0":
        main_profile = cProfile.Profile(time.thread_time)
        _profiles.append(("main", main_profile))
        main_profile.enable()
    from connector.cli import main as cli

    sys.argv = ["relance", *argv[1:]]
    cli()


if __name__ == "__main__":
    main(sys.argv[1:])
