"""The server's Prometheus metrics: their definitions, and the directory every process of a
machine writes them to (prometheus_client's multiprocess mode).

An API server is several processes (``opengp serve --processes N``; Celery workers beside it),
and a scrape reaches one of them.  So each process writes its samples to files of its own in
one directory (memory-mapped: an increment is a few microseconds) and a scrape sums the files
of every process (:func:`registry`).  :func:`use_directory` must run before any metric is
touched, in the process that starts the others (they inherit the environment).

Labels are few and bounded: a service key and task name (what operators publish), a final
status, a route class, an HTTP status code, an error kind.  Never a job id or a raw path.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..core import Conflict, Job, Kind, StoreUnavailable
from .tally import TALLY

log = logging.getLogger("opengp.metrics")
E = TypeVar("E", bound=Exception)
ENV = "PROMETHEUS_MULTIPROC_DIR"
# geoprocessing runs from a tenth of a second (a buffer) to the hour (a big product): the usual
# Prometheus buckets stop at 10 s
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# HTTP answers: a status poll takes a millisecond or less, a synchronous execute seconds
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STORE_ERROR_KINDS = ("unavailable", "conflict", "read", "write")
BROKER_ERROR_KINDS = ("ring", "cancel", "rescan")
_FILE = re.compile(r"^[a-z]+_(?:[a-z]+_)?(\d+)\.db$")

JOBS_SUBMITTED = Counter("opengp_jobs_submitted", "Jobs accepted (stored and queued).", ["service", "task"])
JOBS_ENDED = Counter("opengp_jobs_ended", "Jobs that reached a final status.", ["service", "task", "status"])
JOB_DURATION = Histogram("opengp_job_duration_seconds", "Run time of ended jobs (started to finished).",
                         ["service"], buckets=JOB_BUCKETS)
JOB_QUEUE_WAIT = Histogram("opengp_job_queue_wait_seconds", "Time from submission to a worker's claim.",
                           ["service"], buckets=JOB_BUCKETS)
WORKER_SLOTS = Gauge("opengp_worker_slots", "Worker processes of live executors, busy with a job or free.",
                     ["executor", "state"], multiprocess_mode="livesum")
HTTP_REQUESTS = Counter("opengp_http_requests", "HTTP requests answered, by route class and status code.",
                        ["route", "code"])
HTTP_DURATION = Histogram("opengp_http_request_duration_seconds", "Time to answer an HTTP request.",
                          ["route"], buckets=HTTP_BUCKETS)
STORE_ERRORS = Counter("opengp_store_errors", "Job store calls that failed, by kind.", ["kind"])
BROKER_ERRORS = Counter("opengp_broker_errors", "Broker publications that failed, by what was published.",
                        ["kind"])


def use_directory(directory: Path) -> None:
    """Write this process's metrics (and its children's) to ``directory``, shared by the
    opengp processes of this machine.  Called at start by ``opengp serve`` and ``opengp
    worker``: when no process that wrote there still lives, the directory is wiped (a new
    run counts from zero); otherwise only the live gauges of dead processes are dropped (the
    counters of a process that ended stay in the sums)."""
    directory.mkdir(parents=True, exist_ok=True)
    pids = _writers(directory)
    if not any(_alive(pid) for pid in pids if pid != os.getpid()):
        for entry in directory.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    else:
        for pid in pids:
            if not _alive(pid):
                mark_process_dead(pid, str(directory))
    os.environ[ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()      # prometheus_client may have been imported before
    prometheus_client.disable_created_metrics()


def process_dead(pid: int) -> None:
    """A process that wrote metrics has ended: its gauges leave the sums (its counters stay)."""
    directory = os.environ.get(ENV)
    if directory:
        mark_process_dead(pid, directory)


def multiprocess() -> bool:
    return bool(os.environ.get(ENV))


class _ThisProcess:
    """This process's own metrics (prometheus_client's global registry), read through."""

    def collect(self) -> Any:
        return prometheus_client.REGISTRY.collect()


def registry(*collectors: Any) -> CollectorRegistry:
    """What a scrape reads, a registry of its own with ``collectors``: every process's samples
    (or this process's alone, outside multiprocess mode, as in tests that build the app
    themselves).  Never the global registry itself: two scrapes at once would each register
    their collectors there, and the second would fail ("Duplicated timeseries")."""
    reg = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(reg)
    else:
        reg.register(_ThisProcess())
    for collector in collectors:
        reg.register(collector)
    return reg


def exposition(*collectors: Any) -> bytes:
    """The text format of :func:`registry` (``collectors`` read for this scrape only)."""
    TALLY.flush()       # this process's last second first (system/tally.py)
    return prometheus_client.generate_latest(registry(*collectors))


def ready_labels() -> None:
    """Show the error counters at zero before the first error (a dashboard's query finds them)."""
    for kind in STORE_ERROR_KINDS:
        STORE_ERRORS.labels(kind)
    for kind in BROKER_ERROR_KINDS:
        BROKER_ERRORS.labels(kind)


def set_slots(executor: str, busy: int, free: int) -> None:
    """An executor's worker processes, busy with a job or free (set as jobs come and go)."""
    TALLY.set(WORKER_SLOTS, (executor, "busy"), busy)
    TALLY.set(WORKER_SLOTS, (executor, "free"), free)


def _writers(directory: Path) -> set[int]:
    pids = set()
    for entry in directory.iterdir():
        match = _FILE.match(entry.name)
        if match:
            pids.add(int(match.group(1)))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _counted(job: Job) -> bool:
    """A service's job (a tool run or a product), not an admin operation (createService,
    edit...): those run as jobs too, under the service's key, but are no work of the service's."""
    return job.kind is not Kind.ADMIN


def job_submitted(job: Job) -> None:
    """A job accepted by the job service (stored and queued)."""
    TALLY.inc(JOBS_SUBMITTED, (job.service, job.task))


def job_ended(job: Job) -> None:
    """A job's move to a final status committed (counted once, where it commits: the store)."""
    if not _counted(job):
        return
    TALLY.inc(JOBS_ENDED, (job.service, job.task, job.status.value))
    if job.started is not None and job.finished is not None:
        TALLY.observe(JOB_DURATION, (job.service,), max(0.0, job.finished - job.started))


def job_claimed(job: Job) -> None:
    """A worker's claim committed: how long the job waited for it."""
    if _counted(job) and job.started is not None:
        TALLY.observe(JOB_QUEUE_WAIT, (job.service,), max(0.0, job.started - job.created))


def store_error(error: E, op: str) -> E:
    """Count a driver error where the store translates it (``raise store_error(StoreError(...),
    "write")``): by kind, the database unreachable or busy, a unique key refused, or another
    failure of a read or a write."""
    kind = "unavailable" if isinstance(error, StoreUnavailable) else "conflict" if isinstance(error, Conflict) else op
    STORE_ERRORS.labels(kind).inc()
    return error
