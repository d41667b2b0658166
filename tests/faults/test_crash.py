"""Crash test: a burst of submissions from 16 clients, the server killed with -9 in the middle of
it, restarted on the same data: no acknowledged job is lost, none is left unfinished, the store
is intact.  Three rounds on one data folder (SQLite, local workers: the server's whole process
group is killed), and the same against a scale-out deployment (an API server and a worker
killed mid-burst, then started again).

A job is acknowledged when its submit was answered with a job id: from then on the client may
rely on it.  Submits cut off by the kill may or may not have made a job; those are not counted.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import Server, wait_http

TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}
CLIENTS = 16
SETTLE = 90.0           # seconds after the restart within which every job must have ended


class Burst:
    """``CLIENTS`` threads submitting short jobs as fast as the server answers, each to the GP
    service URL its index picks, until stopped; ``acknowledged`` maps job id -> its task URL."""

    def __init__(self, task_urls: list[str]) -> None:
        self.task_urls = task_urls
        self.acknowledged: dict[str, str] = {}
        self.stop = threading.Event()
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(CLIENTS)]

    def _client(self, i: int) -> None:
        base = self.task_urls[i % len(self.task_urls)]
        with httpx.Client(timeout=10) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                # mostly jobs that end at once; one in ten runs a moment, so some are mid-run at the kill
                task, form = (f"{base}/Sleep", {"seconds": "0.05"}) if n % 10 == 0 else (f"{base}/Noop",
                                                                                       {"value": f"{i}-{n}"})
                try:
                    body = c.post(f"{task}/submitJob", data={"f": "json", **form}).json()
                except (httpx.HTTPError, ValueError):      # the server is gone: try again (a new one may come)
                    time.sleep(0.05)
                    continue
                with self._lock:
                    if "jobId" in body:
                        self.acknowledged[body["jobId"]] = task
                    else:
                        self.refused.append(str(body))

    def __enter__(self) -> "Burst":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def settled(store_url: str, jobs: dict[str, str], deadline: float) -> dict[str, int]:
    """Wait until every acknowledged job has ended; returns how many ended in each status.  Fails
    on a job the store does not have, or one still unfinished at ``deadline``.  The store is read
    for all of them (thousands); a sample is also read over HTTP, as its client would."""
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(store_url)
    query = text("SELECT id, status FROM jobs WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    ids = list(jobs)
    try:
        while True:
            found: dict[str, str] = {}
            with engine.connect() as db:
                for i in range(0, len(ids), 500):
                    found.update(db.execute(query, {"ids": ids[i:i + 500]}).fetchall())
            missing = set(ids) - set(found)
            assert not missing, f"{len(missing)} acknowledged jobs are missing, e.g. {sorted(missing)[:3]}"
            unfinished = [j for j, status in found.items() if status not in ("succeeded", "failed", "timed_out",
                                                                               "cancelled")]
            if not unfinished:
                break
            assert time.monotonic() < deadline, f"{len(unfinished)} jobs unfinished {SETTLE:.0f} s after the restart"
            time.sleep(0.5)
    finally:
        engine.dispose()
    with httpx.Client(timeout=30) as c:
        for job_id in random.sample(ids, min(100, len(ids))):
            body = c.get(f"{jobs[job_id]}/jobs/{job_id}", params={"f": "json"}).json()     # the task's job URL
            assert body.get("jobStatus") in TERMINAL, body
    ended: dict[str, int] = {}
    for status in found.values():
        ended[status] = ended.get(status, 0) + 1
    return ended


# -- one machine: SQLite, local workers ---------------------------------------------------------------
class GroupServer(Server):
    """``opengp serve`` in a process group of its own, so the whole group (the server and its
    worker processes) can be killed at once, as a crash or the OOM killer of a container would."""

    def start(self, timeout: float = 30) -> "GroupServer":
        args = [sys.executable, "-m", "opengp", "serve", "--config", str(self.config), "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--log-level", "warning", *(["--demo"] if self.demo else [])]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=self.tmp,
                                     start_new_session=True)
        wait_http(self.proc, self.url, self.log, "server", timeout)
        return self

    def kill_group(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None


@pytest.mark.timeout(900)
def test_kill_9_of_the_whole_server_mid_burst_loses_no_acknowledged_job(tmp_path: Path) -> None:
    srv = GroupServer(tmp_path, workers=2)
    # Retry: no limit on instances (Test/Jobs waits at 2), so the burst queues up work
    tasks = [f"{srv.url}/arcgis/rest/services/Retry/GPServer"]
    every: dict[str, str] = {}
    try:
        for round_ in range(3):
            srv.start()
            with Burst(tasks) as burst:
                time.sleep(random.uniform(1.0, 2.5))
                srv.kill_group()
            assert burst.acknowledged, "the burst got no job in before the kill"
            assert not burst.refused, burst.refused[:3]
            every.update(burst.acknowledged)
            srv.start()
            ended = settled(srv.store_url, every, time.monotonic() + SETTLE)
            srv.stop()
            with sqlite3.connect(srv.data_dir / "opengp.db") as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                _assert_counts_agree(db)
            print(f"round {round_ + 1}: {len(burst.acknowledged)} acknowledged; all {len(every)} so far: {ended}")
    finally:
        if srv.proc is not None:
            srv.kill_group()


def _assert_counts_agree(db: sqlite3.Connection) -> None:
    """The finished-job counts (triggers, migration 0004) still add up to the jobs themselves."""
    counted = db.execute("SELECT (SELECT coalesce(sum(n), 0) FROM job_counts) + "
                         "(SELECT coalesce(sum(n), 0) FROM job_count_deltas)").fetchone()[0]
    finished = db.execute("SELECT count(*) FROM jobs WHERE status IN "
                          "('succeeded', 'failed', 'timed_out', 'cancelled')").fetchone()[0]
    assert counted == finished


# -- scale-out: PostgreSQL, RabbitMQ, two API servers and two workers ---------------------------------
@pytest.mark.timeout(900)
def test_kill_9_of_an_api_server_and_a_worker_mid_burst_loses_no_acknowledged_job(tmp_path: Path) -> None:
    import scaleout

    scaleout.require_services(scaleout.RABBITMQ_URL)
    config = tmp_path / "opengp.toml"
    from conftest import TEST_CONFIG, TOOLBOXES

    config.write_text(TEST_CONFIG.format(workers=2, toolbox=TOOLBOXES / "testing.py"))
    dep = scaleout.Deployment(tmp_path, scaleout.RABBITMQ_URL, config, demo=True)
    try:
        dep.start()
        every: dict[str, str] = {}
        for round_ in range(3):
            tasks = [f"{url}/arcgis/rest/services/Retry/GPServer" for url in dep.urls]
            with Burst(tasks) as burst:
                time.sleep(random.uniform(1.0, 2.5))
                dep.servers[0].send_signal(signal.SIGKILL)
                dep.servers[0].wait(10)
                dep.kill_worker(0)
                time.sleep(0.5)
            assert burst.acknowledged and not burst.refused, burst.refused[:3]
            every.update(burst.acknowledged)
            dep.start_server(0)
            dep.start_worker(0)
            dep.wait_worker(0)
            ended = settled(dep.database_url, every, time.monotonic() + SETTLE)
            _assert_pg_counts_agree(dep.database_url)
            print(f"round {round_ + 1}: {len(burst.acknowledged)} acknowledged; all {len(every)} so far: {ended}")
    finally:
        dep.stop()


def _assert_pg_counts_agree(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as db:
            counted = db.execute(text("SELECT (SELECT coalesce(sum(n), 0) FROM job_counts) + "
                                      "(SELECT coalesce(sum(n), 0) FROM job_count_deltas)")).scalar_one()
            finished = db.execute(text("SELECT count(*) FROM jobs WHERE status IN "
                                       "('succeeded', 'failed', 'timed_out', 'cancelled')")).scalar_one()
            orphans = db.execute(text("SELECT count(*) FROM job_values v WHERE NOT EXISTS "
                                      "(SELECT 1 FROM jobs j WHERE j.id = v.job_id)")).scalar_one()
    finally:
        engine.dispose()
    assert counted == finished and orphans == 0
