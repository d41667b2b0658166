"""Who is waiting for which job, and waking them when it changes.

Executors and the scale-out change listener report changes here (from any thread); the
job service's ``wait`` and ``watch`` (synchronous execute, live pages, OGC sync execution)
sleep here.  Kept apart from the job service so that the executor can be built before it,
with these callbacks, and the job service after it, complete (jobs/assembly.py).
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class JobSignals:
    """Waiters (wait for a job's end) and watchers (wake on any change) by job id, all on one
    event loop: the one they sleep on, to which reports from other threads are handed."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- reports (any thread) ---------------------------------------------------
    def done(self, job_id: str) -> None:
        """Executor callback (any thread): the executor is done with this job."""
        if job_id in self._waiters and self._loop is not None:
            self._loop.call_soon_threadsafe(self.wake, job_id)

    def changed(self, job_id: str) -> None:
        """Executor callback (any thread): the job's progress, messages or status moved."""
        if job_id in self._watchers and self._loop is not None:
            self._loop.call_soon_threadsafe(self.notify, job_id)

    def changed_elsewhere(self, job_ids: list[str]) -> None:
        """Listener callback (event loop): another process changed these jobs (store/notify.py).
        Waiters re-read (the job may have ended), then watchers; unwatched ids cost a lookup."""
        for job_id in job_ids:
            if job_id in self._waiters:
                self.wake(job_id)
            elif job_id in self._watchers:
                self.notify(job_id)

    def recheck_all(self) -> None:
        """Listener callback (event loop) after a (re)connect: changes may have been missed."""
        self.changed_elsewhere(list({**self._waiters, **self._watchers}))

    # -- sleeping (event loop) --------------------------------------------------
    def waiter(self, job_id: str) -> asyncio.Future[None]:
        """A future set when the executor is done with the job (or another process changed it)."""
        self._loop = asyncio.get_running_loop()
        future = self._loop.create_future()
        self._waiters.setdefault(job_id, []).append(future)
        return future

    @contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set on each change of the job while the block runs."""
        self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        self._watchers.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            watchers = self._watchers.get(job_id)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._watchers[job_id]

    def wake(self, job_id: str) -> None:
        """(Event loop) the job ended: its waiters re-read it, and its watchers."""
        for future in self._waiters.pop(job_id, []):
            if not future.done():
                future.set_result(None)
        self.notify(job_id)

    def notify(self, job_id: str) -> None:
        """(Event loop) the job changed: its watchers re-read it."""
        for event in self._watchers.get(job_id, ()):
            event.set()
