"""Reconciliation in scale-out mode: no job stays executing forever, none is lost.

Every API server runs :meth:`Reconciler.run_once` every ``reconcile_interval``
seconds; a database try-lock lets one act at a time.  Each pass

1. rings again for services whose queued jobs have waited ``doorbell_timeout``
   with a free slot and nothing of theirs running that would ring on release
   (a doorbell lost with the broker, or a server that died between commit
   and publish);
2. reaps jobs whose lease expired (their worker was killed, or its machine
   lost): cancelled if a cancel was asked, re-queued (and rung for) while the
   service allows retries (``attempts <= retries``), else failed with a
   "worker lost" message.

3. ends admin operations whose API server died mid-way (not updated for
   ``ABANDONED`` seconds, and not running on this server): failed, as a
   restarted server fails its own (``JobService.recover``).

Bound: a dead worker's jobs are settled within ``lease + reconcile_interval``;
a dead server's operations within ``ABANDONED + reconcile_interval``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .. import lifecycle
from ..config import Settings
from ..core import Status
from ..store import Store
from .operations import ABANDONED
from ..tools.registry import Registry

log = logging.getLogger("opengp.reconcile")
RING_AT_MOST = 20           # doorbells per stalled service per pass


class Reconciler:
    def __init__(self, store: Store, registry: Registry, settings: Settings,
                 ring: Callable[[str, str | None], None], runs_here: Callable[[str], bool] = lambda _: False,
                 abandoned: float = ABANDONED) -> None:
        """``runs_here(job_id)``: the admin operation runs on this server (AdminOperations)."""
        self.store, self.registry, self.settings, self.ring = store, registry, settings, ring
        self.runs_here, self.abandoned = runs_here, abandoned

    def run_once(self) -> tuple[int, int]:
        """One pass; returns (jobs reaped, doorbells rung).  Blocking: call from a thread."""
        with self.store.try_lock("reconcile") as mine:
            if not mine:
                return 0, 0
            rung = self._ring_stalled()     # first: the jobs reaped next ring for themselves
            return self._reap() + self._end_abandoned(), rung

    def _reap(self) -> int:
        reaped = 0
        for job in self.store.stale(self.settings.lease):
            service = self.registry.services.get(job.service)
            why = (f"The worker running this job was lost (no heartbeat for more than "
                   f"{self.settings.lease:g} s; worker {job.worker}).")
            status = lifecycle.settle_lost(self.store, job, service.config.retries if service else None, why)
            if status is None:
                continue        # it ended meanwhile
            reaped += 1
            if status is Status.SUBMITTED:
                self.ring(job.service, job.id)
        return reaped

    def _end_abandoned(self) -> int:
        ended = 0
        for job in self.store.stale_operations(self.abandoned):     # judged on the database's clock
            if self.runs_here(job.id):
                continue
            why = (f"The API server running this operation stopped (no sign of it for more than "
                   f"{self.abandoned:g} s); the service is as its stored configuration says.")
            if lifecycle.fail(self.store, job.id, why, only=job.status) is not None:
                log.warning("admin job %s (%s %s): its server was lost; failed", job.id, job.task, job.service)
                ended += 1
        return ended

    def _ring_stalled(self) -> int:
        rung = 0
        now = time.time()
        for backlog in self.store.backlog():
            service = self.registry.services.get(backlog.service)
            limit = service.config.max_instances if service is not None else None
            if now - backlog.oldest < self.settings.doorbell_timeout:
                continue
            if backlog.running and (limit is None or backlog.running >= limit):
                continue        # whatever runs now rings (or its own doorbells are still queued)
            free = backlog.queued if limit is None else limit - backlog.running
            for _ in range(min(backlog.queued, free, RING_AT_MOST)):
                self.ring(backlog.service, None)
                rung += 1
        return rung
