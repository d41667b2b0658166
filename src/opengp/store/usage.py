"""How the services were used, from the jobs themselves: the ONE aggregation behind usage reports,
service statistics and the admin dashboard.

A job is a request.  An ended job counts in the time slice its ``finished`` falls in (its
response time is known only then, as ArcGIS logs a request when it is answered), grouped by
service and status in the database (the partial index ``ix_jobs_finished``, migration 0011);
its run time is ``finished - started`` (none for a job that never ran) and its wait
``started - created``.  Open jobs (waiting, running) are counted through the status index.
Admin operations are no requests of a service and are left out.

Work per call is bounded: at most ``MAX_SLICES`` slices, at most a row per (service, slice,
status) or (service, duration class) comes back, and ``failures`` reads a page.  Jobs purged
after their retention are gone from every figure.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from ..core import TERMINAL, Job, Kind, Status
from ..core.status import OPEN
from .base import JobQuery
from .engine import run
from .queries import MACHINE_COND, machine_pattern
from .tables import status_literals

MAX_SLICES = 5000
# Upper bounds (seconds) of the duration classes percentiles are read from: fine enough that the
# spread of a class (its own min and max are kept) says little, few enough to group cheaply
DURATION_BOUNDS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120,
    180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 43200, 86400)
FAILED_STATUSES = (Status.FAILED, Status.TIMED_OUT)


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` in epoch seconds, cut into slices of ``interval`` seconds (the last may
    be cut short by ``end``); ``services``: only these (None: every service); ``machines``: only
    the jobs run on these hosts (None: wherever they ran, or never did)."""

    start: float
    end: float
    interval: float
    services: tuple[str, ...] | None = None
    machines: tuple[str, ...] | None = None

    @property
    def slices(self) -> int:
        return max(1, math.ceil((self.end - self.start) / self.interval))

    def check(self) -> None:
        """ValueError for a window this module will not read (empty, or too many slices)."""
        if not (self.end > self.start and self.interval > 0):
            raise ValueError("a usage window must end after it starts and have a positive interval")
        if self.slices > MAX_SLICES:
            raise ValueError(f"a usage window has at most {MAX_SLICES} slices, not {self.slices}")


@dataclass(frozen=True, slots=True)
class Ended:
    """The jobs of one service that ended in one slice in one status."""

    service: str
    slice: int              # 0 is the one starting at the window's start
    status: Status
    count: int
    ran: int                # of them, how many had started (the others have no run or wait time)
    run_total: float        # seconds, summed over those that ran
    run_max: float | None
    wait_total: float       # seconds from created to started, summed over those that ran
    wait_max: float | None
    wait_min: float | None


@dataclass(frozen=True, slots=True)
class DurationClass:
    """How many of a service's jobs ran for at most ``DURATION_BOUNDS[index]`` seconds (and more
    than the bound before it); ``index == len(DURATION_BOUNDS)``: longer still."""

    service: str
    index: int
    count: int
    shortest: float
    longest: float


