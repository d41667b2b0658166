"""Jobs survive restarts; nothing a dead process leaves behind stays non-terminal."""
from __future__ import annotations

import os
import signal
import sqlite3
import time

import httpx
import pytest

from .helpers import job, result, submit, wait

JOBS = "/Test/Jobs/GPServer"

# Each test starts, kills or restarts a server of its own (``fresh_server``) with local worker
# processes and its SQLite file: about the local executor, so not run against the scale-out
# deployment (tests/distributed/test_lost_workers.py covers lost Celery workers there).
pytestmark = pytest.mark.local_only


def _client(server) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/arcgis/rest/services", timeout=30)


def test_jobs_messages_and_results_survive_a_restart(fresh_server):
    fresh_server.start()
    with _client(fresh_server) as c:
        job_id = submit(c, f"{JOBS}/Add", a="20", b="22")
        before = wait(c, f"{JOBS}/Add", job_id)
    fresh_server.stop()
    fresh_server.start()
    with _client(fresh_server) as c:
        assert job(c, f"{JOBS}/Add", job_id) == before
        assert result(c, f"{JOBS}/Add", job_id, "result")["value"] == 42


def test_job_running_when_the_server_dies_ends_failed_on_restart(fresh_server):
    fresh_server.start()
    with _client(fresh_server) as c:
        job_id = submit(c, f"{JOBS}/Sleep", seconds="2.5")
        wait(c, f"{JOBS}/Sleep", job_id, until={"esriJobExecuting"})
        queued = [submit(c, f"{JOBS}/Sleep", seconds="0.1") for _ in range(3)]
    fresh_server.stop(signal.SIGKILL)
    time.sleep(3)  # let the orphaned worker finish and find nobody to report to
    fresh_server.start()
    with _client(fresh_server) as c:
        body = job(c, f"{JOBS}/Sleep", job_id)
        assert body["jobStatus"] == "esriJobFailed"
        assert any("server stopped" in m["description"] for m in body["messages"])
        # jobs that were only queued are not lost: they run after the restart
        for q in queued:
            assert wait(c, f"{JOBS}/Sleep", q)["jobStatus"] in {"esriJobSucceeded", "esriJobFailed"}


def test_kill_9_of_a_worker_fails_its_job_and_a_new_worker_takes_over(fresh_server):
    fresh_server.start()
    with _client(fresh_server) as c:
        job_id = submit(c, f"{JOBS}/Pid", seconds="30")
        deadline = time.monotonic() + 10
        pid = None
        while pid is None and time.monotonic() < deadline:
            texts = [m["description"] for m in job(c, f"{JOBS}/Pid", job_id)["messages"]]
            pid = next((int(t[4:]) for t in texts if t.startswith("pid=")), None)
            time.sleep(0.05)
        assert pid in fresh_server.worker_pids()
        os.kill(pid, signal.SIGKILL)
        body = wait(c, f"{JOBS}/Pid", job_id, timeout=10)
        assert body["jobStatus"] == "esriJobFailed"
        assert any("died unexpectedly" in m["description"] for m in body["messages"])
        after = submit(c, f"{JOBS}/Add", a="1")
        assert wait(c, f"{JOBS}/Add", after)["jobStatus"] == "esriJobSucceeded"
        assert pid not in fresh_server.worker_pids()


def test_a_service_with_retries_runs_the_job_again_after_a_lost_worker(fresh_server):
    fresh_server.start()
    with _client(fresh_server) as c:
        job_id = submit(c, "/Retry/GPServer/Pid", seconds="1")
        pid = None
        deadline = time.monotonic() + 10
        while pid is None and time.monotonic() < deadline:
            texts = [m["description"] for m in job(c, "/Retry/GPServer/Pid", job_id)["messages"]]
            pid = next((int(t[4:]) for t in texts if t.startswith("pid=")), None)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        body = wait(c, "/Retry/GPServer/Pid", job_id, timeout=15)
        assert body["jobStatus"] == "esriJobSucceeded"
        assert result(c, "/Retry/GPServer/Pid", job_id, "result")["value"] != pid
    with sqlite3.connect(fresh_server.data_dir / "opengp.db") as db:
        assert db.execute("select attempts from jobs where id=?", (job_id,)).fetchone()[0] == 2


def test_a_second_server_on_the_same_data_dir_refuses_to_start(fresh_server, tmp_path):
    from conftest import Server
    fresh_server.start()
    twin = Server(tmp_path)
    twin.data_dir = fresh_server.data_dir
    try:
        twin.start(timeout=20)
        raise AssertionError("a second server started on the same data folder")
    except RuntimeError as exc:
        assert "another opengp server" in str(exc)
