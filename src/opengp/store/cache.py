"""A per-process cache of finished jobs, kept right by NOTIFY (scale-out API servers only).

Clients poll a job's status, then fetch its results, and many keep polling a
job after it finished; on PostgreSQL each poll was a network round trip on
the event loop.  A *finished* job changes only by an appended message
(``JobService.note``) and by its deletion, and every process that does either
NOTIFYs the job's id (store/notify.py); so an API server may answer finished
jobs from memory as long as it hears those notifications.  Running and queued
jobs are never cached: their reads always go to the database.

Consistency (docs/scale-out-design.md §6.3):

- A change made by this process is invalidated as soon as its commit returns
  (``SqlStore`` calls ``invalidate`` after every committed job write).
- A change made by another process is invalidated when its notification
  arrives (milliseconds: the notifier sends within 20 ms, and the listener
  hands it over on receipt).  A deletion's notification is sent inside the
  deletion's own transaction, so PostgreSQL delivers it with the commit:
  a client told "deleted" by one server finds the others already told.
- A read that raced a change is not kept: ``put`` takes the ``token()`` read
  before the database read, and refuses it if any invalidation (or a start or
  stop) happened since.
- The cache is on only while the listener is connected and has shown recently
  that it is alive (``alive(seconds)``): a lost, or silently dead,
  notification connection turns it off and empties it; a reconnect empties it
  before turning it on again.
- A job is kept at most ``max_age`` seconds: the bound for what no notification
  can announce (a writer that died between its commit and its NOTIFY).
- At most ``size`` jobs, least recently used out first.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from ..core import Job


class JobCache:
    """Finished jobs by id, for ``SqlStore.get``.  Thread-safe; every method is O(1) per id."""

    def __init__(self, size: int = 10_000, max_age: float = 30.0) -> None:
        self.size, self.max_age = size, max_age
        self.hits = self.misses = 0     # for measurements
        self._jobs: OrderedDict[str, tuple[Job, float]] = OrderedDict()     # id -> (job, kept until)
        self._lock = threading.Lock()
        self._seq = 0                   # bumped by every invalidation, start and stop
        self._until = 0.0               # monotonic time the listener was last known alive until

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            got = self._jobs.get(job_id)
            if got is not None:
                now = time.monotonic()
                if now >= self._until:
                    self._clear()       # the listener has not shown it is alive: nothing here can be trusted
                elif now >= got[1]:
                    del self._jobs[job_id]
                else:
                    self._jobs.move_to_end(job_id)
                    self.hits += 1
                    return got[0]
            self.misses += 1
            return None

    def token(self) -> int:
        """Take before reading the database; hand to :meth:`put` with what was read."""
        return self._seq

    def put(self, job: Job, token: int) -> None:
        """Keep ``job`` if it is finished, the cache is on, and nothing was invalidated since ``token``."""
        if not job.status.terminal:
            return
        with self._lock:
            now = time.monotonic()
            if token != self._seq or now >= self._until:
                return
            self._jobs[job.id] = (job, now + self.max_age)
            self._jobs.move_to_end(job.id)
            if len(self._jobs) > self.size:
                self._jobs.popitem(last=False)

    def invalidate(self, job_ids: Iterable[str]) -> None:
        """These jobs changed (or went): forget them, and refuse reads already in flight."""
        with self._lock:
            self._seq += 1
            for job_id in job_ids:
                self._jobs.pop(job_id, None)

    def alive(self, seconds: float) -> None:
        """The listener is connected and working: trust notifications for ``seconds`` more."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def start(self, seconds: float) -> None:
        """The listener (re)connected: what was kept may have missed changes; on again, empty."""
        with self._lock:
            self._clear()
            self._until = time.monotonic() + seconds

    def stop(self) -> None:
        """The listener lost its connection: off, and empty."""
        with self._lock:
            self._clear()
            self._until = 0.0

    @property
    def on(self) -> bool:
        """Serving from memory: the listener is connected and was alive lately."""
        return time.monotonic() < self._until

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._jobs

    def _clear(self) -> None:
        self._seq += 1
        self._jobs.clear()
