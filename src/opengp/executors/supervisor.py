"""The Celery worker's main process watches its pool children's jobs.

Every ``TICK`` it renews the leases of the jobs its children run (one
statement; a lease then means "this node is alive and the child still runs
the job", even while a tool holds the GIL in a long C call) and reads their
cancel flags.  Like ``LocalExecutor._watch``, it stops a job that must stop:
a cancelled one gets SIGUSR2 (cooperative, ``ctx.cancelled``), then after
``cancel_grace`` a compare-and-set to cancelled and a SIGKILL of its child; a
job past its service's ``max_usage_time`` is set timed out and killed.  It
kills only after winning the compare-and-set, so a job that ended on its own
meanwhile keeps its result.  Billiard replaces a killed child.

A child that died on its own (the kernel's OOM killer, a crash in a C
extension) leaves its job to this process too: at the first tick that finds it
dead, the jobs it held (even one claimed since the last tick) are settled as
the reconciler would settle them after the lease (failed "worker lost", or
re-run within the service's retries).
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from .. import lifecycle
from ..config import Settings
from ..core import Status
from ..core.status import RUNNING
from ..store import Lease, Store
from ..runtime.storage import open_file_store
from ..store.services import open_service_store
from ..system.metrics import set_slots
from .worker import slot_name

log = logging.getLogger("opengp.supervisor")
TICK = 0.25                 # seconds between lease renewals and limit checks


class Supervisor:
    def __init__(self, settings: Settings, store: Store, pool_pids: Callable[[], list[int]],
                 released: Callable[[str], None]) -> None:
        """``pool_pids``: this worker's pool children now; ``released(service)``: a job was
        stopped here, so a slot of its service is free."""
        self.settings, self.store, self.pool_pids, self.released = settings, store, pool_pids, released
        self.services = open_service_store(store)
        self.files = open_file_store(settings)
        self._limits: dict[str, float] = {}
        self._limits_read = 0.0
        self._cancelling: dict[str, float] = {}        # job id -> when its grace ends
        self._children: dict[str, int] = {}             # slot name -> pid of the pool children at the last tick
        self._wake = threading.Event()
        self._stopped = False

    def wake(self) -> None:
        """Look now (a cancel was broadcast)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def loop(self) -> None:
        while not self._stopped:
            try:
                self.tick()
            except Exception:       # the database is briefly unreachable: next tick
                log.warning("supervising jobs failed", exc_info=True)
            self._wake.wait(TICK)
            self._wake.clear()

    def tick(self) -> None:
        # a dead child may stay in the pool's list a while (until billiard reaps it): not renewed
        listed = {slot_name(pid): pid for pid in self.pool_pids()}
        pids = {slot: pid for slot, pid in listed.items() if _alive(pid)}
        leases = self.store.renew_leases(list(pids)) if pids else []
        # known (now or at an earlier tick) and dead: while the pool shuts down its list may
        # read empty, so being missing from it is not enough
        gone = [slot for slot, pid in {**self._children, **listed}.items() if slot not in pids and not _alive(pid)]
        if gone:        # whatever they held, even a job claimed since the last tick
            try:
                self._settle_lost(self.store.renew_leases(gone))
            except Exception:       # the live children's turn first; the next tick tries again
                log.warning("settling the jobs of dead pool processes failed", exc_info=True)
                gone = []
        self._children = {**{s: p for s, p in self._children.items() if s not in gone}, **pids}
        now = time.time()
        for lease in leases:
            pid = pids[lease.worker]
            if (lease.cancel_requested or lease.status is Status.CANCELLING) and lease.id not in self._cancelling:
                self._cancelling[lease.id] = now + self.settings.cancel_grace
                _signal(pid, signal.SIGUSR2)        # the tool may stop by itself within the grace
            why = lifecycle.must_stop(now, lease.started, self._max_usage_time(lease.service, now),
                                      self._cancelling.get(lease.id))
            if why is not None:
                self._stop(lease, pid, why)
        set_slots("celery", len(leases), max(0, len(pids) - len(leases)))
        running = {lease.id for lease in leases}
        for job_id in list(self._cancelling):
            if job_id not in running:
                del self._cancelling[job_id]

    def _settle_lost(self, lost: list[Lease]) -> None:
        """Jobs of pool children that are gone.  (A child this process killed left its job
        finished already: the compare-and-set finds nothing to do.)"""
        for lease in lost:
            job = self.store.get(lease.id)
            if job is None or job.status not in RUNNING or job.worker != lease.worker:
                continue
            record = self.services.get(job.service)
            why = f"The worker running this job was lost (its process {lease.worker} ended while running it)."
            status = lifecycle.settle_lost(self.store, job, record.config.retries if record is not None else None, why)
            if status is not None:
                self._cancelling.pop(lease.id, None)
                if self.files.remote:
                    self.files.discard_local(lease.service, lease.id)
                self.released(lease.service)    # a re-queued job rings, as does the slot it left

    def _max_usage_time(self, service: str, now: float) -> float:
        if now - self._limits_read > 2.0:
            self._limits = {r.key: r.config.max_usage_time for r in self.services.list()}
            self._limits_read = now
        return self._limits.get(service, float("inf"))

    def _stop(self, lease: Lease, pid: int, why: lifecycle.Stop) -> None:
        done = lifecycle.stop(self.store, lease.id, why)
        self._cancelling.pop(lease.id, None)
        if done is None:
            return      # it ended on its own meanwhile
        log.info("job %s %s: killing pool process %d", lease.id, why.status.value, pid)
        _signal(pid, signal.SIGKILL)
        if self.files.remote:       # object storage: nothing will publish the killed job's local folder
            self.files.discard_local(lease.service, lease.id)
        self.released(lease.service)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return False
    except OSError:     # out of file descriptors, say: never a reason to call a child dead
        pass
    try:            # no /proc (not Linux), or it could not be read: ask the kernel (a zombie counts as alive)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
