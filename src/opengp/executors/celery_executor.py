"""The API server's side of scale-out: doorbells and cancel broadcasts (Executor protocol).

Jobs run on Celery workers (``opengp worker``, see ``celery_app``).  Submitting
rings the service's queue after the job is committed; cancelling broadcasts
to the workers after the job service set the job's cancel flag (the flag alone
stops it within a tick of the worker's supervisor; the broadcast makes that
immediate).  Publishing happens on one thread of its own: a slow or absent
broker never holds up the event loop, and a doorbell lost with the broker is
rung again by the reconciler.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ..config import Settings
from ..core import StoreError
from ..store import ClaimStore
from ..system.metrics import BROKER_ERRORS

log = logging.getLogger("opengp.executor")
RESCAN_RINGS = 20           # doorbells per service with queued jobs after a service change


class CeleryExecutor:
    def __init__(self, settings: Settings, store: ClaimStore) -> None:
        from .celery_app import make_celery

        self.settings, self.store = settings, store
        self.app = make_celery(settings)
        self._todo: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    # -- Executor protocol -------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._publish_forever, name="opengp-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._todo.put(None)
        if self._thread is not None:
            self._thread.join(5)
        self.app.close()

    def submit(self, job_id: str, service: str) -> None:
        self.ring(service, job_id)

    def cancel(self, job_id: str) -> None:
        self._todo.put(("cancel", job_id))

    def services_changed(self) -> None:
        """A limit may have been raised: ring for every service with queued jobs and free slots."""
        self._todo.put(("rescan",))

    # -- for the reconciler -------------------------------------------------
    def ring(self, service: str, hint: str | None = None) -> None:
        """Queue a doorbell for ``service`` (thread-safe, never blocks)."""
        self._todo.put(("ring", service, hint))

    def worker_pids(self) -> list[int]:
        return []       # workers are other processes, usually on other machines

    def _publish_forever(self) -> None:
        from .celery_app import ring

        while (item := self._todo.get()) is not None:
            try:
                if item[0] == "ring":
                    ring(self.app, self.settings, item[1], item[2])
                elif item[0] == "cancel":
                    self.app.control.broadcast("opengp_cancel", arguments={"job_id": item[1]})
                elif item[0] == "rescan":
                    for backlog in self.store.backlog():   # surplus doorbells claim nothing: cheap
                        for _ in range(min(backlog.queued, RESCAN_RINGS)):
                            ring(self.app, self.settings, backlog.service)
            except Exception as exc:       # the broker is away: the reconciler rings stalled services again
                if not isinstance(exc, StoreError):     # (the store counts its own)
                    BROKER_ERRORS.labels(item[0]).inc()
                log.warning("publishing %s failed", item[0], exc_info=True)
