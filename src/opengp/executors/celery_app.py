"""Celery workers (scale-out mode, docs/scale-out-design.md §5).

A broker message is a *doorbell*: ``opengp.run(service, hint)`` says "this
service has queued work".  The pool child that receives it claims the
service's oldest queued job in the database (``Store.claim_next``), so a
duplicated or redelivered message runs nothing twice and ``max_instances``
holds across all workers.  The job then runs through the same ``run_job`` as
in a local worker.

The worker's main process supervises its pool children (``Supervisor``): it
renews their jobs' leases, and kills a child whose job was cancelled (after
a SIGUSR2 and ``cancel_grace``) or ran past its service's ``max_usage_time``.
Each worker consumes one queue per published service (``ServiceQueues``), so
one service's backlog does not starve another.

Imported only in scale-out mode (the ``opengp[scaleout]`` extra brings Celery).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps, signals
from celery.worker.control import control_command

from .. import lifecycle
from ..config import ServiceConfig, Settings, listen_address
from ..core import Status, StoreError
from ..system import metrics
from ..system.logcontext import job_scope
from ..system.metrics import BROKER_ERRORS
from ..tools.context import JobContext
from .worker import _Layers, slot_name

log = logging.getLogger("opengp.celery")
TASK = "opengp.run"
SERVICE_REFRESH = 2.0       # seconds between reads of the services table (queues to consume)
_RETRY = {"max_retries": 5, "interval_start": 0.1, "interval_step": 0.5, "interval_max": 2.0}


def queue_name(settings: Settings, service: str) -> str:
    return f"{settings.queue_prefix}.{service}"


def make_celery(settings: Settings) -> Celery:
    """The Celery app both sides share: API servers publish with it, workers consume."""
    longest = max([s.max_usage_time for s in settings.services] + [600.0])
    app = Celery("opengp", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True, worker_prefetch_multiplier=1,          # prefetch of one (both are needed)
        task_reject_on_worker_lost=False,       # our own kills must not requeue; retries come from the DB
        worker_cancel_long_running_tasks_on_connection_loss=False,  # a tool survives a broker blip
        task_ignore_result=True,                # the jobs table is the result store
        worker_send_task_events=False, task_send_sent_event=False, worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True, broker_connection_max_retries=None,
        task_default_queue=settings.queue_prefix,
        control_exchange=settings.queue_prefix,  # broadcasts reach this deployment's workers only
        # Redis: an unacked doorbell comes back after this; it must outlast the longest job
        broker_transport_options={"visibility_timeout": longest + 600},
    )
    return app


def ring(app: Celery, settings: Settings, service: str, hint: str | None = None) -> None:
    """Publish one doorbell for ``service`` (``hint``: the job that caused it, for logs and waiting)."""
    app.send_task(TASK, args=[service, hint], queue=queue_name(settings, service), ignore_result=True,
                  retry=True, retry_policy=_RETRY)


# -- the pool child --------------------------------------------------------------------------------
class _Child:
    """What a pool child keeps between doorbells: its store, the services it loaded, the running job."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        from ..store.services import open_service_store
        from ..store.notify import announce_changes
        from ..runtime.storage import open_file_store
        from ..store.sql import SqlStore
        from ..tools.registry import Registry

        self.app, self.settings = app, settings
        self.store = SqlStore(settings.store_url, migrate=False)
        announce_changes(self.store, settings.store_url)      # progress, claims, ends reach API servers
        self.services = open_service_store(self.store)
        self.registry = Registry([])
        self.loaded: dict[str, str] = {}
        self.features = _Layers(settings)
        self.files = open_file_store(settings)      # the shared data_dir, or object storage (files_url)
        self.name = slot_name(os.getpid())
        self.current: JobContext | None = None
        # the Supervisor's first word of a cancel: cooperative tools stop within milliseconds
        signal.signal(signal.SIGUSR2, lambda *_: self.current.request_cancel() if self.current else None)

    def use(self, key: str) -> ServiceConfig | None:
        """Publish the service as the database has it now (it may have been created or edited)."""
        from ..store.services import DELETED
        from ..tools.registry import load_service

        record = self.services.get(key)
        if record is None or record.state == DELETED:
            self.registry.remove(key)
            self.loaded.pop(key, None)
            return None
        digest = record.config.model_dump_json()
        if self.loaded.get(key) != digest:
            try:
                self.registry.put(load_service(record.config, self.settings.config_dir))
                self.loaded[key] = digest
            except Exception:       # run_job fails the job, saying why
                log.exception("service %s does not load", key)
                self.registry.remove(key)
                self.loaded.pop(key, None)
        return record.config

    def _held(self, service: str, hint: str) -> None:
        """The service is at its limit: its queued jobs show ``waiting``, as in local mode.
        Not only the hint: a doorbell claims the oldest queued job, not its own, so the
        doorbells of jobs that were claimed by others' doorbells may all have come first."""
        from ..core import Kind
        from ..store import JobQuery

        lifecycle.wait(self.store, hint)
        _, queued = self.store.query(JobQuery(service=service, statuses=frozenset({Status.SUBMITTED}), limit=100,
                                              oldest_first=True))
        for other in queued:
            if other.kind is not Kind.ADMIN:
                lifecycle.wait(self.store, other.id)

    def run(self, service: str, hint: str | None) -> None:
        from ..runtime.run import run_job

        config = self.use(service)
        limit = config.max_instances if config is not None else None
        job = self.store.claim_next(service, self.name, limit)
        if job is None:     # nothing queued, or the service is at its limit: its next release rings
            if hint is not None and limit is not None:
                self._held(service, hint)
            return
        try:
            run_job(job, self.store, self.registry, Path(self.settings.data_dir), worker=self.name,
                    heartbeat_interval=self.settings.heartbeat_interval,
                    on_context=lambda ctx: setattr(self, "current", ctx), features=self.features,
                    files=self.files)
        except Exception:
            # run_job ends every job it claimed unless not even a failure could be recorded (an
            # outage outlasting its retries).  This process would then renew the job's lease for
            # as long as it lives: it exits instead, and the supervisor settles the job as lost
            # (and rings for the service's next job).
            with job_scope(job.id, job.request_id, job.service, job.owner):
                log.exception("job %s: run_job raised; this pool process exits", job.id)
            os._exit(os.EX_SOFTWARE)
        finally:
            if limit is not None:       # a slot is free: the oldest waiting job may run
                ring_if_queued(self.app, self.settings, self.store, service)


