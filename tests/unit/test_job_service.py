"""The job service without HTTP, processes or sleeps: the in-memory store and the inline
executor (executors/inline.py), which runs jobs through ``run_job`` when the test says."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from opengp.config import ServiceConfig
from opengp.core import InvalidInput, NotAllowed, Status
from opengp.executors.inline import InlineExecutor
from opengp.jobs.service import JobService
from opengp.jobs.signals import JobSignals
from opengp.store import JobQuery, MemoryStore
from opengp.tools.registry import Registry, load_service

TOOLBOX = Path(__file__).resolve().parents[1] / "toolboxes" / "testing.py"


@pytest.fixture
def kit(tmp_path):
    store = MemoryStore()
    registry = Registry([load_service(ServiceConfig(folder="Test", name="Jobs", toolbox=str(TOOLBOX))),
                         load_service(ServiceConfig(folder="Test", name="One", toolbox=str(TOOLBOX),
                                                    max_instances=1, retries=1)),
                         load_service(ServiceConfig(folder="Test", name="Now", toolbox=str(TOOLBOX),
                                                    execution_type="synchronous"))])
    signals = JobSignals()
    executor = InlineExecutor(store, registry, tmp_path, on_done=signals.done)
    jobs = JobService(store, registry, executor, tmp_path, signals=signals)
    yield jobs, executor, store
    store.close()


def run(coro):
    return asyncio.run(coro)


def submit(jobs: JobService, service: str = "Test/Jobs", task: str = "Add", **form):
    return run(jobs.submit(service, task, form or {"a": "1", "b": "2"}, synchronous=False))


def test_a_submitted_job_is_committed_queued_and_then_runs_to_its_result(kit):
    jobs, executor, store = kit
    job = submit(jobs)
    assert store.get(job.id).status is Status.SUBMITTED and executor.queued == [job.id]
    assert [m.text for m in job.messages] == ["Submitted."]
    assert executor.drain() == [job.id]
    done = jobs.get(job.id)
    assert done.status is Status.SUCCEEDED and done.results["result"]["value"] == 3
    assert done.started is not None and done.finished >= done.started and done.attempts == 1


def test_bad_inputs_and_the_wrong_operation_make_no_job(kit):
    jobs, executor, store = kit
    with pytest.raises(InvalidInput) as caught:
        submit(jobs, a="one")
    assert caught.value.details and "a" in caught.value.details[0]
    with pytest.raises(NotAllowed, match="execute"):
        run(jobs.submit("Test/Now", "Add", {"a": "1"}, synchronous=False))
    assert store.query(JobQuery(limit=None))[0] == 0 and executor.queued == []


def test_a_queued_job_is_cancelled_at_once_and_never_runs(kit):
    jobs, executor, _ = kit
    job = submit(jobs)
    cancelled = run(jobs.cancel(job.id))
    assert cancelled.status is Status.CANCELLED and cancelled.cancel_requested
    assert executor.queued == [] and executor.drain() == []
    assert run(jobs.cancel(job.id)).status is Status.CANCELLED       # again: unchanged, no error


def test_a_running_job_is_asked_to_stop(kit):
    jobs, executor, store = kit
    job = submit(jobs, task="Sleep", seconds="0")
    executor.claim(job.id)
    asked = run(jobs.cancel(job.id))
    assert asked.status is Status.CANCELLING and asked.cancel_requested
    # the tool ended before it looked at the flag (the heartbeat brings it): it keeps its work
    assert executor.finish(job.id) is Status.SUCCEEDED
    done = store.get(job.id)
    assert done.results["result"]["value"] == "rested" and "Cancel requested." in [m.text for m in done.messages]


def test_max_instances_holds_jobs_back_as_waiting_first_in_first_out(kit):
    jobs, executor, store = kit
    first, second, third = (submit(jobs, "Test/One") for _ in range(3))
    executor.claim()
    assert executor.drain() == []           # the one slot is taken
    assert [store.get(j.id).status for j in (first, second, third)] == [
        Status.EXECUTING, Status.WAITING, Status.WAITING]
    executor.finish(first.id)
    assert executor.drain() == [second.id, third.id]
    assert all(store.get(j.id).status is Status.SUCCEEDED for j in (first, second, third))


def test_a_lost_worker_s_job_runs_again_within_retries_then_fails(kit):
    jobs, executor, store = kit
    job = submit(jobs, "Test/One")
    executor.claim(job.id)
    assert executor.lose(job.id) is Status.SUBMITTED and executor.queued == [job.id]
    assert store.get(job.id).messages[-1].text.endswith("It will run again.")
    executor.claim(job.id)
    assert executor.lose(job.id) is Status.FAILED
    failed = store.get(job.id)
    assert failed.attempts == 2 and failed.error == "The worker running this job was lost."


def test_a_restart_settles_what_a_dead_server_left(kit):
    jobs, executor, store = kit
    running, waiting, retried = submit(jobs), submit(jobs, "Test/One"), submit(jobs, "Test/One")
    executor.claim(running.id)
    executor.claim(retried.id)
    executor.drain()                       # holds ``waiting`` back behind ``retried``
    assert store.get(waiting.id).status is Status.WAITING
    fresh = InlineExecutor(store, jobs.registry, jobs.data_dir)      # the server starts again
    jobs.executor = fresh
    interrupted, requeued = jobs.recover()
    assert store.get(running.id).status is Status.FAILED               # Test/Jobs has no retries
    assert "server stopped" in store.get(running.id).error
    assert store.get(retried.id).status is Status.SUBMITTED and store.get(waiting.id).status is Status.SUBMITTED
    assert (interrupted, sorted(fresh.queued)) == (1, sorted([retried.id, waiting.id])) and requeued == 2
    assert fresh.drain() == [waiting.id, retried.id]         # oldest first, one at a time
    assert {store.get(j.id).status for j in (waiting, retried)} == {Status.SUCCEEDED}


def test_deleting_a_running_job_cancels_it_first(kit):
    jobs, executor, store = kit
    job = submit(jobs, task="Sleep", seconds="0")
    executor.claim(job.id)
    stopped = []
    executor.cancel = lambda job_id: stopped.append((job_id, store.get(job_id).status))
    run(jobs.delete(job.id))
    assert stopped == [(job.id, Status.CANCELLING)]     # asked to stop before its row went
    assert store.get(job.id) is None
    assert executor.finish(job.id) is None      # its worker finds nothing to end
