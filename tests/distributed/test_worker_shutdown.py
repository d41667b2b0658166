"""A worker's warm shutdown (SIGTERM): it drains its pool, and while it drains the Supervisor
still enforces cancel and max_usage_time on the jobs that run."""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.helpers import job, submit, wait

from .conftest import RABBITMQ_URL, Deployment, deployment
from .helpers import alive, clients, pid_of, stored

JOBS = "/Dist/Jobs/GPServer"
TIMED = "/Dist/Timed/GPServer"      # max_usage_time = 3


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[Deployment]:
    """One API server and one worker of two pool processes: both jobs run on that worker."""
    yield from deployment(tmp_path, RABBITMQ_URL, servers=1, workers=1, concurrency=2)


def test_a_draining_worker_still_times_out_and_cancels_its_jobs(lone: Deployment) -> None:
    (c,) = clients(lone)
    timed = submit(c, f"{TIMED}/Stubborn", seconds="60")         # ignores ctx.cancelled, holds the CPU
    ignoring = submit(c, f"{JOBS}/Pid", seconds="60")           # sleeps through a cancel request
    pid = pid_of(c, f"{JOBS}/Pid", ignoring)
    wait(c, f"{TIMED}/Stubborn", timed, until={"esriJobExecuting"})
    worker = lone.workers[0]
    assert worker is not None
    worker.send_signal(signal.SIGTERM)      # warm shutdown: stop taking doorbells, wait for the pool
    deadline = time.monotonic() + 10
    while "Warm shutdown" not in lone.tmp.joinpath("worker0.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.poll() is None, "the worker did not wait for its running jobs"

    started = time.monotonic()
    c.post(f"{JOBS}/Pid/jobs/{ignoring}/cancel", data={"f": "json"})
    assert wait(c, f"{JOBS}/Pid", ignoring, timeout=10)["jobStatus"] == "esriJobCancelled"
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 3
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the cancelled job's pool process still runs"

    body = wait(c, f"{TIMED}/Stubborn", timed, timeout=15)
    assert body["jobStatus"] == "esriJobTimedOut", body
    run = stored(lone, timed)
    assert 3 <= run.finished - run.started < 5
    # with nothing left to run, the warm shutdown ends, well before the jobs' own 60 s
    assert worker.wait(15) == 0
    assert job(c, f"{TIMED}/Stubborn", timed)["jobStatus"] == "esriJobTimedOut"
