"""`make bench` / `python -m bench [--quick] [tick|send|send-transport|apply|burst|first-tick|
ingest|intake|intake-sqlite|pages|pages-vitals …]`: every figure with its ratio to a naive
baseline measured in the same run (first-tick: a worker's first tick against its second), and
what it cost per item (CPU µs, SQL statements, commits). ``--quick``: smaller sizes, the whole
suite in under 3 minutes. Not tests: nothing here asserts a time."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import (
    apply,
    burst,
    first_tick,
    ingest,
    intake,
    intake_sqlite,
    pages,
    pages_vitals,
    send,
    send_transport,
    tick,
)
from bench.common import Figure, report

SUITES: dict[str, Callable[[bool], list[Figure]]] = {
    "tick": tick.main,
    "send": send.main,
    "send-transport": send_transport.main,
    "apply": apply.main,
    "burst": burst.main,
    "first-tick": first_tick.main,
    "ingest": ingest.main,
    "intake": intake.main,
    "intake-sqlite": intake_sqlite.main,
    "pages": lambda quick: pages.main(10_000 if quick else 100_000),
    "pages-vitals": pages_vitals.main,
}


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"] or list(SUITES)
    figures: list[Figure] = []
    for name in names:
        try:
            found = SUITES[name](quick)
        except Exception as exc:  # one broken case must not lose the others' figures
            print(f"bench {name} failed: {exc!r}", file=sys.stderr, flush=True)
            continue
        report(found)  # as it comes: a long run still shows what it measured so far
        figures += found
    print()
    report(figures)


if __name__ == "__main__":
    main(sys.argv[1:])
