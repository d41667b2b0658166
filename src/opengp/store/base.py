"""The Store protocols: the one seam between job logic and persistence, cut by concern
(jobs, claims and leases, housekeeping); ``Store`` is all of them.

Every method is synchronous and safe to call from any thread.  Status moves
are compare-and-set (``transition`` names the states it moves *from*), so two
processes racing on one job cannot both win.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

from ..core import Job, Message, Progress, Status


@dataclass(frozen=True)
class JobQuery:
    """Filters for :meth:`JobStore.query`; ``None`` means "any"."""

    service: str | None = None
    task: str | None = None
    statuses: frozenset[Status] | None = None
    owner: str | None = None               # exactly this owner (who may see a job: access checks)
    # this user's jobs, the name compared regardless of case (core.folded_username), as ArcGIS
    # user names are: the admin jobs/query's userName filter, never an access check
    user_name: str | None = None
    kind: str | None = None
    created_after: float | None = None     # epoch seconds, inclusive
    created_before: float | None = None    # epoch seconds, inclusive
    machine: str | None = None             # ran on this host (the ``host`` of ``worker`` = "host:pid.run")
    processes: tuple[tuple[str, str], ...] | None = None   # any of these (service, task) pairs
    min_duration: float | None = None      # seconds from started to finished (or now, while running);
    max_duration: float | None = None      # jobs that never started are left out
    offset: int = 0
    limit: int | None = 10
    oldest_first: bool = False


@dataclass(frozen=True)
class Lease:
    """A running job as the node that runs it sees it (:meth:`ClaimStore.renew_leases`)."""

    id: str
    service: str
    status: Status
    started: float | None
    cancel_requested: bool
    worker: str


@dataclass(frozen=True)
class Backlog:
    """One service's claimable jobs (:meth:`ClaimStore.backlog`)."""

    service: str
    queued: int
    oldest: float       # creation time of the oldest
    running: int        # its executing or cancelling jobs


class JobStore(Protocol):
    """Jobs themselves: what the job service, the lifecycle's moves and the faces' reads need."""

    local: bool
    """True when calls take microseconds (SQLite, memory): callers may make them
    on an event loop.  False for network databases: call from a thread."""

    def create(self, job: Job, *, stamp: bool = False) -> Job:
        """Insert a new job; commits before returning.  Its large inputs are kept apart
        (``store/values.py``): the job read back has a ``Stored`` in their place.
        ``Conflict`` (opengp.core) when a job with its id exists.  ``stamp``: ``created`` and
        ``updated`` are the store's clock as it stores the job (``expires`` moved alike), so
        that every job created up to a ``settled_time`` is committed by then.  Returns the
        job as given, stamped."""

    def settled_time(self) -> float:
        """Now, on the clock ``create(stamp=True)`` stamps with, once every job stamped up to
        now is committed: a page of jobs created up to it stays the same page (the admin
        ``jobs/query`` echoes it as ``endTime``), as no job created before it commits later."""

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is no such job."""

    def peek(self, job_id: str) -> Job | None:
        """``get`` for display only (status polls): may answer an unfinished job as it was up
        to a few milliseconds ago, when another process changed it (store/cache.py)."""

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        """``(total matching, one page of jobs)``, newest first unless ``q.oldest_first``."""

    def transition(
        self, job_id: str, src: Iterable[Status], dst: Status, **fields: Any
    ) -> Job | None:
        """Move the job to ``dst`` if it is in one of ``src``; also set ``fields``
        (and append ``messages``, a sequence of Message).  Returns the new job, or
        None when it was not in ``src`` (or does not exist).  ``if_worker``: only while
        the job is still that worker's (a job re-claimed meanwhile is left alone).
        ``results`` ``Encoded`` (a tool's) keep their large values apart, written with the
        move or not at all; any other ``results`` are stored as they are.  ``IllegalMove``
        for a move ``core.status.TRANSITIONS`` does not allow; ``TypeError`` for a field
        that is no attribute of a Job."""

    def values(self, job_id: str, role: str, name: str | None = None) -> dict[str, bytes]:
        """The job's values kept apart (``store/values.py``) of ``role`` (input, result or
        preview; only ``name``, when given): ``{name: its JSON}``, unparsed."""

    def report(
        self, job_id: str, messages: Sequence[Message] = (), progress: Progress | None = None
    ) -> None:
        """Append messages and/or replace progress of a job that is not terminal (no job, or
        a finished one: nothing happens)."""

    def delete(self, job_id: str) -> bool:
        """Remove the job; False when there was none."""


class ClaimStore(Protocol):
    """Who runs a job: claims, leases renewed by heartbeats, and what a lost worker left
    (docs/scale-out-design.md §4 for the by-service claims)."""

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Queued -> executing for ``worker`` (stamps started, heartbeat, attempts).
        None when the job is no longer queued: somebody else has it, or it was cancelled."""

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Renew the worker's lease; returns True when a cancel was requested (or the job is
        no longer the worker's, or gone)."""

    def reap(self, stale_before: float) -> list[Job]:
        """Executing or cancelling jobs whose heartbeat is older than ``stale_before``."""

    def claim_next(self, service: str, worker: str, limit: int | None = None) -> Job | None:
        """Claim the service's oldest queued job (not cancelled, not admin) for ``worker``,
        unless ``limit`` jobs of the service already run (on any worker).  None: nothing
        claimed.  Concurrent callers on any number of machines never exceed ``limit``."""

    def next_queued(self, service: str) -> str | None:
        """The id of the job :meth:`claim_next` would claim now, or None."""

    def renew_leases(self, workers: Sequence[str]) -> list[Lease]:
        """Renew the lease (heartbeat, on the database's clock) of every running job of
        these workers; returns them, with their cancel flags."""

    def stale(self, lease: float) -> list[Job]:
        """Running worker jobs (not admin) whose lease is older than ``lease`` seconds
        (on the database's clock)."""

    def stale_operations(self, age: float) -> list[Job]:
        """Open admin operations whose server has given no sign (``heartbeat``, on the
        database's clock; before the first, ``updated``) for ``age`` seconds."""

    def backlog(self) -> list[Backlog]:
        """Every service that has claimable jobs."""


