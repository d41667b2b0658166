"""The composition root of an API server: store, registry, executor, job service, services,
users and tokens, built from ``Settings`` completely and in one place.

The deployment mode is ``Settings.scale_out``; this is the only place that builds
differently for it.  Local: one server owns its data folder (a lock), its SQLite or
PostgreSQL store and its worker processes, and at start settles the jobs its last run
left behind (``JobService.recover``).  Scale-out: many servers share a PostgreSQL store,
Celery workers run the jobs, changes made by other processes arrive by NOTIFY
(store/notify.py) and lost workers' jobs are settled by the reconciler, since other
servers may be running.
"""
from __future__ import annotations

import asyncio
import fcntl
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..auth import TokenIssuer
from ..auth.secret import load_secret
from ..auth.throttle import LoginGuard
from ..config import Settings
from ..datasets.catalog import Catalog
from ..datasets.inputs import submit_inputs
from ..executors.base import Executor
from ..runtime.storage import open_file_store
from ..store import Store, open_store
from ..store.cache import JobCache
from ..store.logs import open_log_store
from ..store.outbox import OutboxStore, open_outbox
from ..store.reports import open_reports
from ..store.services import open_service_store
from ..store.usage import open_usage
from ..store.users import UserStore, open_user_store
from ..system.files import private_data_dir
from ..system.urls import set_policy
from ..tools.registry import Registry
from .activity import Activity
from .logs import ServerLog
from .publishing import ServiceManager, import_config_file
from .reconcile import Reconciler
from .service import JobService
from .signals import JobSignals
from .usage import UsageReports
from .webhooks import WebhookManager

log = logging.getLogger("opengp")


@dataclass
class ApiServer:
    """What one API server runs on, started (``open_api_server``) and stopped (``close``)."""

    settings: Settings
    store: Store
    jobs: JobService
    services: ServiceManager
    executor: Executor
    users: UserStore
    tokens: TokenIssuer
    logins: LoginGuard
    reconciler: Reconciler | None               # scale-out only
    closers: list[Callable[[], Any]]            # what ``close`` undoes, last first
    webhooks: WebhookManager                    # GP service webhooks (the admin face)
    outbox: OutboxStore                         # what they are owed (jobs/deliveries.py delivers it)
    logs: ServerLog                             # the server log in the store (admin logs/query)
    usage_reports: UsageReports                 # the admin API's usagereports
    activity: Activity                          # service statistics and the console's dashboard

    @property
    def registry(self) -> Registry:
        return self.jobs.registry

    async def close(self) -> None:
        """Stop the workers, let the last changes reach the other servers, close the store,
        and only then let go of the data folder."""
        await _undo(self.closers)


async def _undo(closers: list[Callable[[], Any]]) -> None:
    """Each closer, last first; one that fails is logged and the others still run."""
    for closer in reversed(closers):
        try:
            result = closer()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("stopping the server: %r failed", closer)


def lock_data_dir(data_dir: Path) -> IO[str]:
    """One server per data folder: local workers report only to their own server."""
    private_data_dir(data_dir)
    fh = open(data_dir / "opengp.lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise RuntimeError(f"another opengp server is using {data_dir}") from None
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


async def open_api_server(settings: Settings, catalog: Catalog) -> ApiServer:
    """Build every part from ``settings`` and start it (on the running event loop).  When a
    step fails, what the steps before it opened is closed again."""
    closers: list[Callable[[], Any]] = []
    try:
        return await _open(settings, catalog, closers)
    except BaseException:
        await _undo(closers)
        raise


async def _open(settings: Settings, catalog: Catalog, closers: list[Callable[[], Any]]) -> ApiServer:
    if settings.scale_out:          # many servers share the data folder (and the database)
        private_data_dir(settings.data_dir)
    else:
        closers.append(lock_data_dir(settings.data_dir).close)
    set_policy(allow_private=settings.allow_private_urls, max_bytes=settings.max_upload_bytes)
    # scale-out: finished jobs from memory while the change listener hears of changes
    cache = JobCache(settings.job_cache) if settings.scale_out and settings.job_cache else None
    store = open_store(settings.store_url, cache=cache)
    closers.append(store.close)
    logs = ServerLog(open_log_store(store), settings)
    logs.start()
    closers.append(logs.stop)       # (before the store closes: what is queued is written)
    service_store = open_service_store(store)
    with store.lock("bootstrap"):       # servers starting together on an empty database take turns
        import_config_file(settings, service_store)
    users = open_user_store(store)
    registry, signals = Registry([]), JobSignals()
    if settings.scale_out:
        from ..executors.celery_executor import CeleryExecutor

        celery = CeleryExecutor(settings, store)
        executor: Executor = celery
    else:
        from ..executors.local import LocalExecutor

        executor = LocalExecutor(store, registry, settings, on_done=signals.done, on_change=signals.changed,
                                 on_logs=logs.accept)
    jobs = JobService(store, registry, executor, settings.data_dir, open_file_store(settings), signals=signals,
                      # feature inputs by URL: our own layers checked against the caller at submit
                      feature_inputs=submit_inputs(catalog, users, settings.allow_private_urls))
    closers.append(jobs.close)
    hook_store, outbox = open_outbox(store)
    services = ServiceManager(jobs, service_store, settings, hook_store)
    webhooks = WebhookManager(hook_store, outbox, jobs, settings)
    usage = open_usage(store)
    usage_reports = UsageReports(open_reports(store), usage, jobs, services)
    services.load()
    tokens = TokenIssuer(load_secret(settings.secret_key, settings.data_dir), users,
                         max_minutes=settings.token_max_minutes)
    reconciler = None
    if settings.scale_out:
        from ..store.notify import Listener, announce_changes

        events = announce_changes(store, settings.store_url)    # this server's own transitions
        closers.append(lambda: asyncio.to_thread(events.close))     # the last ones reach the others
        listener = Listener(settings.store_url, signals.changed_elsewhere, signals.recheck_all, cache=cache)
        listener.start()
        closers.append(listener.stop)
        reconciler = Reconciler(store, registry, settings, celery.ring, runs_here=services.ops.runs_here)
        celery.start()
        closers.append(celery.stop)
        await asyncio.to_thread(reconciler.run_once)     # not recover(): other servers may be running
    else:
        interrupted, requeued = jobs.recover()
        if interrupted or requeued:
            log.warning("recovered jobs: %d interrupted, %d re-queued", interrupted, requeued)
        executor.start()
        closers.append(executor.stop)
        outbox.release()        # deliveries the last run held: nobody else delivers here
    return ApiServer(settings, store, jobs, services, executor, users, tokens,
                     LoginGuard(settings.login_attempts, settings.login_window), reconciler, closers,
                     webhooks, outbox, logs, usage_reports, Activity(usage, jobs, settings))
