"""A worker process for the concurrency and crash tests: N threads tick the same store until
nothing is left. Configured by the environment (DATABASE_URL, SENDGRID_API_*, …) like
`relance worker`; prints a JSON summary of what its threads reported."""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from datetime import datetime

from connector.config import Settings
from connector.runners import dunning_runner
from connector.services import Services


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--now", required=True)
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now)
    svc = Services.build(Settings.from_env())
    totals: Counter[str] = Counter()
    lock = threading.Lock()

    def loop() -> None:
        runner = dunning_runner(svc)
        idle = 0
        while idle < 2:  # two empty passes in a row: nothing left for this thread
            report = runner.tick(now)
            with lock:
                totals.update(o.outcome for o in report.outcomes)
            idle = 0 if report.outcomes else idle + 1

    threads = [threading.Thread(target=loop) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(dict(totals)), flush=True)
    svc.close()


if __name__ == "__main__":
    main()