def ring_if_queued(app: Celery, settings: Settings, store: Any, service: str) -> None:
    try:
        hint = store.next_queued(service)
        if hint is not None:
            ring(app, settings, service, hint)
    except Exception as exc:       # the reconciler rings for a stalled service
        if not isinstance(exc, StoreError):     # (the store counts its own)
            BROKER_ERRORS.labels("ring").inc()
        log.warning("could not ring for %s", service, exc_info=True)


_CHILD: _Child | None = None
_SUPERVISOR: Any = None


# -- the worker --------------------------------------------------------------------------------------
def make_worker_app(settings: Settings) -> Celery:
    """The app with the task, the child set-up, and the main process's bootsteps."""
    from ..store.notify import announce_changes
    from ..store.services import DELETED, open_service_store
    from ..store.sql import SqlStore
    from .supervisor import Supervisor

    app = make_celery(settings)
    main_store = SqlStore(settings.store_url)       # migrates (under a lock) if this worker is the first
    announce_changes(main_store, settings.store_url)    # the Supervisor's kills (its thread starts on first use)
    _log_to_store(main_store, settings)
    service_store = open_service_store(main_store)

    @app.task(name=TASK, ignore_result=True)
    def run(service: str, hint: str | None = None) -> None:
        assert _CHILD is not None, "worker_process_init did not run"
        _CHILD.run(service, hint)

    @signals.worker_process_init.connect(weak=False)
    def _child_init(**_: Any) -> None:
        global _CHILD
        from ..system.urls import set_policy

        main_store.after_fork()      # the parent's connections are not ours to use
        # inputs by URL are fetched under the deployment's outbound policy, as in local workers
        set_policy(allow_private=settings.allow_private_urls, max_bytes=settings.max_upload_bytes)
        _CHILD = _Child(app, settings)

    @signals.worker_ready.connect(weak=False)
    def _ready(**_: Any) -> None:
        log.warning("opengp worker ready (queues %s.*)", settings.queue_prefix)

    def published() -> set[str]:
        return {queue_name(settings, r.key) for r in service_store.list() if r.state != DELETED}

    class ServiceQueues(bootsteps.StartStopStep):
        """Consume one queue per published service, following the services table."""

        requires = {"celery.worker.consumer.tasks:Tasks"}

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.timer: Any = None
            self.consuming: set[str] = set()

        def start(self, c: Any) -> None:
            self.consuming = {q.name for q in c.task_consumer.queues} if c.task_consumer else set()
            self.refresh(c)
            self.timer = c.timer.call_repeatedly(SERVICE_REFRESH, self.refresh, (c,), priority=10)

        def refresh(self, c: Any) -> None:
            try:
                wanted = published()
            except Exception:
                log.warning("reading the services table failed", exc_info=True)
                return
            for name in sorted(wanted - self.consuming):
                c.add_task_queue(name)
            for name in sorted(self.consuming - wanted - {settings.queue_prefix}):
                c.cancel_task_queue(name)
            self.consuming = wanted | {settings.queue_prefix}

        def stop(self, c: Any) -> None:
            if self.timer is not None:
                self.timer.cancel()

    class SupervisorStep(bootsteps.StartStopStep):
        """Runs the Supervisor beside the pool, in the main process, until the pool has drained.

        Celery stops a worker's steps in the reverse order of their start, so this step's
        ``stop`` comes *before* the pool's, which waits for the running jobs (warm shutdown).
        Those jobs still need their leases renewed and their cancels and ``max_usage_time``
        enforced, so the Supervisor stops on ``worker_shutdown``, which Celery sends once the
        pool has stopped (and with the process in any case: its thread is a daemon).
        """

        requires = {"celery.worker.components:Pool"}

        def start(self, w: Any) -> None:
            global _SUPERVISOR
            _SUPERVISOR = Supervisor(settings, main_store, lambda: _pool_pids(w),
                                     lambda service: ring_if_queued(app, settings, main_store, service))
            threading.Thread(target=_SUPERVISOR.loop, name="opengp-supervisor", daemon=True).start()

        def stop(self, w: Any) -> None:
            log.info("opengp worker draining: supervising the running jobs until they end")

    @signals.worker_shutdown.connect(weak=False)
    def _drained(**_: Any) -> None:
        if _SUPERVISOR is not None:
            _SUPERVISOR.stop()
        metrics.process_dead(os.getpid())       # its slots leave the sums

    app.steps["consumer"].add(ServiceQueues)
    app.steps["worker"].add(SupervisorStep)
    app.published_queues = published       # type: ignore[attr-defined]
    return app


