"""A job's end must be recorded (runtime/run.py ``_record_end``): a worker whose final write
failed kept the job executing, its lease renewed by a live process, and its results lost.

The store is the in-memory one with failures injected: a real database cannot be made to
fail one chosen write on demand (tests/unit/test_pg_writes.py covers a connection that died).
"""
from __future__ import annotations

import pytest

from conftest import TOOLBOXES
from opengp.config import ServiceConfig
from opengp.core import Job, Status, StoreError
from opengp.runtime import run
from opengp.runtime.run import run_job
from opengp.store.memory import MemoryStore
from opengp.tools.registry import Registry, load_service

SERVICE = ServiceConfig(folder="Test", name="Jobs", toolbox=str(TOOLBOXES / "testing.py"), public=True)


class Failing(MemoryStore):
    """Refuses the job's final transitions: ``times`` of them, or those carrying results."""

    def __init__(self, times: int = 0, results: bool = False) -> None:
        super().__init__()
        self.times, self.results, self.refused = times, results, 0

    def transition(self, job_id, src, dst, **fields):
        if dst.terminal and (self.refused < self.times or (self.results and "results" in fields)):
            self.refused += 1
            raise StoreError("job store write failed: the database is restarting")
        return super().transition(job_id, src, dst, **fields)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(run, "END_RETRIES", (0.01, 0.01, 0.01))


def _run(store: MemoryStore, tmp_path) -> tuple[Job, Status | None]:
    registry = Registry([load_service(SERVICE, TOOLBOXES)])
    job = Job.new("Test/Jobs", "Noop", {"value": "kept"})
    store.create(job.evolve(status=Status.SUBMITTED))
    return job, run_job(job.id, store, registry, tmp_path, worker="test")


def test_an_end_the_store_refuses_for_a_while_is_recorded_when_it_comes_back(tmp_path):
    store = Failing(times=3)
    job, status = _run(store, tmp_path)
    assert status is Status.SUCCEEDED and store.refused == 3
    done = store.get(job.id)
    assert done.status is Status.SUCCEEDED and done.results["result"]["value"] == "kept"


def test_an_end_the_store_keeps_refusing_fails_the_job_saying_why(tmp_path):
    store = Failing(results=True)
    job, status = _run(store, tmp_path)
    assert status is Status.FAILED and store.refused == 4      # the first attempt and three more
    done = store.get(job.id)
    assert done.status is Status.FAILED and done.results is None
    assert done.error.startswith("The job ended (succeeded) but its end could not be recorded: ")
    assert "the database is restarting" in done.messages[-1].text


def test_results_the_store_cannot_encode_fail_the_job_at_once(tmp_path):
    class Encoding(MemoryStore):
        def transition(self, job_id, src, dst, **fields):
            if "results" in fields:
                "\ud800".encode()       # what orjson or a driver raises for a lone surrogate
            return super().transition(job_id, src, dst, **fields)

    store = Encoding()
    job, status = _run(store, tmp_path)
    done = store.get(job.id)
    assert status is Status.FAILED and done.status is Status.FAILED
    assert "surrogate" in done.error
