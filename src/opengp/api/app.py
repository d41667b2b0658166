"""The FastAPI application: the HTTP faces over one API server's parts (built by
jobs/assembly.py), with its background tasks (purging, service refresh, reconciling)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from ..config import Settings
from ..core import OpenGPError
from ..datasets.catalog import Catalog
from ..jobs.assembly import open_api_server
from ..jobs.deliveries import Deliverer
from ..jobs.logs import ServerLog
from ..store.outbox import CALLBACK, WEBHOOK
from ..jobs.publishing import ServiceManager
from ..jobs.reconcile import Reconciler
from ..jobs.service import JobService
from .admin.logs import routes as admin_log_routes
from .admin.operations import routes as admin_operation_routes
from .admin.services import routes as admin_service_routes
from .admin.usagereports import routes as usage_report_routes
from .admin.webhooks import WebhookChannel
from .ogc.callbacks import CallbackChannel
from .features.routes import routes as feature_routes
from .ogc.routes import routes as ogc_routes
from .products.routes import routes as product_routes
from .admin.console import routes as console_routes
from .admin.console_webhooks import routes as webhook_page_routes
from .admin.dashboard import routes as dashboard_routes
from .web.pages import routes as page_routes
from . import heavy
from .errors import ErrorGuard, error_answer, http_error
from .headers import PageHeaders
from .limits import BodyLimit
from .envelope import Envelope
from .metrics import MetricsEndpoint
from .arcgis.fastpath import JobStatusFastPath
from .ogc.fastpath import OgcFastPath
from .arcgis.openapi import openapi_document
from .arcgis.routes import routes as arcgis_routes
from .arcgis.sharing import routes as sharing_routes
from .admin.tokens import admin_generate_token
from .arcgis.tokens import generate_token

log = logging.getLogger("opengp")


SERVICE_REFRESH = 2.0       # seconds between checks for service changes made by other servers


async def _purge_forever(jobs: JobService, logs: ServerLog, interval: float) -> None:
    while True:
        try:
            purged = await jobs.purge_expired()
            if purged:
                log.info("purged %d expired jobs", purged)
        except Exception:
            log.exception("purging expired jobs failed")
        try:        # the server log's row cap and age (store/logs.py)
            await logs.trim()
        except Exception:
            log.exception("trimming the server log failed")
        await asyncio.sleep(interval)


async def _reconcile_forever(reconciler: Reconciler, interval: float) -> None:
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
        server = await open_api_server(settings, app.state.datasets)
        app.state.auth, app.state.logins = server.tokens, server.logins
        app.state.jobs, app.state.services = server.jobs, server.services
        app.state.webhooks = server.webhooks
        app.state.logs = server.logs
        app.state.usage_reports, app.state.activity = server.usage_reports, server.activity
        deliverer = Deliverer(server.outbox, {WEBHOOK: WebhookChannel(server.webhooks, settings),
                                              CALLBACK: CallbackChannel(server.jobs)}, settings)
        tasks = [asyncio.create_task(_purge_forever(server.jobs, server.logs, settings.purge_interval)),
                 asyncio.create_task(_refresh_services_forever(server.services)),
                 asyncio.create_task(deliverer.run())]
        if server.reconciler is not None:
            tasks.append(asyncio.create_task(_reconcile_forever(server.reconciler, settings.reconcile_interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            heavy.stop()
            await server.close()

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
    app.router.routes.extend(sharing_routes)
    app.router.routes.extend(Route(path, generate_token, methods=["GET", "POST"])
                             for path in ("/arcgis/tokens/generateToken", "/arcgis/tokens", "/arcgis/tokens/"))
    app.router.routes.append(Route("/arcgis/admin/generateToken", admin_generate_token, methods=["GET", "POST"]))
    app.router.routes.extend(page_routes)
    app.router.routes.extend(console_routes)
    app.router.routes.extend(webhook_page_routes)
    app.router.routes.extend(dashboard_routes)
    app.router.routes.extend(ogc_routes)
    app.router.routes.extend(admin_service_routes)
    app.router.routes.extend(admin_operation_routes)
    app.router.routes.extend(admin_log_routes)
    app.router.routes.extend(usage_report_routes)
    return app


def asgi_app(settings: Settings) -> Any:
    """What ``opengp serve`` runs: the app behind the job status fast path, which
    sits outside FastAPI's middleware stack so polls skip all of it (and, in scale-out
    mode, behind ``FreshServices``); the body-size limit and the error guard around all,
    and outside all the envelope (``envelope.py``: every request's id, which the guard's lines
    carry too, and its count and time in the metrics; ``/metrics`` itself)."""
    app = create_app(settings)
    fast = JobStatusFastPath(app, next=OgcFastPath(app))
    inner = FreshServices(fast, app) if settings.scale_out else fast
    # the guard again outside: the fast paths answer before FastAPI's middleware; the envelope
    # outside it, so every answer is counted and carries its id, and /metrics costs no other layer
    return Envelope(ErrorGuard(BodyLimit(inner, settings)), MetricsEndpoint(app, settings))


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
