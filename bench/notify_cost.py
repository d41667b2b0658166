#!/usr/bin/env python3
"""What live-update notifications (store/notify.py) add to a job's store writes on PostgreSQL.

    .venv/bin/python bench/notify_cost.py [--jobs 300] [--rounds 4] [--pg postgresql+psycopg://...]

Each job goes through what a Celery worker does to it: create, claim, two progress
reports (``report``), finish (``transition``).  Rounds alternate between a store
without notifications and one that NOTIFYs (the order flips each round, so drift in
a shared machine's load falls on both).  A listener counts the ids delivered.
Prints ms per job for both, NOTIFY statements per job, and ids delivered.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

import psycopg

from opengp.core import Job, Message, Progress, Status
from opengp.store.notify import CHANNEL, JobEvents, libpq_url
from opengp.store.sql import SqlStore


def one_round(store: SqlStore, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        job = Job.new("Bench/Notify", "Noop", {}).evolve(status=Status.SUBMITTED)
        store.create(job)
        store.claim(job.id, "bench:1")
        store.report(job.id, [Message.now("info", "half")], Progress(50.0))
        store.report(job.id, [Message.now("info", "most")], Progress(90.0))
        store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=time.time(), results={"x": i})
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pg", default=os.environ.get("OPENGP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    name = f"opengp_bench_notify_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(args.pg)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    try:
        store = SqlStore(url)
        events = JobEvents(url)
        listener = psycopg.connect(libpq_url(url), autocommit=True)
        listener.execute(f"LISTEN {CHANNEL}")
        one_round(store, 20)        # warm up
        plain: list[float] = []
        notified: list[float] = []
        for r in range(args.rounds):
            for on in ((False, True) if r % 2 == 0 else (True, False)):
                store.events = events if on else None
                (notified if on else plain).append(one_round(store, args.jobs))
        time.sleep(0.3)
        delivered = sum(len(note.payload.split()) for note in listener.notifies(timeout=1.0))
        jobs = args.rounds * args.jobs
        print(f"store writes per job, plain:    {statistics.median(plain):.2f} ms (rounds {[round(x, 2) for x in plain]})")
        print(f"store writes per job, notified: {statistics.median(notified):.2f} ms (rounds {[round(x, 2) for x in notified]})")
        print(f"NOTIFY statements per job: {events.sent / jobs:.2f}; ids delivered per job: {delivered / jobs:.2f}")
        events.close()
        listener.close()
        store.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
