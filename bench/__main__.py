"""`make bench` / `python -m bench [tick|send|ingest|intake|intake-sqlite|pages|pages-vitals …]
[--quick]`: every figure with its ratio to a naive baseline measured in the same run. Not
tests: nothing here asserts a time. ``--quick`` shortens the suites that have a short form
(pages-vitals)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import ingest, intake, intake_sqlite, pages, pages_vitals, send, tick
from bench.common import Figure, report

SUITES: dict[str, Callable[[], list[Figure]]] = {
    "tick": tick.main,
    "send": send.main,
    "ingest": ingest.main,
    "intake": intake.main,
    "intake-sqlite": intake_sqlite.main,
    "pages-vitals": pages_vitals.main,  # reads --quick itself
    "pages": pages.main,
}


def main(argv: list[str]) -> None:
    names = [arg for arg in argv if not arg.startswith("--")] or list(SUITES)
    figures: list[Figure] = []
    for name in names:
        figures += SUITES[name]()
    print()
    report(figures)


if __name__ == "__main__":
    main(sys.argv[1:])
