"""The inline executor: jobs run on the caller's thread, when it says so.

For tests of the job service and of everything built on it (submit, wait, cancel, limits,
retries, lost workers) without worker processes, HTTP or sleeps.  Jobs run through
``run_job``, the one code path of every worker, and every change of status is a lifecycle
move, so what these tests see is what the other executors do; only *when* things happen is
the test's to choose:

- :meth:`drain` hands queued jobs to the worker and runs each to its end;
- :meth:`claim` starts a job without running it (it stays executing: a job "in flight"),
  :meth:`finish` runs a claimed job to its end, :meth:`lose` loses its worker.

``max_instances`` holds jobs back as ``waiting`` as the local executor does, counting claimed
jobs as running.
"""
from __future__ import annotations

from collections import Counter, deque
from pathlib import Path

from .. import lifecycle
from ..core import Job, Status
from ..runtime.run import run_job
from ..store import Store
from ..tools.registry import Registry
from .base import DoneCallback

WORKER = "inline:0.0"


class InlineExecutor:
    def __init__(self, store: Store, registry: Registry, data_dir: Path,
                 on_done: DoneCallback | None = None) -> None:
        self.store, self.registry, self.data_dir = store, registry, Path(data_dir)
        self.on_done = on_done or (lambda job_id: None)
        self._pending: deque[tuple[str, str]] = deque()
        self._claimed: dict[str, Job] = {}
        self._running: Counter[str] = Counter()

    # -- Executor protocol ---------------------------------------------
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def submit(self, job_id: str, service: str) -> None:
        self._pending.append((job_id, service))

    def cancel(self, job_id: str) -> None:
        self._pending = deque(item for item in self._pending if item[0] != job_id)

    def services_changed(self) -> None:
        pass        # limits are read at each dispatch

    def worker_pids(self) -> list[int]:
        return []

    # -- the test's hand -------------------------------------------------
    @property
    def queued(self) -> list[str]:
        return [job_id for job_id, _ in self._pending]

    def drain(self) -> list[str]:
        """Run every job that may run now (oldest first) to its end; returns their ids."""
        ran = []
        while (job := self._next()) is not None:
            self.finish(job.id)
            ran.append(job.id)
        return ran

    def claim(self, job_id: str | None = None) -> Job | None:
        """Start the next job that may run (or ``job_id``) without running it."""
        return self._next(job_id)

    def finish(self, job_id: str) -> Status | None:
        """Run a claimed job's tool to its end (its status as ``run_job`` returns it)."""
        job = self._claimed.pop(job_id)
        try:
            return run_job(job, self.store, self.registry, self.data_dir, worker=WORKER)
        finally:
            self._release(job)

    def lose(self, job_id: str) -> Status | None:
        """The worker running a claimed job dies: the lifecycle's lost-worker policy settles it
        (a re-queued job goes back in the queue)."""
        job = self._claimed.pop(job_id)
        service = self.registry.services.get(job.service)
        status = lifecycle.settle_lost(self.store, self.store.get(job_id) or job,
                                       service.config.retries if service is not None else None,
                                       "The worker running this job was lost.")
        if status is Status.SUBMITTED:
            self._pending.appendleft((job_id, job.service))
        self._release(job)
        return status

    # -- dispatch --------------------------------------------------------
    def _next(self, wanted: str | None = None) -> Job | None:
        for item in list(self._pending):
            job_id, service = item
            if wanted is not None and job_id != wanted:
                continue
            svc = self.registry.services.get(service)
            limit = svc.config.max_instances if svc is not None else None
            if limit is not None and self._running[service] >= limit:
                lifecycle.wait(self.store, job_id)      # claimed from waiting when its turn comes
                continue
            self._pending.remove(item)
            job = self.store.claim(job_id, WORKER)
            if job is None:
                continue        # cancelled (or taken) while it waited
            self._running[service] += 1
            self._claimed[job_id] = job
            return job
        return None

    def _release(self, job: Job) -> None:
        self._running[job.service] -= 1
        self.on_done(job.id)
