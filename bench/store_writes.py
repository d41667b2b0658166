#!/usr/bin/env python3
"""The job store's write cost per job, in process: create, claim, finish.

    .venv/bin/python bench/store_writes.py [--jobs N] [--rounds R] [--data-dir DIR] [--url URL]

Each job is what the server writes for a job that runs: ``create`` (submitted),
``claim`` (executing) and ``transition`` to succeeded with results, a message and
``finished`` - three commits.  One thread, so this is the store's own cost with no
HTTP or worker around it (the server makes these calls on its event loop).
Reported per round: jobs/s, wall and CPU microseconds per job (CPU time is the
steadier figure on a busy machine); the median round is the figure.  ``--data-dir`` runs on an existing SQLite data dir (e.g. one
``jobs_query.py --keep`` filled with 1,000,000 jobs) instead of a fresh one;
``--url`` on any store URL (PostgreSQL: each write is its own transaction there).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def one_round(store, n: int) -> tuple[float, float]:
    """``(wall seconds, CPU seconds of this process)`` for ``n`` jobs."""
    from opengp.core import Job, Message, Status

    jobs = [Job.new("Bench/Noop", "Noop", {"value": "x"}, owner=f"user{i % 100:03d}", retention=86400)
            .evolve(status=Status.SUBMITTED) for i in range(n)]
    t0, c0 = time.perf_counter(), time.process_time()
    for job in jobs:
        store.create(job)
        store.claim(job.id, "local-1")
        store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time(),
                         results={"result": {"paramName": "result", "dataType": "GPString", "value": "x"}},
                         messages=[Message.now("info", "Succeeded.")])
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=5000, help="jobs per round (default 5,000)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data-dir", type=Path, help="an existing SQLite data dir (default: a fresh one)")
    ap.add_argument("--url", help="a store URL instead (e.g. postgresql+psycopg://...)")
    args = ap.parse_args()

    from opengp.store.sql import SqlStore

    from opengp.system.files import sqlite_url

    tmp = tempfile.TemporaryDirectory(prefix="opengp-bench-writes-")
    url = args.url or sqlite_url(args.data_dir or Path(tmp.name))
    store = SqlStore(url)
    try:
        one_round(store, min(500, args.jobs))          # warm-up
        seconds = [one_round(store, args.jobs) for _ in range(args.rounds)]
    finally:
        store.close()
        tmp.cleanup()
    for wall, cpu in seconds:
        print(f"  {args.jobs / wall:8,.0f} jobs/s  {wall / args.jobs * 1e6:6.1f} us/job  "
              f"(CPU {cpu / args.jobs * 1e6:6.1f} us/job)")
    wall, cpu = (statistics.median(x) for x in zip(*seconds))
    print(f"median: {args.jobs / wall:,.0f} jobs/s, {wall / args.jobs * 1e6:.1f} us/job, "
          f"CPU {cpu / args.jobs * 1e6:.1f} us/job (create + claim + finish, {args.rounds} rounds of {args.jobs:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