class Housekeeping(Protocol):
    """What keeps a store in order: purging expired jobs, remembering dismissed ones, folding
    the count tables, locks held once per deployment, connections."""

    def expired(self, now: float, limit: int = 500) -> list[str]:
        """Ids of terminal jobs whose ``expires`` has passed."""

    def remember_dismissed(self, job_id: str, owner: str | None, until: float) -> None:
        """Keep a dismissed job's id (and owner) until ``until``, after the job is deleted."""

    def dismissed(self, job_id: str) -> tuple[bool, str | None]:
        """``(True, owner)`` for a remembered dismissed job, else ``(False, None)``."""

    def forget_dismissed(self, now: float) -> int:
        """Drop dismissed ids past their time; returns how many."""

    def fold_counts(self) -> None:
        """Move the count tables' deltas into their sums (SQL stores do it now and then by
        themselves); every count stays the same.  Nothing to do in memory."""

    def try_lock(self, name: str) -> AbstractContextManager[bool]:
        """``with store.try_lock("reconcile") as mine:`` True for one holder at a time
        among all processes sharing the database (always True on a local store)."""

    def lock(self, name: str) -> AbstractContextManager[None]:
        """``with store.lock("bootstrap"):`` waits until no other process sharing the
        database holds ``name``, then holds it: for what must happen once per deployment
        even when several servers start together (PostgreSQL; a no-op on SQLite, where
        one server owns the file)."""

    def after_fork(self) -> None:
        """In a child process forked from the one that opened the store: let go of the
        parent's connections without closing them (they are the parent's to use)."""

    def close(self) -> None:
        """Release connections and threads."""


class Store(JobStore, ClaimStore, Housekeeping, Protocol):
    """Every concern at once: what the composition root opens and hands down.  A module that
    needs one concern takes that protocol instead."""


_JOB_FIELDS = frozenset(f.name for f in fields(Job))


def check_fields(changes: dict[str, Any]) -> None:
    """What every store checks before ``transition`` writes ``changes``: each is an attribute
    of a Job (a misspelt one is a caller's bug, refused alike by every backend)."""
    unknown = changes.keys() - _JOB_FIELDS
    if unknown:
        raise TypeError(f"a job has no {', '.join(sorted(unknown))}")
