"""A job's end must be recorded (runtime/run.py ``_record_end``): a worker whose final write
failed kept the job executing, its lease renewed by a live process, and its results lost.

The store is the in-memory one with failures injected: a real database cannot be made to
fail one chosen write on demand (tests/unit/test_pg_writes.py covers a connection that died,
tests/distributed/test_lost_workers.py a database that refuses every end).
"""
from __future__ import annotations

import orjson
import pytest

from conftest import TOOLBOXES
from opengp.config import ServiceConfig
from opengp.core import Job, Status, StoreError, StoreUnavailable
from opengp.runtime import run
from opengp.runtime.run import run_job
from opengp.store.memory import MemoryStore
from opengp.tools.registry import Registry, load_service

SERVICE = ServiceConfig(folder="Test", name="Jobs", toolbox=str(TOOLBOXES / "testing.py"), public=True)


class Failing(MemoryStore):
    """Fails the job's final transitions carrying results with ``error``, ``times`` times
    (None: always)."""

    def __init__(self, error: Exception, times: int | None = None) -> None:
        super().__init__()
        self.error, self.times, self.refused = error, times, 0

    def transition(self, job_id, src, dst, **fields):
        if "results" in fields and (self.times is None or self.refused < self.times):
            self.refused += 1
            raise self.error
        return super().transition(job_id, src, dst, **fields)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(run, "END_RETRY_PAUSES", (0.01, 0.01, 0.01))


def _run(store: MemoryStore, tmp_path) -> tuple[Job, Status | None]:
    registry = Registry([load_service(SERVICE, TOOLBOXES)])
    job = Job.new("Test/Jobs", "Noop", {"value": "kept"})
    store.create(job.evolve(status=Status.SUBMITTED))
    return job, run_job(job.id, store, registry, tmp_path, worker="test")


def test_an_end_the_store_cannot_take_for_a_while_is_recorded_when_it_comes_back(tmp_path):
    store = Failing(StoreUnavailable("job store write failed: the database is restarting"), times=3)
    job, status = _run(store, tmp_path)
    assert status is Status.SUCCEEDED and store.refused == 3
    done = store.get(job.id)
    assert done.status is Status.SUCCEEDED and done.results["result"]["value"] == "kept"


def test_an_end_the_store_stays_unreachable_for_fails_the_job_saying_why(tmp_path):
    store = Failing(StoreUnavailable("job store write failed: connection refused to db.internal:5432"))
    job, status = _run(store, tmp_path)
    assert status is Status.FAILED and store.refused == 4      # the first attempt and three more
    done = store.get(job.id)
    assert done.status is Status.FAILED and done.results is None
    assert done.error == "The job ended (succeeded) but the job store could not record its end."
    assert "db.internal" not in done.messages[-1].text         # the store's details go to the log only


@pytest.mark.parametrize("refusal", [StoreError("job store write failed: value too long"),
                                     orjson.JSONEncodeError("str is not valid UTF-8: surrogates not allowed")],
                         ids=["refused by the database", "not encodable"])
def test_an_end_the_store_refuses_fails_the_job_without_waiting(tmp_path, refusal):
    store = Failing(refusal)
    job, status = _run(store, tmp_path)
    assert status is Status.FAILED and store.refused == 1       # a refusal is the same again: not retried
    done = store.get(job.id)
    assert done.error == "The job ended (succeeded) but the job store could not record its end (it refused the " \
                         "results or messages)."


def test_an_end_after_the_job_went_to_another_worker_changes_nothing(tmp_path):
    """The lease ran out while this worker could not reach the store; the reconciler re-queued
    the job and another worker runs it now: this worker's late end must not overwrite that run."""
    class Reclaimed(MemoryStore):
        def transition(self, job_id, src, dst, **fields):
            if "results" in fields and self.get(job_id).worker == "test":
                super().transition(job_id, [Status.EXECUTING], Status.SUBMITTED)
                self.claim(job_id, "elsewhere:1.r")
            return super().transition(job_id, src, dst, **fields)

    store = Reclaimed()
    job, status = _run(store, tmp_path)
    now = store.get(job.id)
    assert now.status is Status.EXECUTING and now.worker == "elsewhere:1.r" and now.results is None
