"""Admin operations as jobs: a list of named stages, run in order, recorded
in the job store as a job of kind ``admin``.

Each stage may have an ``undo``.  When a stage fails, or a cancel arrives
before the operation's commit stage, the stages already done are undone in
reverse, so a failed operation leaves things as they were.  Once the commit
stage has begun the operation can no longer be cancelled.  Operations on one
resource run one at a time, in the order they were asked for: on one server by a
lock, across the API servers of a scale-out deployment by waiting while another
server's operation on the resource runs or was asked for earlier (``_ahead``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import lifecycle
from ..core import Conflict, Job, Kind, Level, Message, NotFound, Progress, Status
from ..core.status import OPEN
from ..store import JobQuery, Store
from ..system.logcontext import current_request_id

log = logging.getLogger("opengp.admin")
ADMIN_JOB_RETENTION = 7 * 24 * 3600.0      # admin jobs are kept a week
# another server's open operation not updated for this long is taken for dead (its server
# died mid-way, docs/deployment.md): it no longer holds up the resource's queue, and the
# reconciler ends it (jobs/reconcile.py).  A live server touches its operations 4 times as often.
ABANDONED = 120.0
_AHEAD_POLL = 0.1      # seconds between looks while another server's operation runs


@dataclass
class Stage:
    name: str                                            # "validating", "writing configuration", ...
    run: Callable[[], Awaitable[None]]
    undo: Callable[[], Awaitable[None]] | None = None
    commit: bool = False                                 # from here on, no cancelling


@dataclass
class Operation:
    """One admin request, ready to run."""

    name: str                                            # "edit", "createService", ...
    resource: str                                        # the service key it changes
    uri: str                                             # /arcgis/admin/services/<...>/edit
    inputs: dict[str, Any]
    stages: list[Stage]
    # what the job reports when it succeeds: the fields of its answer besides "status"
    # (``{"service": {...}}`` after a change, ``{"deleted": {...}}`` after a delete)
    result: Callable[[], dict[str, Any]] = dict
    owner: str | None = None


class _Cancelled(Exception):
    pass


@dataclass
class _Run:
    op: Operation
    states: list[str]
    cancel: bool = False
    committed: bool = False
    task: asyncio.Task[None] | None = None
    messages: list[Message] = field(default_factory=list)


class AdminOperations:
    """Starts operations as admin jobs and runs them on the event loop."""

    def __init__(self, store: Store, io: Callable[..., Awaitable[Any]]) -> None:
        self.store, self.io = store, io
        # this server, as the operations' ``worker``: their heartbeats are stamped under it
        self.name = f"api:{socket.gethostname()}:{os.getpid()}"
        self._locks: dict[str, asyncio.Lock] = {}
        self._runs: dict[str, _Run] = {}

    async def start(self, op: Operation) -> Job:
        """Record the operation as a job and start it; returns the job at once."""
        job = Job.new(op.resource, op.name, op.inputs, kind=Kind.ADMIN, owner=op.owner,
                      retention=ADMIN_JOB_RETENTION, operation_uri=op.uri)
        job = job.evolve(status=Status.SUBMITTED, request_id=current_request_id() or job.id[1:17], worker=self.name,
                         progress=Progress(0.0, None, None, tuple((s.name, "pending") for s in op.stages)),
                         messages=(Message(job.created, Level.INFO, f"Operation '{op.name}' submitted."),))
        job = await self.io(self.store.create, job, stamp=True)      # stamped as it is stored, as every job
        run = _Run(op, ["pending"] * len(op.stages))
        self._runs[job.id] = run
        lock = self._locks.setdefault(op.resource, asyncio.Lock())
        if not lock.locked():
            await lock.acquire()        # free: taken without yielding, so no other start slips in
            try:
                begun = not await self._ahead(job)
                if begun:   # executing before this returns, so a poller never mistakes SUBMITTED for done
                    job = await self._begin(job.id, run) or job
            except BaseException:
                lock.release()
                self._runs.pop(job.id, None)
                await self._abandon(job.id)
                raise
            run.task = asyncio.create_task(self._run_locked(job.id, run, lock, acquired=True, begun=begun))
        else:
            run.task = asyncio.create_task(self._run_locked(job.id, run, lock, acquired=False, begun=False))
        return job

    async def _abandon(self, job_id: str) -> None:
        """A start that failed half-way: its job must not stay submitted (others would wait for it)."""
        try:
            await self.io(lifecycle.fail, self.store, job_id, "The operation could not be started.")
        except Exception:
            log.warning("admin job %s could not be marked failed", job_id, exc_info=True)

    def runs_here(self, job_id: str) -> bool:
        """The operation runs (or waits its turn) on this server (thread-safe: the reconciler asks)."""
        return job_id in self._runs

    def busy(self, resource: str) -> bool:
        """True while an operation on ``resource`` runs or waits here."""
        lock = self._locks.get(resource)
        return lock is not None and lock.locked()

    async def run(self, op: Operation) -> Job:
        """Run the operation and wait for its end (the synchronous form)."""
        job = await self.start(op)
        run = self._runs.get(job.id)
        if run is not None and run.task is not None:
            await asyncio.shield(run.task)
        return await self.io(self.store.get, job.id)

    async def cancel(self, job_id: str) -> Job:
        """The lifecycle's cancel, as for any job (a finished one is returned unchanged), but an
        operation past its commit stage can no longer be cancelled (Conflict)."""
        run = self._runs.get(job_id)
        job = await self.io(self.store.get, job_id)
        if job is None or job.kind is not Kind.ADMIN:
            raise NotFound(f"Job '{job_id}' does not exist.")
        if job.status.terminal:
            return job
        # run is None: the operation runs on another API server (scale-out), which finds the
        # stored cancel flag before its next stage (_stages)
        if run is not None and run.committed:
            raise Conflict(f"Job '{job_id}' is past the point where '{run.op.name}' can be cancelled.")
        if run is not None:
            run.cancel = True
        done = await self.io(lifecycle.cancel, self.store, job)
        return done or await self.io(self.store.get, job_id)

    # -- running ----------------------------------------------------------
    async def _ahead(self, job: Job | None) -> bool:
        """Whether another API server has an operation on ``job``'s resource that runs, or
        was asked for before ``job`` (those of this server are ordered by the lock)."""
        if job is None or job.status is not Status.SUBMITTED:
            return False
        _, others = await self.io(self.store.query, JobQuery(
            service=job.service, kind=Kind.ADMIN.value, statuses=OPEN, limit=None, oldest_first=True))
        others = [other for other in others if other.id != job.id and other.id not in self._runs
                  and (other.status is not Status.SUBMITTED or (other.created, other.id) < (job.created, job.id))]
        if not others:
            return False
        abandoned = {j.id for j in await self.io(self.store.stale_operations, ABANDONED)}
        return any(other.id not in abandoned for other in others)

    async def _keep_fresh(self, job_id: str) -> None:
        """From its start to its end, heartbeat the job (on the database's clock, so machines'
        clocks may differ): other servers take an operation without a sign for ``ABANDONED``
        seconds for one whose server died; they stop waiting for it, and the reconciler ends it."""
        while True:
            try:
                await self.io(self.store.heartbeat, job_id, self.name)
            except Exception:
                log.warning("admin job %s: could not record that it is still running", job_id, exc_info=True)
            await asyncio.sleep(ABANDONED / 4)

    async def _cancelled_elsewhere(self, job_id: str) -> bool:
        """Another API server took a cancel for this operation (the store's cancel flag)."""
        job = await self.io(self.store.get, job_id)
        return job is not None and job.cancel_requested

    async def _begin(self, job_id: str, run: _Run) -> Job | None:
        """Executing, with its first stage shown running: a client polling the job it was just
        handed (maybe through another server) sees where it is, not a stage-less moment."""
        if run.op.stages:
            run.states[0] = "running"
        return await self.io(lifecycle.start, self.store, job_id, messages=[Message.now(Level.INFO, "Executing.")],
                             progress=self._progress(run, run.op.stages[0].name if run.op.stages else None))

    async def _run_locked(self, job_id: str, run: _Run, lock: asyncio.Lock, acquired: bool, begun: bool) -> None:
        # touched while it waits its turn as well as while it runs: other servers must not take
        # an operation queued behind a long one for abandoned
        fresh = asyncio.create_task(self._keep_fresh(job_id))
        try:
            if not acquired:
                await lock.acquire()
            if not begun:       # behind another operation on the resource (here, or on another server)
                while not run.cancel and await self._ahead(await self.io(self.store.get, job_id)):
                    await asyncio.sleep(_AHEAD_POLL)
                if run.cancel or await self._begin(job_id, run) is None:
                    return                                 # cancelled while it waited its turn
            await self._stages(job_id, run)
        except Exception:      # the store failed under us: the job stays as the store has it
            log.exception("admin job %s (%s %s) failed", job_id, run.op.name, run.op.resource)
        finally:
            fresh.cancel()
            lock.release()
            self._runs.pop(job_id, None)

    async def _stages(self, job_id: str, run: _Run) -> None:
        op, done = run.op, []
        for i, stage in enumerate(op.stages):
            try:
                if not run.committed and (run.cancel or await self._cancelled_elsewhere(job_id)):
                    raise _Cancelled
                run.committed = run.committed or stage.commit
                await self._mark(job_id, run, i, "running", f"{stage.name.capitalize()}.")
                await stage.run()
                done.append(stage)
                await self._mark(job_id, run, i, "completed")
            except Exception as exc:
                cancelled = isinstance(exc, _Cancelled)
                run.states[i] = "cancelled" if cancelled else "failed"
                run.states[i + 1:] = ["skipped"] * (len(op.stages) - i - 1)
                await self._undo(job_id, done)
                await self._end(job_id, run, exc)
                return
        result = op.result()
        await self.io(lifecycle.end, self.store, job_id, Status.SUCCEEDED,
                      results={"result": result}, progress=self._progress(run, None),
                      messages=[Message.now(Level.INFO, f"Operation '{op.name}' completed.")])

    async def _undo(self, job_id: str, done: list[Stage]) -> None:
        for stage in reversed(done):
            if stage.undo is None:
                continue
            try:
                await stage.undo()
            except Exception:
                log.exception("undoing stage %r of admin job %s failed", stage.name, job_id)

    async def _end(self, job_id: str, run: _Run, exc: Exception) -> None:
        progress = self._progress(run, None)
        if isinstance(exc, _Cancelled):
            await self.io(lifecycle.end, self.store, job_id, Status.CANCELLED,
                          progress=progress, messages=[Message.now(Level.WARNING, "Cancelled; nothing was changed.")])
            return
        why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        details = list(getattr(exc, "details", []) or [])
        text = "; ".join([why, *details])
        if not getattr(exc, "message", None):
            log.exception("admin operation %s on %s failed", run.op.name, run.op.resource, exc_info=exc)
        await self.io(lifecycle.end, self.store, job_id, Status.FAILED, error=text,
                      progress=progress, messages=[Message.now(Level.ERROR, f"{text} Nothing was changed.")])

    def _progress(self, run: _Run, current: str | None) -> Progress:
        completed = sum(s == "completed" for s in run.states)
        return Progress(round(100.0 * completed / max(1, len(run.states)), 1), current, None,
                        tuple(zip((s.name for s in run.op.stages), run.states)))

    async def _mark(self, job_id: str, run: _Run, i: int, state: str, text: str | None = None) -> None:
        run.states[i] = state
        current = run.op.stages[i].name if state == "running" else None
        messages = [Message.now(Level.INFO, text)] if text else []
        await self.io(self.store.report, job_id, messages, self._progress(run, current))
