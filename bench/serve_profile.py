"""Bench only: `relance serve` under cProfile, every thread (``RELANCE_BENCH_PROFILE=DIR`` makes
``bench/intake_sqlite.py`` start the server through this module). Each thread gets its own
profiler when it starts; at exit the profiles are merged per kind of thread (request threads,
the tick's senders, the pump, the rest) into ``DIR/<kind>.prof`` for ``pstats``.

    python -m bench.serve_profile DIR serve --port 8000
"""

from __future__ import annotations

import atexit
import cProfile
import pstats
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

_profiles: list[tuple[str, cProfile.Profile]] = []


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


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    threading.setprofile(_start)
    atexit.register(_dump, out)
    main_profile = cProfile.Profile(time.thread_time)
    _profiles.append(("main", main_profile))
    main_profile.enable()
    from connector.cli import main as cli

    sys.argv = ["relance", *argv[1:]]
    cli()


if __name__ == "__main__":
    main(sys.argv[1:])
