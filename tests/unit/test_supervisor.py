"""The Celery worker's Supervisor (executors/supervisor.py) and pool children that die on their own.

Real child processes (``sleep``) stand for pool children; the pool's list of
them is a plain list the test edits, as billiard's would change.  The store is
the in-memory one: what matters here is which jobs the Supervisor settles.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from opengp.config import Settings
from opengp.core import Job, Status
from opengp.executors.supervisor import Supervisor
from opengp.executors.worker import slot_name
from opengp.store import MemoryStore


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen]]:
    made: list[subprocess.Popen] = []
    yield made
    for child in made:
        if child.poll() is None:
            child.kill()
            child.wait()


def _supervisor(tmp_path, pool: list[int]) -> tuple[Supervisor, MemoryStore, list[str]]:
    store, released = MemoryStore(), []
    sup = Supervisor(Settings(data_dir=tmp_path), store, lambda: list(pool), released.append)
    return sup, store, released


def _claimed(store: MemoryStore, pid: int) -> Job:
    job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED)
    store.create(job)
    return store.claim(job.id, slot_name(pid))


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def _child(children: list[subprocess.Popen]) -> subprocess.Popen:
    child = subprocess.Popen(["sleep", "60"])
    children.append(child)
    return child


@pytest.mark.parametrize("still_listed", [False, True], ids=["reaped by the pool", "not yet reaped"])
def test_the_job_of_a_child_that_died_is_settled_at_the_next_tick(tmp_path, children, still_listed):
    dying, healthy = _child(children), _child(children)
    pool = [dying.pid, healthy.pid]
    sup, store, released = _supervisor(tmp_path, pool)
    sup.tick()                                  # both children known
    lost, kept = _claimed(store, dying.pid), _claimed(store, healthy.pid)     # claimed since that tick
    os.kill(dying.pid, signal.SIGKILL)
    if still_listed:        # a zombie: dead, not yet reaped, still in the pool's list
        deadline = time.monotonic() + 5
        while _state(dying.pid) != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    else:
        dying.wait()
        pool.remove(dying.pid)
    sup.tick()
    dying.wait()
    ended = store.get(lost.id)
    assert ended.status is Status.FAILED and "ended while running it" in ended.error
    assert store.get(kept.id).status is Status.EXECUTING and released == ["Demo/Tools"]
    sup.tick()                                  # once only
    assert released == ["Demo/Tools"]


def test_a_child_missing_from_the_pool_list_but_alive_keeps_its_job(tmp_path, children):
    """While the pool shuts down its list may read empty: its children still run their jobs."""
    child = _child(children)
    pool = [child.pid]
    sup, store, released = _supervisor(tmp_path, pool)
    sup.tick()
    job = _claimed(store, child.pid)
    pool.clear()
    for _ in range(3):
        sup.tick()
    assert store.get(job.id).status is Status.EXECUTING and not released
    child.kill()
    child.wait()
    sup.tick()
    assert store.get(job.id).status is Status.FAILED


def test_a_child_that_died_before_any_tick_saw_it_is_settled_while_the_pool_still_lists_it(tmp_path, children):
    """Started by the pool, it claimed a job and died within a tick: never seen alive."""
    child = _child(children)
    sup, store, released = _supervisor(tmp_path, [])
    sup.tick()
    job = _claimed(store, child.pid)
    sup.pool_pids = lambda: [child.pid]
    child.kill()
    deadline = time.monotonic() + 5
    while _state(child.pid) != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sup.tick()
    assert store.get(job.id).status is Status.FAILED


def test_a_job_claimed_again_elsewhere_is_left_alone(tmp_path, children):
    """Settled by the reconciler meanwhile and re-run by another worker: not this child's any more."""
    child = _child(children)
    sup, store, released = _supervisor(tmp_path, [child.pid])
    sup.tick()
    job = _claimed(store, child.pid)
    store.transition(job.id, [Status.EXECUTING], Status.SUBMITTED)
    store.claim(job.id, "elsewhere:1")
    child.kill()
    child.wait()
    time.sleep(0.01)
    sup.tick()
    assert store.get(job.id).status is Status.EXECUTING and store.get(job.id).worker == "elsewhere:1"


def test_a_job_of_an_earlier_run_is_not_kept_alive_by_a_process_that_got_its_pid(tmp_path, children):
    """A container restarted with the same hostname can hand an old job's pid to a new pool
    child: the new run must not renew that job's lease, or the reconciler never finds it lost."""
    child = _child(children)
    sup, store, _ = _supervisor(tmp_path, [child.pid])
    job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED)
    store.create(job)
    earlier = store.claim(job.id, slot_name(child.pid, run_tag="e0e0e0"))
    ours = _claimed(store, child.pid)
    assert earlier.worker != ours.worker and earlier.worker.rpartition(":")[0] == ours.worker.rpartition(":")[0]
    time.sleep(0.05)
    sup.tick()
    assert store.get(earlier.id).heartbeat == earlier.heartbeat       # not renewed: its lease runs out
    assert store.get(ours.id).heartbeat > ours.heartbeat              # renewed
