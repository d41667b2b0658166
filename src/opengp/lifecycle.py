"""A job's life: the named moves, each one compare-and-set in the store.

Every change of a job's status goes through a move here, whoever makes it (``run_job``, the
executors and the Celery supervisor, the reconciler, the job service, admin operations);
nothing else hands source states to ``Store.transition``.  A move's source states are the
ones :data:`opengp.core.status.TRANSITIONS` allows towards its target, among those the move
applies to, so the table in ``core`` is the one statement of what may happen; the store
refuses anything else (``core.status.check_move``).

Three rules live only here: which states are running (``core.status.RUNNING``), what a lost
worker's job becomes (:func:`lost_worker_policy`), and how a job that must stop is stopped
(:func:`stop`: the move first, the process killed only by its winner).

Moves the store makes itself, with their sources fixed by the same table: ``claim`` and
``claim_next`` (queued -> executing), ``report`` (messages and progress of an open job) and
``heartbeat`` (no status change).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from .core import Job, Level, Message, Status
from .core.status import OPEN, QUEUED, RUNNING, can_move
from .store import JobStore

log = logging.getLogger("opengp.lifecycle")


@dataclass(frozen=True)
class Move:
    """A named change of status: from whichever of ``among`` may reach ``to``."""

    name: str
    to: Status
    among: frozenset[Status]

    @property
    def sources(self) -> tuple[Status, ...]:
        return tuple(s for s in Status if s in self.among and can_move(s, self.to))


WAIT = Move("wait", Status.WAITING, QUEUED)                     # held back by max_instances
RELEASE = Move("release", Status.SUBMITTED, frozenset({Status.WAITING}))    # its turn again
START = Move("start", Status.EXECUTING, QUEUED)                 # an admin operation begins
CANCEL_QUEUED = Move("cancel before it starts", Status.CANCELLED, QUEUED)
ASK_TO_CANCEL = Move("ask to cancel", Status.CANCELLING, frozenset({Status.EXECUTING}))
REQUEUE = Move("requeue", Status.SUBMITTED, RUNNING)            # its worker was lost; retries left
FAIL = Move("fail", Status.FAILED, OPEN)
ENDS = {status: Move(f"end {status.value}", status, RUNNING)
        for status in (Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED)}
_SOURCES = {move: move.sources for move in (WAIT, RELEASE, START, CANCEL_QUEUED, ASK_TO_CANCEL, REQUEUE, FAIL,
                                             *ENDS.values())}


def _apply(store: JobStore, move: Move, job_id: str, only: Status | None = None, **fields: Any) -> Job | None:
    """``only``: apply the move only while the job is still in that state (one the move
    starts from), for a caller that decided on what it read."""
    sources = _SOURCES[move]
    if only is not None:
        if only not in sources:
            return None
        sources = (only,)
    return store.transition(job_id, sources, move.to, **fields)


# -- queueing ------------------------------------------------------------------------------
def wait(store: JobStore, job_id: str) -> Job | None:
    """Queued -> waiting: the service runs as many jobs as it may."""
    return _apply(store, WAIT, job_id)


def release(store: JobStore, job_id: str) -> Job | None:
    """Waiting -> submitted: its turn may come (a restart, a freed slot elsewhere)."""
    return _apply(store, RELEASE, job_id)


def start(store: JobStore, job_id: str, **fields: Any) -> Job | None:
    """Queued -> executing, for an operation the API server runs itself (workers claim)."""
    return _apply(store, START, job_id, started=time.time(), **fields)


# -- ending ----------------------------------------------------------------------------------
def end(store: JobStore, job_id: str, status: Status, *, worker: str | None = None, **fields: Any) -> Job | None:
    """Running -> ``status`` (succeeded, failed, timed out, cancelled), stamped finished.
    ``worker``: only while the job is still that worker's (not re-claimed meanwhile)."""
    fields.setdefault("finished", time.time())
    if worker is not None:
        fields["if_worker"] = worker
    return _apply(store, ENDS[status], job_id, **fields)


def fail(store: JobStore, job_id: str, why: str, *, only: Status | None = None, **fields: Any) -> Job | None:
    """Any open state -> failed, saying ``why`` (as its error and an error message)."""
    return _apply(store, FAIL, job_id, only, finished=time.time(), error=why,
                  messages=[*fields.pop("messages", ()), Message.now(Level.ERROR, why)], **fields)


