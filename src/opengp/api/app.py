"""The FastAPI application: wires store, registry, executor and job service
together and mounts the HTTP faces."""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from ..auth import TokenIssuer
from ..auth.secret import load_secret
from ..auth.throttle import LoginGuard
from ..config import Settings
from ..core import OpenGPError
from ..datasets.catalog import Catalog
from ..datasets.inputs import submit_inputs
from ..executors.local import LocalExecutor
from ..jobs.service import JobService
from ..jobs.publishing import ServiceManager, import_config_file
from ..system.files import private_data_dir
from ..runtime.storage import open_file_store
from ..system.urls import set_policy
from ..store import open_store
from ..store.services import open_service_store
from ..store.users import open_user_store
from ..tools.registry import Registry
from .admin.operations import routes as admin_operation_routes
from .admin.services import routes as admin_service_routes
from .features.routes import routes as feature_routes
from .ogc.routes import routes as ogc_routes
from .products.routes import routes as product_routes
from .admin.console import routes as console_routes
from .web.pages import routes as page_routes
from . import heavy
from .errors import ErrorGuard, error_answer, http_error
from .headers import PageHeaders
from .limits import BodyLimit
from .arcgis.fastpath import JobStatusFastPath
from .ogc.fastpath import OgcFastPath
from .arcgis.openapi import openapi_document
from .arcgis.routes import routes as arcgis_routes
from .admin.tokens import admin_generate_token
from .arcgis.tokens import generate_token

log = logging.getLogger("opengp")


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


SERVICE_REFRESH = 2.0       # seconds between checks for service changes made by other servers


async def _purge_forever(jobs: JobService, interval: float) -> None:
    while True:
        try:
            purged = await jobs.purge_expired()
            if purged:
                log.info("purged %d expired jobs", purged)
        except Exception:
            log.exception("purging expired jobs failed")
        await asyncio.sleep(interval)


async def _reconcile_forever(reconciler: Any, interval: float) -> None:
    """Scale-out mode: reap lost workers' jobs and ring for stalled services (jobs/reconcile.py)."""
    while True:
        await asyncio.sleep(interval)
        try:
            reaped, rung = await asyncio.to_thread(reconciler.run_once)
            if reaped or rung:
                log.info("reconciled: %d job(s) of lost workers, %d doorbell(s) rung again", reaped, rung)
        except Exception:
            log.exception("reconciling jobs failed")


