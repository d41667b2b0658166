"""A per-process cache of jobs, kept right by NOTIFY (scale-out API servers only).

Clients poll a job's status, then fetch its results, and many keep polling a
job after it finished; on PostgreSQL each poll was a network round trip on
the event loop.  Every process that changes a job NOTIFYs its id
(store/notify.py), so an API server may answer from memory as long as it hears
those notifications.

- A *finished* job changes only by an appended message (``JobService.note``)
  and by its deletion: ``get`` answers it from here, for any purpose.
- A running or queued job changes under workers; their notifications are
  batched (within 20 ms, store/notify.py), so a kept copy may lag the database
  by that much.  It is kept, and answered only to
  ``peek``: status reads for display, whose next poll sees the change.  What
  decides anything (cancel, results, waits) reads with ``get``, which never
  answers an unfinished job from here.  A cancel made through an API server is
  announced inside its own commit (``SqlStore.transition``), so the status read
  that follows it on any server sees it (almost always: under load a server may
  handle the request before its listener takes the notification, milliseconds).

Consistency (docs/scale-out-design.md §6.3):

- A change made by this process is invalidated as soon as its commit returns
  (``SqlStore`` calls ``invalidate`` after every committed job write).
- A change made by another process is invalidated when its notification
  arrives (milliseconds: the notifier sends within 20 ms, and the listener
  hands it over on receipt).  A deletion's notification is sent inside the
  deletion's own transaction, so PostgreSQL delivers it with the commit:
  a client told "deleted" by one server finds the others already told.
- A read that raced a change is not kept: ``put`` takes the ``token()`` read
  before the database read, and refuses it if that job's invalidation (or a start or
  stop) happened since.
- The cache is on only while the listener is connected and has shown recently
  that it is alive (``alive(seconds)``): a lost, or silently dead,
  notification connection turns it off and empties it; a reconnect empties it
  before turning it on again.
- A job is kept at most ``max_age`` seconds (an unfinished one ``live_max_age``):
  the bound for what no notification can announce (a writer that died between
  its commit and its NOTIFY).
- At most ``size`` jobs, least recently used out first.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from ..core import Job


class JobCache:
    """Jobs by id, for ``SqlStore.get`` (finished ones) and ``SqlStore.peek`` (any).
    Thread-safe; every method is O(1) per id."""

    def __init__(self, size: int = 10_000, max_age: float = 30.0, live_max_age: float = 5.0) -> None:
        self.size, self.max_age, self.live_max_age = size, max_age, live_max_age
        self.hits = self.misses = 0     # for measurements
        self._jobs: OrderedDict[str, tuple[Job, float]] = OrderedDict()     # id -> (job, kept until)
        self._lock = threading.Lock()
        self._seq = 0                   # bumped by every invalidation, start and stop
        # which jobs were invalidated lately, and when (their _seq): a read races only its own job's
        # changes, so a busy deployment's stream of notifications does not turn every read away
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._floor = 0                 # the newest _seq forgotten from _recent
        self._reset = 0                 # the _seq of the last emptying (start, stop, silence)
        self._until = 0.0               # monotonic time the listener was last known alive until

    def get(self, job_id: str, live: bool = False) -> Job | None:
        """The kept job; an unfinished one only when ``live`` (a read for display, see above)."""
        with self._lock:
            got = self._jobs.get(job_id)
            if got is not None:
                now = time.monotonic()
                if now >= self._until:
                    self._clear()       # the listener has not shown it is alive: nothing here can be trusted
                elif now >= got[1]:
                    del self._jobs[job_id]
                elif not live and not got[0].status.terminal:
                    pass                # kept for peeks; this caller needs the database's word
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
        """Keep ``job`` if the cache is on and nothing was invalidated since ``token``."""
        terminal = job.status.terminal
        with self._lock:
            now = time.monotonic()
            if (now >= self._until or self._reset > token or self._floor > token
                    or self._recent.get(job.id, 0) > token):
                return      # the cache is off, or this job may have changed since the read began
            kept = self._jobs.get(job.id)
            if kept is not None and kept[0].updated > job.updated:
                return      # two reads raced (a get and a peek): the newer row stays
            self._jobs[job.id] = (job, now + (self.max_age if terminal else self.live_max_age))
            self._jobs.move_to_end(job.id)
            if len(self._jobs) > self.size:
                self._jobs.popitem(last=False)

    def invalidate(self, job_ids: Iterable[str]) -> None:
        """These jobs changed (or went): forget them, and refuse reads already in flight."""
        with self._lock:
            self._seq += 1
            for job_id in job_ids:
                self._jobs.pop(job_id, None)
                self._recent[job_id] = self._seq
                self._recent.move_to_end(job_id)
            while len(self._recent) > self.size:
                self._floor = self._recent.popitem(last=False)[1]

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
        self._reset = self._seq
        self._jobs.clear()
        self._recent.clear()