def _log_to_store(store: Any, settings: Settings) -> None:
    """This worker's records at ``log_store_level`` go to the deployment's log (store/logs.py),
    from the main process and from each pool child (the handler starts its thread again in a
    forked child, on the engine ``after_fork`` renewed)."""
    from ..store.logs import CappedWriter, open_log_store
    from ..system.logsetup import attach_store, level_number

    level = level_number(settings.log_store_level)
    if level is not None:
        attach_store(CappedWriter(open_log_store(store), settings.log_store_rows, settings.log_store_days), level)


def _pool_pids(w: Any) -> list[int]:
    try:
        return [p.pid for p in list(w.pool._pool._pool) if p.pid]
    except AttributeError:          # the pool is not up yet (or is shutting down)
        return []


def serve_metrics(address: str) -> None:
    """``worker_metrics_address``: this worker's /metrics (its processes', summed; no token: a
    private network's), on a thread of the main process, for a Prometheus that cannot reach
    the API servers' metrics directory (a worker on another machine)."""
    from prometheus_client import start_http_server

    host, port = listen_address(address)
    start_http_server(port, host, registry=metrics.registry())
    log.info("worker metrics at http://%s:%d/metrics", host, port)


@control_command(args=[("job_id", str)], signature="<job_id>")
def opengp_cancel(state: Any, job_id: str) -> dict[str, str]:
    """Broadcast by an API server after it set a job's cancel flag: look now, not at the next tick."""
    if _SUPERVISOR is not None:
        _SUPERVISOR.wake()
    return {"ok": job_id}


def run_worker(settings: Settings, concurrency: int, loglevel: str = "info") -> int:
    """``opengp worker``: start a Celery worker for this deployment; returns its exit code."""
    metrics.use_directory(settings.metrics_directory)   # before the pool forks: its children write there too
    if settings.worker_metrics_address is not None:
        serve_metrics(settings.worker_metrics_address)
    app = make_worker_app(settings)
    queues = sorted(app.published_queues() | {settings.queue_prefix})       # type: ignore[attr-defined]
    # the node name carries the pid: several workers may run on one machine
    worker = app.Worker(hostname=f"opengp{os.getpid()}@{socket.gethostname()}", concurrency=concurrency, pool="prefork",
                        loglevel=loglevel.upper(), queues=queues,
                        without_gossip=True, without_mingle=True, without_heartbeat=True, optimization="fair")
    worker.start()
    return int(worker.exitcode or 0)