async def _refresh_services_forever(services: ServiceManager) -> None:
    while True:
        await asyncio.sleep(SERVICE_REFRESH)
        try:
            await services.refresh()
        except Exception:
            log.exception("reading service changes from the store failed")


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scale_out = settings.broker_url is not None     # Celery workers, a shared PostgreSQL
        if scale_out:       # many servers share the data folder (and the database)
            private_data_dir(settings.data_dir)
        lock = None if scale_out else lock_data_dir(settings.data_dir)
        set_policy(allow_private=settings.allow_private_urls, max_bytes=settings.max_upload_bytes)
        store = open_store(settings.store_url)
        service_store = open_service_store(store)
        with store.lock("bootstrap"):       # servers starting together on an empty database take turns
            import_config_file(settings, service_store)
        jobs = JobService(store, Registry([]), executor=None, data_dir=settings.data_dir,  # type: ignore[arg-type]
                          files=open_file_store(settings))
        services = ServiceManager(jobs, service_store, settings)
        services.load()
        registry = jobs.registry
        jobs.bind_loop(asyncio.get_running_loop())
        housekeeping: list[asyncio.Task[None]] = []
        listener: Any = None
        events: Any = None
        if scale_out:
            from ..executors.celery_executor import CeleryExecutor
            from ..jobs.reconcile import Reconciler
            from ..store.cache import JobCache
            from ..store.notify import Listener, announce_changes

            events = announce_changes(store, settings.store_url)    # this server's own transitions
            if settings.job_cache:          # finished jobs from memory while the listener hears changes
                store.cache = JobCache(settings.job_cache)
            listener = Listener(settings.store_url, jobs.changed_elsewhere, jobs.recheck_all, cache=store.cache)
            listener.start()
            executor: Any = CeleryExecutor(settings, store)
            jobs.executor = executor
            executor.start()
            reconciler = Reconciler(store, registry, settings, executor.ring, runs_here=services.ops.runs_here)
            await asyncio.to_thread(reconciler.run_once)    # instead of recover(): other servers may be running
            housekeeping.append(asyncio.create_task(_reconcile_forever(reconciler, settings.reconcile_interval)))
        else:
            executor = LocalExecutor(store, registry, settings, on_done=jobs.job_done, on_change=jobs.job_changed)
            jobs.executor = executor
            interrupted, requeued = jobs.recover()
            if interrupted or requeued:
                log.warning("recovered jobs: %d interrupted, %d re-queued", interrupted, requeued)
            executor.start()
        users = open_user_store(store)
        # feature inputs by URL: our own layers checked against the caller at submit
        jobs.feature_inputs = submit_inputs(app.state.datasets, users, settings.allow_private_urls)
        app.state.auth = TokenIssuer(load_secret(settings.secret_key, settings.data_dir), users,
                                     max_minutes=settings.token_max_minutes)
        app.state.logins = LoginGuard(settings.login_attempts, settings.login_window)
        app.state.jobs = jobs
        app.state.services = services
        app.state.executor = executor
        purger = asyncio.create_task(_purge_forever(jobs, settings.purge_interval))
        refresher = asyncio.create_task(_refresh_services_forever(services))
        try:
            yield
        finally:
            purger.cancel()
            refresher.cancel()
            for task in housekeeping:
                task.cancel()
            executor.stop()
            heavy.stop()
            if listener is not None:
                await listener.stop()
            if events is not None:      # the last changes reach the other servers before we go
                await asyncio.to_thread(events.close)
            store.close()
            if lock is not None:
                lock.close()

    # FastAPI's own document would be empty (every route is a plain Starlette route) and its
    # /docs page loads Swagger UI from a CDN: /openapi.json is the ArcGIS face's own document
    app = FastAPI(title="opengp", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None,
                  # FastAPI's built-in OpenTelemetry checks the environment on every request
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    app.state.datasets = Catalog.from_settings(settings)

    @app.exception_handler(OpenGPError)
    async def _known(request: Request, exc: OpenGPError) -> Response:
        return error_answer(request, exc)

    @app.exception_handler(HTTPException)
    async def _routing(request: Request, exc: HTTPException) -> Response:
        return http_error(request, exc)     # no such path, or not with this method

    # Inside FastAPI's ServerErrorMiddleware, which would answer 500 and then re-raise (the
    # server then drops the connection): anything else a handler raises is answered here.
    app.add_middleware(ErrorGuard)
    app.add_middleware(PageHeaders)     # outside the guard: error pages are pages too

    app.router.routes.append(Route("/openapi.json", openapi_document, methods=["GET"]))
    app.router.routes.extend(feature_routes)
    app.router.routes.extend(product_routes)
    app.router.routes.extend(arcgis_routes)
    app.router.routes.extend(Route(path, generate_token, methods=["GET", "POST"])
                             for path in ("/arcgis/tokens/generateToken", "/arcgis/tokens", "/arcgis/tokens/"))
    app.router.routes.append(Route("/arcgis/admin/generateToken", admin_generate_token, methods=["GET", "POST"]))
    app.router.routes.extend(page_routes)
    app.router.routes.extend(console_routes)
    app.router.routes.extend(ogc_routes)
    app.router.routes.extend(admin_service_routes)
    app.router.routes.extend(admin_operation_routes)
    return app


def asgi_app(settings: Settings) -> Any:
    """What ``opengp serve`` runs: the app behind the job status fast path, which
    sits outside FastAPI's middleware stack so polls skip all of it (and, in scale-out
    mode, behind ``FreshServices``); the body-size limit and the error guard around all."""
    app = create_app(settings)
    fast = JobStatusFastPath(app, next=OgcFastPath(app))
    inner = FreshServices(fast, app) if settings.broker_url is not None else fast
    # the guard again outside: the fast paths answer before FastAPI's middleware
    return ErrorGuard(BodyLimit(inner, settings))


class FreshServices:
    """Scale-out mode: a request that depends on services' settings first picks up the
    changes other API servers made (``ServiceManager.refresh``: one small query of the
    services table when nothing changed).  A load balancer may send a client's next
    request after ``createService``, ``edit``, ``stop`` or ``delete`` to another server;
    without this, that server would answer from its old settings until its 2 s refresh
    (a new service "not found", jobs of a stopped service accepted, jobs submitted right
    after an edit run with the old maxUsageTime).  Job reads (``/jobs/``) skip it unless
    their service is not published here (yet): polls stay one query."""

    _SERVICE = re.compile(r"/rest/services/(.+?)/(?:GPServer|TopographicProductionServer)(?:/|$)")

    def __init__(self, inner: Any, app: FastAPI) -> None:
        self.inner, self.app = inner, app

    def _wanted(self, path: str) -> bool:
        if "/services" not in path and not path.startswith("/ogcapi/processes"):
            return False
        if "/jobs/" not in path:
            return True
        match = self._SERVICE.search(path)
        jobs = getattr(self.app.state, "jobs", None)
        return match is not None and jobs is not None and match.group(1) not in jobs.registry.services

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._wanted(scope.get("path", "")):
            services = getattr(self.app.state, "services", None)
            if services is not None:
                await services.catch_up()       # never raises: the request goes on
        await self.inner(scope, receive, send)