@dataclass(frozen=True, slots=True)
class OpenCount:
    """A service's jobs in one open status now."""

    service: str
    status: Status
    count: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A job that failed or timed out, newest end first."""

    id: str
    service: str
    task: str
    status: Status
    finished: float
    error: str | None


class UsageStore(Protocol):
    def ended(self, window: Window) -> list[Ended]:
        """Jobs that ended in the window, by service, slice and status (no row for none)."""

    def durations(self, window: Window) -> list[DurationClass]:
        """Run times of the jobs that ended in the window after running, by service and class
        (the window's interval plays no part)."""

    def open_jobs(self, services: tuple[str, ...] | None = None) -> list[OpenCount]:
        """Jobs waiting or running now, by service and status."""

    def failures(self, since: float, services: tuple[str, ...] | None = None, limit: int = 10) -> list[Failure]:
        """The latest ``limit`` jobs that failed or timed out since ``since``."""


def duration_class(seconds: float) -> int:
    return bisect.bisect_left(DURATION_BOUNDS, seconds)


def percentile(classes: Iterable[DurationClass], q: float) -> float | None:
    """The ``q`` (0..1) percentile of the run times in ``classes`` (one service's), interpolated
    between the runs either side of its rank as numpy's "linear" method does; each run's value
    is read from its class: exact for a class's shortest and longest, spread evenly between
    them.  None when nothing ran."""
    ordered = sorted(classes, key=lambda c: c.index)
    total = sum(c.count for c in ordered)
    if total == 0:
        return None

    def value(k: int) -> float:         # the k-th shortest run (0-based)
        seen = 0
        for c in ordered:
            if k < seen + c.count:
                return c.shortest if c.count == 1 else c.shortest + (c.longest - c.shortest) * (k - seen) / (c.count - 1)
            seen += c.count
        return ordered[-1].longest

    rank = q * (total - 1)
    low = math.floor(rank)
    high = min(low + 1, total - 1)
    return value(low) + (value(high) - value(low)) * (rank - low)


def open_usage(job_store: Any) -> UsageStore:
    """The aggregation beside a job store: SQL on its engine, or over the in-memory store."""
    engine = getattr(job_store, "engine", None)
    if engine is None:
        return MemoryUsage(job_store)
    return SqlUsage(engine, job_store.is_sqlite)


# -- SQL ------------------------------------------------------------------------------------------

# Only ended jobs have a ``finished``, so no status test is needed for them; where one is, it is
# written so that no database reads it through the status index (all the ended jobs of all time)
# rather than through ix_jobs_finished (those of the window)
_ENDED_IN = "finished >= :start AND finished < :end AND kind <> 'admin'"
_STATUS_UNINDEXED = "status || ''"
_BY_SERVICE = " AND service IN :services"
_CLASS = ("CASE " + " ".join(f"WHEN finished - started <= {b!r} THEN {i}" for i, b in enumerate(DURATION_BOUNDS))
          + f" ELSE {len(DURATION_BOUNDS)} END")


class SqlUsage:
    """The aggregation in SQL: grouped in the database, never a row per job to Python."""

    def __init__(self, engine: Engine, is_sqlite: bool) -> None:
        self.engine = engine
        # the slice a job's end falls in (finished >= start: truncation is the floor)
        self.slice = ("CAST((finished - :start) / :interval AS INTEGER)" if is_sqlite
                      else "CAST(floor((finished - :start) / :interval) AS BIGINT)")

    def _rows(self, sql: str, params: dict[str, Any], services: tuple[str, ...] | None,
              machines: tuple[str, ...] | None = None) -> list[Any]:
        if (services is not None and not services) or (machines is not None and not machines):
            return []
        extra = "" if services is None else _BY_SERVICE
        if machines is not None:
            extra += " AND (" + " OR ".join(MACHINE_COND.format(name=f"m{i}") for i in range(len(machines))) + ")"
            params = {**params, **{f"m{i}": machine_pattern(m) for i, m in enumerate(machines)}}
        stmt = text(sql.replace("{services}", extra))
        if services is not None:
            stmt = stmt.bindparams(bindparam("services", expanding=True))
            params = {**params, "services": list(services)}

        def read(c: Connection) -> list[Any]:
            return list(c.execute(stmt, params))

        return run(self.engine, read, write=False, what="usage")

    def ended(self, window: Window) -> list[Ended]:
        window.check()
        sql = (f"SELECT service, {self.slice} AS slice, status, count(*), count(started), "
               "coalesce(sum(finished - started), 0), max(finished - started), "
               "coalesce(sum(started - created), 0), max(started - created), min(started - created) "
               f"FROM jobs WHERE {_ENDED_IN}{{services}} GROUP BY service, slice, status")
        rows = self._rows(sql, {"start": window.start, "end": window.end, "interval": window.interval},
                          window.services, window.machines)
        return [Ended(r[0], int(r[1]), Status(r[2]), int(r[3]), int(r[4]), float(r[5]), _float(r[6]),
                      float(r[7]), _float(r[8]), _float(r[9])) for r in rows if Status(r[2]) in TERMINAL]

    def durations(self, window: Window) -> list[DurationClass]:
        window.check()
        sql = (f"SELECT service, {_CLASS} AS class, count(*), min(finished - started), max(finished - started) "
               f"FROM jobs WHERE {_ENDED_IN} AND started IS NOT NULL{{services}} GROUP BY service, class")
        rows = self._rows(sql, {"start": window.start, "end": window.end}, window.services, window.machines)
        return [DurationClass(r[0], int(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in rows]

    def open_jobs(self, services: tuple[str, ...] | None = None) -> list[OpenCount]:
        sql = (f"SELECT service, status, count(*) FROM jobs WHERE status IN ({status_literals(OPEN)}) "
               "AND kind <> 'admin'{services} GROUP BY service, status")
        return [OpenCount(r[0], Status(r[1]), int(r[2])) for r in self._rows(sql, {}, services)]

    def failures(self, since: float, services: tuple[str, ...] | None = None, limit: int = 10) -> list[Failure]:
        sql = ("SELECT id, service, task, status, finished, error FROM jobs WHERE finished >= :start "
               f"AND {_STATUS_UNINDEXED} IN ({status_literals(FAILED_STATUSES)}) AND kind <> 'admin'{{services}} "
               "ORDER BY finished DESC, id LIMIT :limit")
        rows = self._rows(sql, {"start": since, "limit": limit}, services)
        return [Failure(r[0], r[1], r[2], Status(r[3]), float(r[4]), r[5]) for r in rows]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# -- memory ---------------------------------------------------------------------------------------

class MemoryUsage:
    """The same aggregation over the in-memory store's jobs (the contract suite's baseline)."""

    def __init__(self, job_store: Any) -> None:
        self.jobs = job_store

    def _all(self, services: tuple[str, ...] | None) -> list[Job]:
        _, jobs = self.jobs.query(JobQuery(limit=None, oldest_first=True))
        return [j for j in jobs if j.kind is not Kind.ADMIN and (services is None or j.service in services)]

    def _ended_in(self, window: Window) -> list[Job]:
        machines = None if window.machines is None else {m.lower() for m in window.machines}
        return [j for j in self._all(window.services) if j.finished is not None
                and window.start <= j.finished < window.end
                and (machines is None or (j.worker or "").rpartition(":")[0].lower() in machines)]

    def ended(self, window: Window) -> list[Ended]:
        window.check()
        groups: dict[tuple[str, int, Status], list[Job]] = {}
        for j in self._ended_in(window):
            if j.status in TERMINAL:
                slot = int((j.finished - window.start) // window.interval)      # type: ignore[operator]
                groups.setdefault((j.service, slot, j.status), []).append(j)
        out = []
        for (service, slot, status), jobs in groups.items():
            runs = [j.finished - j.started for j in jobs if j.started is not None]       # type: ignore[operator]
            waits = [j.started - j.created for j in jobs if j.started is not None]
            out.append(Ended(service, slot, status, len(jobs), len(runs), float(sum(runs)), max(runs, default=None),
                             float(sum(waits)), max(waits, default=None), min(waits, default=None)))
        return out

    def durations(self, window: Window) -> list[DurationClass]:
        window.check()
        groups: dict[tuple[str, int], list[float]] = {}
        for j in self._ended_in(window):
            if j.started is not None:
                run_time = j.finished - j.started           # type: ignore[operator]
                groups.setdefault((j.service, duration_class(run_time)), []).append(run_time)
        return [DurationClass(s, i, len(v), min(v), max(v)) for (s, i), v in groups.items()]

    def open_jobs(self, services: tuple[str, ...] | None = None) -> list[OpenCount]:
        counts: dict[tuple[str, Status], int] = {}
        for j in self._all(services):
            if j.status in OPEN:
                counts[(j.service, j.status)] = counts.get((j.service, j.status), 0) + 1
        return [OpenCount(s, st, n) for (s, st), n in counts.items()]

    def failures(self, since: float, services: tuple[str, ...] | None = None, limit: int = 10) -> list[Failure]:
        failed = [j for j in self._all(services) if j.status in FAILED_STATUSES and j.finished is not None
                  and j.finished >= since]
        failed.sort(key=lambda j: (-(j.finished or 0), j.id))
        return [Failure(j.id, j.service, j.task, j.status, j.finished or 0.0, j.error) for j in failed[:limit]]

