"""The Store protocol: the one seam between job logic and persistence.

Every method is synchronous and safe to call from any thread.  Status moves
are compare-and-set (``transition`` names the states it moves *from*), so two
processes racing on one job cannot both win.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..core import Job, Message, Progress, Status


@dataclass(frozen=True)
class JobQuery:
    """Filters for :meth:`Store.query`; ``None`` means "any"."""

    service: str | None = None
    task: str | None = None
    statuses: frozenset[Status] | None = None
    owner: str | None = None
    kind: str | None = None
    created_after: float | None = None     # epoch seconds, inclusive
    created_before: float | None = None    # epoch seconds, inclusive
    machine: str | None = None             # ran on this host (the ``host`` of ``worker`` = "host:pid")
    processes: tuple[tuple[str, str], ...] | None = None   # any of these (service, task) pairs
    anonymous: bool = False                # only jobs without an owner
    min_duration: float | None = None      # seconds from started to finished (or now, while running);
    max_duration: float | None = None      # jobs that never started are left out
    offset: int = 0
    limit: int | None = 10
    oldest_first: bool = False


class Store(Protocol):
    local: bool
    """True when calls take microseconds (SQLite, memory): callers may make them
    on an event loop.  False for network databases: call from a thread."""

    def create(self, job: Job) -> None:
        """Insert a new job; commits before returning."""

    def get(self, job_id: str) -> Job | None:
        """The job, or None when there is no such job."""

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        """``(total matching, one page of jobs)``, newest first unless ``q.oldest_first``."""

    def transition(
        self, job_id: str, src: Iterable[Status], dst: Status, **fields: Any
    ) -> Job | None:
        """Move the job to ``dst`` if it is in one of ``src``; also set ``fields``
        (and append ``messages``, a sequence of Message).  Returns the new job, or
        None when it was not in ``src`` (or does not exist)."""

    def report(
        self, job_id: str, messages: Sequence[Message] = (), progress: Progress | None = None
    ) -> None:
        """Append messages and/or replace progress of a job that is not terminal."""

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Queued -> executing for ``worker`` (stamps started, heartbeat, attempts).
        None when the job is no longer queued: somebody else has it, or it was cancelled."""

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Renew the worker's lease; returns True when a cancel was requested."""

    def reap(self, stale_before: float) -> list[Job]:
        """Executing or cancelling jobs whose heartbeat is older than ``stale_before``."""

    def delete(self, job_id: str) -> bool:
        """Remove the job; False when there was none."""

    def expired(self, now: float, limit: int = 500) -> list[str]:
        """Ids of terminal jobs whose ``expires`` has passed."""

    def remember_dismissed(self, job_id: str, owner: str | None, until: float) -> None:
        """Keep a dismissed job's id (and owner) until ``until``, after the job is deleted."""

    def dismissed(self, job_id: str) -> tuple[bool, str | None]:
        """``(True, owner)`` for a remembered dismissed job, else ``(False, None)``."""

    def forget_dismissed(self, now: float) -> int:
        """Drop dismissed ids past their time; returns how many."""

    def close(self) -> None:
        """Release connections and threads."""
