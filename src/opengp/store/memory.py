"""An in-memory Store: for unit tests and for the contract suite's baseline."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..core import Conflict, Job, Kind, Message, Progress, Status, TERMINAL, folded_username
from ..core.status import OPEN, QUEUED, RUNNING, check_move
from ..system.metrics import job_claimed, job_ended
from .base import Backlog, JobQuery, Lease, check_fields
from .logs import MemoryLogStore
from .outbox import MemoryOutbox
from .reports import MemoryReportStore
from .values import Encoded, decode_inputs, decode_results, split_inputs


class MemoryStore:
    """Dict-backed, one lock; behaves exactly like the SQL store."""

    local = True

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._values: dict[str, dict[tuple[str, str], bytes]] = {}     # job id -> (role, name) -> JSON
        self._dismissed: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._named_locks: dict[str, threading.Lock] = {}      # lock(name)
        self.outbox = MemoryOutbox()        # webhooks and their deliveries (store/outbox.py)
        self.logs = MemoryLogStore()        # the server log (store/logs.py)
        self.reports = MemoryReportStore()  # usage report definitions (store/reports.py)

    def create(self, job: Job, *, stamp: bool = False) -> Job:
        inputs, stored, apart = split_inputs(job.inputs)      # kept as the SQL store keeps them
        with self._lock:
            if job.id in self._jobs:
                raise Conflict(f"Job '{job.id}' already exists.")
            if stamp:
                job = job.stamped(time.time())
            self._jobs[job.id] = job.evolve(inputs=decode_inputs(inputs, stored))
            if apart:
                self._values[job.id] = {(role, name): value for role, name, value in apart}
            self.outbox.add_callbacks(job)
        return job

    def settled_time(self) -> float:
        with self._lock:        # every create stamps and stores under it
            return time.time()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    peek = get

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if matches(j, q)]
        jobs.sort(key=lambda j: (j.created, j.id), reverse=not q.oldest_first)
        end = None if q.limit is None else q.offset + q.limit
        return len(jobs), jobs[q.offset : end]

    def transition(self, job_id: str, src: Iterable[Status], dst: Status, **fields: Any) -> Job | None:
        src = tuple(src)
        check_move(src, dst)
        if_worker = fields.pop("if_worker", None)
        check_fields(fields)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status not in src or (if_worker is not None and job.worker != if_worker):
                return None
            new_messages = tuple(fields.pop("messages", ()))
            if fields.get("finished") is not None and job.expires is not None:
                fields.setdefault("expires", fields["finished"] + (job.expires - job.created))
            results = fields.get("results")
            if isinstance(results, Encoded):
                fields["results"] = decode_results(results.column)
                self._values.setdefault(job_id, {}).update(
                    {(role, name): value for role, name, value in results.apart})
            job = job.evolve(status=dst, updated=time.time(), messages=job.messages + new_messages, **fields)
            self._jobs[job_id] = job
            if dst.terminal and dst not in src:
                self.outbox.enqueue(job)
                self.outbox.callbacks_at_end(job)
                job_ended(job)
            return job

    def report(self, job_id: str, messages: Sequence[Message] = (), progress: Progress | None = None) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status in TERMINAL:
                return
            self._jobs[job_id] = job.evolve(
                messages=job.messages + tuple(messages),
                progress=progress or job.progress,
                updated=time.time(),
            )

    def claim(self, job_id: str, worker: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status not in QUEUED or job.cancel_requested:
                return None
            now = time.time()
            job = job.evolve(
                status=Status.EXECUTING, started=now, updated=now, worker=worker,
                heartbeat=now, attempts=job.attempts + 1,
            )
            self._jobs[job_id] = job
            self.outbox.wake_started(job)
            job_claimed(job)
            return job

    def heartbeat(self, job_id: str, worker: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.worker != worker:
                return True
            self._jobs[job_id] = job.evolve(heartbeat=time.time())
            return job.cancel_requested

    def reap(self, stale_before: float) -> list[Job]:
        return [j for j in list(self._jobs.values())
                if j.status in RUNNING and (j.heartbeat or 0) < stale_before]

    # -- scale-out -------------------------------------------------------------
    def _claimable(self, service: str) -> list[Job]:
        jobs = [j for j in self._jobs.values() if j.service == service and j.kind is not Kind.ADMIN
                and j.status in QUEUED and not j.cancel_requested]
        return sorted(jobs, key=lambda j: (j.created, j.id))

    def _running(self, service: str) -> int:
        return sum(1 for j in self._jobs.values()
                   if j.service == service and j.kind is not Kind.ADMIN and j.status in RUNNING)

    def claim_next(self, service: str, worker: str, limit: int | None = None) -> Job | None:
        with self._lock:
            queued = self._claimable(service)
            if not queued or (limit is not None and self._running(service) >= limit):
                return None
            now = time.time()
            job = queued[0].evolve(status=Status.EXECUTING, started=now, updated=now, worker=worker,
                                   heartbeat=now, attempts=queued[0].attempts + 1)
            self._jobs[job.id] = job
            self.outbox.wake_started(job)
            job_claimed(job)
            return job

    def next_queued(self, service: str) -> str | None:
        with self._lock:
            queued = self._claimable(service)
        return queued[0].id if queued else None

    def renew_leases(self, workers: Sequence[str]) -> list[Lease]:
        names, now, out = set(workers), time.time(), []
        with self._lock:
            for job in list(self._jobs.values()):
                if job.status in RUNNING and job.worker in names:
                    self._jobs[job.id] = job.evolve(heartbeat=now)
                    out.append(Lease(job.id, job.service, job.status, job.started, job.cancel_requested,
                                     job.worker or ""))
        return out

    def stale(self, lease: float) -> list[Job]:
        before = time.time() - lease
        return [j for j in list(self._jobs.values())
                if j.status in RUNNING and j.kind is not Kind.ADMIN and (j.heartbeat or 0) < before]

    def stale_operations(self, age: float) -> list[Job]:
        before = time.time() - age
        return [j for j in list(self._jobs.values()) if j.kind is Kind.ADMIN and j.status in OPEN
                and (j.heartbeat if j.heartbeat is not None else j.updated) < before]

    def backlog(self) -> list[Backlog]:
        with self._lock:
            services = sorted({j.service for j in self._jobs.values()})
            out = []
            for service in services:
                queued = self._claimable(service)
                if queued:
                    out.append(Backlog(service, len(queued), queued[0].created, self._running(service)))
        return out

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        yield True          # one process holds a memory store

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        with self._named_locks.setdefault(name, threading.Lock()):     # setdefault is atomic
            yield

    def delete(self, job_id: str) -> bool:
        with self._lock:
            self._values.pop(job_id, None)
            self.outbox.forget_waiting(job_id)
            return self._jobs.pop(job_id, None) is not None

    def values(self, job_id: str, role: str, name: str | None = None) -> dict[str, bytes]:
        kept = self._values.get(job_id, {})
        return {n: v for (r, n), v in kept.items() if r == role and (name is None or n == name)}

    def expired(self, now: float, limit: int = 500) -> list[str]:
        return [j.id for j in list(self._jobs.values())
                if j.status in TERMINAL and j.expires is not None and j.expires <= now][:limit]

    def remember_dismissed(self, job_id: str, owner: str | None, until: float) -> None:
        self._dismissed[job_id] = (owner, until)

    def dismissed(self, job_id: str) -> tuple[bool, str | None]:
        entry = self._dismissed.get(job_id)
        return (True, entry[0]) if entry is not None else (False, None)

    def forget_dismissed(self, now: float) -> int:
        with self._lock:
            gone = [k for k, (_, until) in self._dismissed.items() if until <= now]
            for k in gone:
                del self._dismissed[k]
            return len(gone)

    def fold_counts(self) -> None:
        pass                # totals are counted afresh each time

    def after_fork(self) -> None:
        pass                # no connections

    def close(self) -> None:
        pass


def matches(job: Job, q: JobQuery) -> bool:
    """The filter semantics every store must share."""
    return not (
        (q.service is not None and job.service != q.service)
        or (q.task is not None and job.task != q.task)
        or (q.statuses is not None and job.status not in q.statuses)
        or (q.owner is not None and job.owner != q.owner)
        or (q.user_name is not None and (job.owner is None
                                         or folded_username(job.owner) != folded_username(q.user_name)))
        or (q.kind is not None and job.kind.value != q.kind)
        or (q.created_after is not None and job.created < q.created_after)
        or (q.created_before is not None and job.created > q.created_before)
        or (q.machine is not None and (job.worker or "").rpartition(":")[0].lower() != q.machine.lower())
        or (q.processes is not None and (job.service, job.task) not in q.processes)
        or ((q.min_duration is not None or q.max_duration is not None) and not _duration_ok(job, q))
    )


def _duration_ok(job: Job, q: JobQuery) -> bool:
    if job.started is None:
        return False
    duration = (job.finished if job.finished is not None else time.time()) - job.started
    return (q.min_duration is None or duration >= q.min_duration) and (
        q.max_duration is None or duration <= q.max_duration)