def note(store: JobStore, job: Job, message: Message) -> None:
    """Add a message to a job in any state; a finished one keeps its status (no move)."""
    if job.status.terminal:
        store.transition(job.id, (job.status,), job.status, messages=[message])
    else:
        store.report(job.id, [message])


# -- cancelling ----------------------------------------------------------------------------
def cancel(store: JobStore, job: Job) -> Job | None:
    """A cancel request: a queued job is cancelled at once, an executing one asked to stop
    (its executor stops it).  None when neither applied (it ended or moved meanwhile)."""
    if job.status in QUEUED:
        done = _apply(store, CANCEL_QUEUED, job.id, finished=time.time(), cancel_requested=True,
                      messages=[Message.now(Level.WARNING, "Cancelled before it started.")])
        if done is not None:
            return done
        job = store.get(job.id) or job
    if job.status is Status.EXECUTING:
        return _apply(store, ASK_TO_CANCEL, job.id, cancel_requested=True,
                      messages=[Message.now(Level.WARNING, "Cancel requested.")])
    return None


@dataclass(frozen=True)
class Stop:
    """Why a running job's process must be stopped, and how the job then reads."""

    status: Status
    text: str

    @property
    def error(self) -> str | None:
        return None if self.status is Status.CANCELLED else self.text


CANCELLED_STOP = Stop(Status.CANCELLED, "Cancelled by request; the job's process was stopped.")


def timed_out(limit: float) -> Stop:
    return Stop(Status.TIMED_OUT,
                f"The job ran longer than the service's maximum usage time ({limit:g} s) and was stopped.")


def stop(store: JobStore, job_id: str, why: Stop) -> Job | None:
    """End a running job that must stop (cancelled past its grace, or past its time).  The
    caller kills its process only when this returns the job: None means it ended on its own
    meanwhile and keeps what it produced."""
    level = Level.WARNING if why.status is Status.CANCELLED else Level.ERROR
    return end(store, job_id, why.status, error=why.error, messages=[Message.now(level, why.text)])


def must_stop(now: float, started: float | None, limit: float, cancel_ends: float | None) -> Stop | None:
    """Whether a running job must be stopped now: its cancel grace (``cancel_ends``) has
    passed, or it has run past the service's ``limit`` (seconds, from ``started``)."""
    if cancel_ends is not None:     # being cancelled: it ends cancelled, whatever its time
        return CANCELLED_STOP if now >= cancel_ends else None
    if started is not None and now - started > limit:
        return timed_out(limit)
    return None


# -- lost workers ----------------------------------------------------------------------------
def lost_worker_policy(job: Job, retries: int | None, why: str) -> tuple[Move, Message]:
    """What becomes of a running job whose worker is gone: cancelled if a cancel was asked,
    run again while the service allows (``attempts <= retries``; None: the service is gone),
    else failed."""
    if job.cancel_requested or job.status is Status.CANCELLING:
        return ENDS[Status.CANCELLED], Message.now(Level.WARNING, f"Cancelled. {why}")
    if retries is not None and job.attempts <= retries:
        return REQUEUE, Message.now(Level.WARNING, f"{why} It will run again.")
    return ENDS[Status.FAILED], Message.now(Level.ERROR, why)


def settle_lost(store: JobStore, job: Job, retries: int | None, why: str) -> Status | None:
    """End (or re-queue) a running job whose worker is gone, by :func:`lost_worker_policy`;
    returns its new status, or None when it ended (or was settled and claimed again)
    meanwhile.  Re-queued: the caller hands it to its executor (rings).  ``job`` may be as the
    caller read it a moment ago: when the job has moved since (a cancel arrived) but is still
    the lost worker's, the policy is applied to it as it is now."""
    worker = job.worker
    for _ in range(2):
        move, message = lost_worker_policy(job, retries, why)
        fields: dict[str, Any] = {"messages": [message], "if_worker": worker}
        if move is not REQUEUE:
            fields.update(finished=time.time(), error=why if move.to is Status.FAILED else None)
        if _apply(store, move, job.id, **fields) is not None:
            log.warning("job %s of %s: worker %s lost; %s", job.id, job.service, worker, move.to.value)
            return move.to
        now = store.get(job.id)
        if now is None or now.status not in RUNNING or now.worker != worker or now.status is job.status:
            return None
        job = now
    return None


__all__ = ["CANCELLED_STOP", "Move", "Stop", "cancel", "end", "fail", "lost_worker_policy", "must_stop",
           "note", "release", "settle_lost", "start", "stop", "timed_out", "wait"]
