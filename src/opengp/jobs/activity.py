"""What the services are doing now and did lately, from the jobs (store/usage.py): a service's
statistics (the admin API's ``<service>/statistics``) and the admin console's dashboard.

Both read the one aggregation; the faces word the answers (api/admin/services.py,
api/admin/dashboard.py).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..config import Settings
from ..core import Status, TERMINAL
from ..core.status import QUEUED, RUNNING
from ..store.usage import DurationClass, Failure, OpenCount, UsageStore, Window, percentile
from .service import JobService

STATISTICS_WINDOW = 86400.0     # a service's transactions and busy time: the jobs that ended in the last day
MINUTES = 60                    # the dashboard's jobs per minute: the last hour
DURATIONS_WINDOW = 86400.0      # its percentiles and failures: the last day
FAILURES = 10
PERCENTILES = (0.5, 0.9, 0.99)
ENDS = tuple(s for s in Status if s in TERMINAL)        # in the order of their declaration


@dataclass(frozen=True, slots=True)
class ServiceStatistics:
    """One service now (``busy``, ``waiting``) and over ``[start, now]`` (``transactions``: jobs
    ended, ``busy_time``: their run time in seconds).  ``max_instances`` None: not known here
    (no service limit, and workers on other machines)."""

    service: str
    start: float
    max_instances: int | None
    busy: int
    waiting: int
    transactions: int
    busy_time: float


@dataclass(frozen=True, slots=True)
class ServiceDurations:
    service: str
    count: int
    percentiles: tuple[float | None, ...]        # PERCENTILES', seconds


@dataclass(frozen=True, slots=True)
class ServiceQueue:
    service: str
    waiting: int
    running: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    now: float
    minute_ends: list[float]                        # the end of each of the last MINUTES minutes
    per_minute: dict[Status, list[int]]             # jobs ended in each minute, by how they ended
    durations: list[ServiceDurations]
    queues: list[ServiceQueue]
    failures: list[Failure] = field(default_factory=list)


class Activity:
    def __init__(self, usage: UsageStore, jobs: JobService, settings: Settings) -> None:
        self.usage, self.jobs, self.settings = usage, jobs, settings

    def max_instances(self, key: str) -> int | None:
        """The service's ``max_instances``; without one, the local worker pool's size (on a
        scale-out deployment the Celery workers' number is not known here: None)."""
        service = self.jobs.registry.services.get(key)
        limit = service.config.max_instances if service is not None else None
        if limit is None and not self.settings.scale_out:
            return self.settings.workers
        return limit

    async def statistics(self, key: str) -> ServiceStatistics:
        now = time.time()
        start = now - STATISTICS_WINDOW
        open_jobs = await self.jobs.io(self.usage.open_jobs, (key,))
        ended = await self.jobs.io(self.usage.ended, Window(start, now + 1, now + 1 - start, (key,)))
        return ServiceStatistics(
            key, start, self.max_instances(key),
            busy=sum(c.count for c in open_jobs if c.status in RUNNING),
            waiting=sum(c.count for c in open_jobs if c.status in QUEUED),
            transactions=sum(r.count for r in ended), busy_time=sum(r.run_total for r in ended))

    async def dashboard(self, services: tuple[str, ...] | None) -> Dashboard:
        """The dashboard of ``services`` (None: every service)."""
        now = time.time()
        end = math.floor(now / 60) * 60 + 60            # the minute under way is the last
        minutes = Window(end - MINUTES * 60, end, 60.0, services)
        day = Window(now - DURATIONS_WINDOW, now + 1, DURATIONS_WINDOW, services)
        ended = await self.jobs.io(self.usage.ended, minutes)
        classes = await self.jobs.io(self.usage.durations, day)
        open_jobs = await self.jobs.io(self.usage.open_jobs, services)
        failures = await self.jobs.io(self.usage.failures, day.start, services, FAILURES)
        per_minute = {s: [0] * MINUTES for s in ENDS}
        for r in ended:
            per_minute[r.status][r.slice] += r.count
        by_service: dict[str, list[DurationClass]] = {}
        for c in classes:
            by_service.setdefault(c.service, []).append(c)
        durations = [ServiceDurations(s, sum(c.count for c in cs), tuple(percentile(cs, q) for q in PERCENTILES))
                     for s, cs in sorted(by_service.items())]
        return Dashboard(now, [minutes.start + 60 * (i + 1) for i in range(MINUTES)], per_minute, durations,
                         _queues(open_jobs), failures)

    def queues_now(self) -> list[ServiceQueue]:
        """Jobs waiting and running per service now: every published service (at zero when idle:
        a gauge that vanished would read as stale) and any other with open jobs.  Blocking (one
        grouped count): for a thread, as a ``/metrics`` scrape runs."""
        queues = {q.service: q for q in _queues(self.usage.open_jobs())}
        for key in list(self.jobs.registry.services):
            queues.setdefault(key, ServiceQueue(key, 0, 0))
        return [queues[key] for key in sorted(queues)]


def _queues(open_jobs: list[OpenCount]) -> list[ServiceQueue]:
    """Open jobs' counts by service and status as waiting and running per service, by service."""
    queues: dict[str, list[int]] = {}
    for o in open_jobs:
        counts = queues.setdefault(o.service, [0, 0])
        counts[0 if o.status in QUEUED else 1] += o.count
    return [ServiceQueue(s, w, r) for s, (w, r) in sorted(queues.items())]
