"""`make bench` / `python -m bench [tick|send|ingest|intake|intake-sqlite …]`: every figure with
its ratio to a naive baseline measured in the same run. Not tests: nothing here asserts a time."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import ingest, intake, intake_sqlite, pages, send, tick
from bench.common import Figure, report

SUITES: dict[str, Callable[[], list[Figure]]] = {
    "tick": tick.main,
    "send": send.main,
    "ingest": ingest.main,
    "intake": intake.main,
    "intake-sqlite": intake_sqlite.main,
    "pages": pages.main,
}


def main(argv: list[str]) -> None:
    names = argv or list(SUITES)
    figures: list[Figure] = []
    for name in names:
        figures += SUITES[name]()
    print()
    report(figures)


if __name__ == "__main__":
    main(sys.argv[1:])
