"""Live job updates across processes: PostgreSQL NOTIFY from writers, LISTEN in API servers.

Scale-out only (docs/scale-out-design.md §6.2).  A job's progress, messages and
status change in worker processes on other machines; an API server streaming
that job (job page events, OGC callbacks) or waiting for it (synchronous
``execute``) hears of it through ``NOTIFY opengp_jobs`` instead of polling.

- ``JobEvents`` (writers: API servers, pool processes, the worker's
  supervisor): the store calls ``changed(id)`` after a committed job write; a
  thread sends the ids, batched, on its own autocommit connection with
  ``synchronous_commit=off``.  Never a trigger: a NOTIFY inside the job's own
  commit serialises committers (§9.5).
- ``Listener`` (one per API server): ``LISTEN`` on an async connection,
  reconnecting with backoff; it never raises into the server.

For watchers notifications are hints: a lost one costs a poll interval.  API
servers' caches of finished jobs (store/cache.py) rely on them, so a failed send
is retried on a new connection; what a crash loses, the cache's ``max_age`` bounds.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import JobCache

log = logging.getLogger("opengp.notify")
CHANNEL = "opengp_jobs"
MAX_PAYLOAD = 7900          # bytes; PostgreSQL refuses payloads of 8000 or more
GAP = 0.02                  # seconds between sends under load: a burst becomes one NOTIFY
RETRY = 1.0                 # seconds before a failed send is tried again
LISTEN_NAME = "opengp-listen"
PING_TIMEOUT = 5.0          # seconds a listener's liveness check may take
NOTIFY_NAME = "opengp-notify"


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as psycopg takes it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def payloads(ids: Iterable[str]) -> list[str]:
    """Space-separated ids, split so that each payload stays under ``MAX_PAYLOAD`` bytes."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for job_id in ids:
        if current and size + 1 + len(job_id) > MAX_PAYLOAD:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(job_id)
        size += len(job_id) + (1 if size else 0)
    if current:
        out.append(" ".join(current))
    return out


def announce_changes(store: object, url: str) -> JobEvents:
    """Make ``store`` (a PostgreSQL ``SqlStore``) NOTIFY the jobs it changes; returns the notifier."""
    events = JobEvents(url)
    store.announce(events)      # type: ignore[attr-defined]
    return events


class JobEvents:
    """Collects changed job ids and NOTIFYs them from a thread of its own.

    ``changed`` never blocks on the database: the job's own commit is never
    slowed.  The first change after a quiet spell is sent at once; changes
    arriving while a send is in flight, or within ``GAP`` of it, go in the next
    batch.  The thread and connection start on first use and again after a
    fork, so a store made before Celery forks its pool is safe."""

    def __init__(self, url: str) -> None:
        self.url = libpq_url(url)
        self.sent = 0               # NOTIFY statements sent (for measurements)
        self._ids: dict[str, None] = {}     # ordered set
        self._cond = threading.Condition()
        self._pid = -1
        self._closed = False
        self._thread: threading.Thread | None = None

    def changed(self, *job_ids: str) -> None:
        with self._cond:
            if self._pid != os.getpid():
                self._start()
            self._ids.update(dict.fromkeys(job_ids))
            self._cond.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Stop, sending what is pending first (up to ``timeout`` seconds): a server that stops
        must not leave other servers' caches holding jobs it changed."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None:
            thread.join(timeout)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._ids = {}
        self._thread = threading.Thread(target=self._run, name="opengp-notify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        pid, conn = os.getpid(), None
        while True:
            with self._cond:
                while not self._ids and not self._closed:
                    self._cond.wait()
                if self._pid != pid or (self._closed and not self._ids):
                    break
                ids, self._ids = list(self._ids), {}
                closing = self._closed
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True, application_name=NOTIFY_NAME,
                                           options="-c synchronous_commit=off", connect_timeout=5)
                for payload in payloads(ids):
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                    self.sent += 1
            except Exception:       # kept, and sent again on a new connection (caches rely on them)
                log.warning("sending job notifications failed; retrying in %.0f s", RETRY, exc_info=True)
                if closing:
                    break
                if conn is not None:
                    conn.close()
                conn = None
                with self._cond:
                    self._ids = {**dict.fromkeys(ids), **self._ids}
                threading.Event().wait(RETRY)
                continue
            threading.Event().wait(GAP)
        if conn is not None:
            conn.close()


class Listener:
    """LISTENs on ``opengp_jobs`` and hands each batch of ids to ``on_ids`` (on the event loop).

    ``on_connected`` runs after every (re)connect: changes made while the
    connection was down were missed, so watchers should re-read.  A dropped
    connection is retried with backoff (0.1 s doubling to 5 s); the server keeps
    serving meanwhile, its watchers polling.

    ``cache`` (a :class:`~opengp.store.cache.JobCache`): invalidated with every
    batch, before ``on_ids``; turned on (empty) after each connect, off as soon as
    the connection is lost.  Every ``idle_check`` seconds the connection proves it
    is alive (``SELECT 1``, answered within ``PING_TIMEOUT``), which keeps the
    cache on for ``idle_check + PING_TIMEOUT`` more: a connection that died
    silently (no FIN) turns it off within that time, before the reconnect."""

    def __init__(self, url: str, on_ids: Callable[[list[str]], None], on_connected: Callable[[], None],
                 idle_check: float = 5.0, cache: JobCache | None = None) -> None:
        self.url, self.on_ids, self.on_connected, self.idle_check = libpq_url(url), on_ids, on_connected, idle_check
        self.cache = cache
        self.connects = 0
        self.backend_pid: int | None = None     # of the LISTEN connection (tests end it to simulate a loss)
        self._listening = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever(), name="opengp-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job notifications: connection lost (%s); reconnecting in %.1f s", exc, delay)
            if self._listening:         # it was up: the first retry is quick again
                self._listening, delay = False, 0.1
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)

    async def _listen(self) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, application_name=LISTEN_NAME,
                                                     connect_timeout=5)
        cache, lease = self.cache, self.idle_check + PING_TIMEOUT
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.backend_pid = conn.info.backend_pid
            self.connects += 1
            self._listening = True
            if cache is not None:
                cache.start(lease)      # after LISTEN: from here on, no change goes unheard
            self.on_connected()
            while True:
                async for note in conn.notifies(timeout=self.idle_check):
                    ids = note.payload.split()
                    if cache is not None:
                        cache.invalidate(ids)
                    self.on_ids(ids)
                # is the connection still there?  (a silently dead one would never answer)
                await asyncio.wait_for(conn.execute("SELECT 1"), PING_TIMEOUT)
                if cache is not None:
                    cache.alive(lease)
        finally:
            if cache is not None:
                cache.stop()
            await conn.close()
