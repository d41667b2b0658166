"""Random interleavings of everything that happens to jobs, on every store backend.

A hypothesis state machine submits jobs, lets two workers claim them (by id and by service),
heartbeat, report, finish, time out, die (their jobs settled by the lost-worker policy, some
re-queued), and cancels, holds back, releases and deletes them, all through the lifecycle's
moves and the store's own, in any order.  After every step, for every job it made:

- the status moved only as ``core/status.TRANSITIONS`` allows (or stayed);
- a terminal status never changes, and a job's end (``finished``) is stamped once;
- a running job is held by exactly one worker, and a claim never takes a running job;
- ``jobs/query`` totals, with and without filters, equal a count of the jobs listed.
"""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from opengp import lifecycle
from opengp.core import Job, Message, Progress, Status
from opengp.core.status import QUEUED, RUNNING, TRANSITIONS
from opengp.store import JobQuery, MemoryStore


SERVICE = "Stateful/Jobs"
WORKERS = ("w1", "w2")
ENDS = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
_RUN = itertools.count()


def machine_for(store):
    class JobLives(RuleBasedStateMachine):
        jobs = Bundle("jobs")

        def __init__(self) -> None:
            super().__init__()
            self.store = store
            self.service = f"{SERVICE}{next(_RUN)}"      # this example's jobs only (the store is shared)
            self.seen: dict[str, Job] = {}               # the job as it was after the previous step
            self.created: set[str] = set()
            self.deleted: set[str] = set()
            self.ran: list[Job] = []                     # every running job as it was seen, for stale reads

        # -- what clients, servers and workers do ------------------------------------------
        @rule(target=jobs)
        def submit(self) -> str:
            job = Job.new(self.service, "Echo", {"text": "hi"}).evolve(status=Status.SUBMITTED)
            self.store.create(job)
            self.created.add(job.id)
            return job.id

        @rule(job_id=jobs, worker=st.sampled_from(WORKERS))
        def claim(self, job_id: str, worker: str) -> None:
            before = self.store.get(job_id)
            claimed = self.store.claim(job_id, worker)
            if claimed is not None:
                assert before is not None and before.status in QUEUED and not before.cancel_requested
                assert claimed.worker == worker and claimed.status is Status.EXECUTING

        @rule(worker=st.sampled_from(WORKERS), limit=st.sampled_from([None, 1, 2]))
        def claim_next(self, worker: str, limit: int | None) -> None:
            claimed = self.store.claim_next(self.service, worker, limit)
            if claimed is not None:
                assert self.seen.get(claimed.id) is None or self.seen[claimed.id].status in QUEUED
                running = self.store.query(JobQuery(service=self.service, statuses=RUNNING, limit=None))[0]
                assert limit is None or running <= limit

        @rule(job_id=jobs, worker=st.sampled_from(WORKERS))
        def heartbeat(self, job_id: str, worker: str) -> None:
            self.store.heartbeat(job_id, worker)

        @rule(job_id=jobs)
        def report(self, job_id: str) -> None:
            self.store.report(job_id, [Message.now("info", "working")], Progress(50.0))

        @rule(job_id=jobs, worker=st.sampled_from(WORKERS), status=st.sampled_from(ENDS))
        def finish(self, job_id: str, worker: str, status: Status) -> None:
            before = self.store.get(job_id)
            done = lifecycle.end(self.store, job_id, status, worker=worker)
            if done is not None:
                assert before.worker == worker and before.status in RUNNING

        @rule(job_id=jobs)
        def time_out(self, job_id: str) -> None:
            lifecycle.stop(self.store, job_id, lifecycle.timed_out(1))

        @rule(job_id=jobs)
        def cancel(self, job_id: str) -> None:
            job = self.store.get(job_id)
            if job is not None and not job.status.terminal and job.status is not Status.CANCELLING:
                lifecycle.cancel(self.store, job)

        @rule(job_id=jobs)
        def stop_cancelled(self, job_id: str) -> None:      # the cancel grace ran out
            lifecycle.stop(self.store, job_id, lifecycle.CANCELLED_STOP)

        @rule(worker=st.sampled_from(WORKERS), retries=st.sampled_from([None, 0, 1, 2]))
        def lose_worker(self, worker: str, retries: int | None) -> None:
            _, running = self.store.query(JobQuery(service=self.service, statuses=RUNNING, limit=None))
            for job in running:
                if job.worker == worker:
                    lifecycle.settle_lost(self.store, job, retries, f"Worker {worker} lost.")

        @rule(job_id=jobs)
        def requeued_and_claimed_elsewhere(self, job_id: str) -> None:
            """One worker's supervisor re-queues a job of a dead pool process and the other
            worker claims it at once."""
            job = self.store.get(job_id)
            if job is not None and job.status in RUNNING:
                if lifecycle.settle_lost(self.store, job, 99, "Pool process gone.") is Status.SUBMITTED:
                    self.store.claim(job_id, WORKERS[1 - WORKERS.index(job.worker)])
                    # ... and the reconciler, which read the job before all this, settles it too
                    assert lifecycle.settle_lost(self.store, job, None, "Lease expired.") is None

        @rule(data=st.data(), retries=st.sampled_from([None, 0, 1]))
        def lose_worker_told_late(self, data: st.DataObject, retries: int | None) -> None:
            """The reconciler settles a job as it read it a while ago (the job may have been
            re-queued and claimed by the other worker since): only the worker that held it
            then may be the lost one."""
            if not self.ran:
                return
            then = data.draw(st.sampled_from(self.ran))
            before = self.store.get(then.id)
            if before is None:
                return
            if lifecycle.settle_lost(self.store, then, retries, f"Worker {then.worker} lost.") is not None:
                assert before.worker == then.worker and before.status in RUNNING

        @rule(job_id=jobs)
        def hold_back(self, job_id: str) -> None:
            lifecycle.wait(self.store, job_id)

        @rule(job_id=jobs)
        def release(self, job_id: str) -> None:
            lifecycle.release(self.store, job_id)

        @rule(job_id=jobs)
        def fail(self, job_id: str) -> None:
            lifecycle.fail(self.store, job_id, "Given up.")

        @rule(job_id=consumes(jobs))
        def delete(self, job_id: str) -> None:
            self.store.delete(job_id)
            self.deleted.add(job_id)
            self.seen.pop(job_id, None)
            self.ran = [job for job in self.ran if job.id != job_id]

        # -- what must hold after every step ----------------------------------------------
        @invariant()
        def moves_follow_the_table_and_ends_are_final(self) -> None:
            _, now = self.store.query(JobQuery(service=self.service, limit=None))
            for job in now:
                assert job.id not in self.deleted
                before = self.seen.get(job.id)
                if before is not None and before.status is not job.status:
                    assert job.status in TRANSITIONS[before.status], (before.status, job.status)
                if before is not None and before.finished is not None:
                    assert job.finished == before.finished and job.status is before.status
                assert job.status.terminal == (job.finished is not None), job
                if job.status in RUNNING:
                    assert job.worker in WORKERS
                    self.ran.append(job)
                self.seen[job.id] = job

        @invariant()
        def totals_are_a_count(self) -> None:
            """Counted against the jobs this example made and did not delete, each read by id:
            a store whose totals come from its own listing would agree with itself."""
            getattr(self.store, "fold_counts", lambda: None)()
            live = {job_id: self.store.get(job_id) for job_id in self.created - self.deleted}
            assert None not in live.values()
            for statuses in (None, RUNNING, QUEUED, frozenset({Status.SUCCEEDED, Status.CANCELLED}),
                             frozenset({Status.FAILED, Status.TIMED_OUT})):
                q = JobQuery(service=self.service, statuses=statuses, limit=None)
                total, listed = self.store.query(q)
                expected = {i for i, job in live.items() if statuses is None or job.status in statuses}
                assert total == len(expected) and {job.id for job in listed} == expected, (statuses, total, expected)
                assert self.store.query(JobQuery(service=self.service, statuses=statuses, limit=0))[0] == total

    return JobLives


@pytest.fixture
def store(each_store):
    return each_store


def test_random_interleavings_keep_every_job_lawful(store):
    machine = machine_for(store)
    examples = 200 if isinstance(store, MemoryStore) else 60
    machine.TestCase.settings = settings(max_examples=examples, stateful_step_count=40, deadline=None,
                                         suppress_health_check=list(HealthCheck))
    machine.TestCase().runTest()
