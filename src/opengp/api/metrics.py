"""``/metrics`` in Prometheus's text format, and the count and time of every HTTP request.

The outermost ASGI layer (api/envelope.py) calls :func:`request_done` for every request,
whoever answered it (the fast paths, the error guard, FastAPI), and hands ``/metrics`` to
:class:`MetricsEndpoint`.  The work per request is a few prefix and suffix checks
(:func:`route_class`) and two tallies (system/tally.py: added to the metrics once a second,
not written per request).

Who may read ``/metrics`` (settings, docs/operations.md "Metrics"): Prometheus with
``Authorization: Bearer <metrics_token>``, or an administrator's opengp token, on the server's
port; anyone reaching ``metrics_address``, a listener of its own meant for a private network,
which serves nothing else.  Neither set: 403, saying how to enable it.  It is not an ArcGIS
resource: its answers are plain text.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request

from ..config import Settings, listen_address
from ..core import OpenGPError
from ..system.metrics import HTTP_DURATION, HTTP_REQUESTS, exposition, ready_labels
from ..system.tally import TALLY
from .auth import caller, is_administrator

log = logging.getLogger("opengp.metrics")
PATH = "/metrics"
_CODES = {code: str(code) for code in range(100, 600)}     # the code label, made once
_GP, _SERVICES = "/GPServer", "/arcgis/rest/services"
_SUBMITS = ("/submitJob", "/execute", "/submitJob/", "/execute/")
_EVENTS = ("/events", "/events/")
# open for as long as what they follow lasts (a job's server-sent events: its lifetime), so
# their time says nothing of the server's latency: counted, never timed
UNTIMED = frozenset({"gp_events"})
HOW_TO_ENABLE = ("/metrics is not enabled on this port. Set metrics_token (OPENGP_METRICS_TOKEN) and send it "
                 "as 'Authorization: Bearer <token>' (an administrator's token works too), or set "
                 "metrics_address (OPENGP_METRICS_ADDRESS, host:port) to serve /metrics without a token on "
                 "a listener of its own. See docs/operations.md, \"Metrics\".\n")


def route_class(path: str) -> str:
    """A short, bounded name for the resource a path asks for (the ``route`` label): by prefix,
    never the path itself (it holds job ids and service names)."""
    if path.startswith(_SERVICES):
        if _GP in path:
            if "/jobs/" in path:
                if path.endswith(_EVENTS):
                    return "gp_events"
                return "gp_results" if "/results" in path else "gp_job"
            return "gp_submit" if path.endswith(_SUBMITS) else "gp"
        if "/FeatureServer" in path:
            return "features"
        if "/TopographicProductionServer" in path:
            return "products"
        return "uploads" if "/uploads/" in path else "services"
    if path.startswith("/arcgis/rest/"):
        return "services"       # the server's info
    if path.startswith("/ogcapi"):
        if path.startswith("/ogcapi/jobs/"):
            return "ogc_job"
        return "ogc_submit" if path.endswith("/execution") else "ogc"
    if path.startswith("/arcgis/admin"):
        return "admin"
    if path.startswith("/arcgis/static/"):
        return "static"
    if path.startswith(("/arcgis/tokens", "/arcgis/sharing")):
        return "tokens"
    if path == PATH:
        return "metrics"
    if path in ("/", "/arcgis", "/arcgis/", "/arcgis/login", "/arcgis/logout"):
        return "pages"
    return "other"


class JobGauges:
    """Jobs waiting and running per service, read from the store at scrape time (so every API
    server and every process reports the same numbers, whoever runs the jobs): the one count
    the dashboard and a service's statistics read too (``jobs/activity.Activity``)."""

    def __init__(self, activity: Any) -> None:
        self.activity = activity

    def collect(self) -> Any:
        waiting = GaugeMetricFamily("opengp_jobs_waiting", "Jobs queued, not yet running, per service.",
                                    labels=["service"])
        running = GaugeMetricFamily("opengp_jobs_running", "Jobs running (or being cancelled), per service.",
                                    labels=["service"])
        for queue in self.activity.queues_now():
            waiting.add_metric([queue.service], queue.waiting)
            running.add_metric([queue.service], queue.running)
        yield waiting
        yield running


def request_done(route: str, status: int, seconds: float) -> None:
    """One HTTP request answered (api/envelope.py): counted by route class and status, and
    timed unless its class is an open stream."""
    TALLY.count_and_time(HTTP_REQUESTS, (route, _CODES.get(status) or str(status)),
                         None if route in UNTIMED else HTTP_DURATION, (route,), seconds)


class MetricsEndpoint:
    """ASGI: ``/metrics`` on the server's port (a token needed), and everything that reaches
    the private listener of ``metrics_address`` (``/metrics`` alone, no token).
    ``app``: the FastAPI app (its ``state``: the job figures, the token issuer)."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.token = settings.metrics_token.encode() if settings.metrics_token else None
        self.port = listen_address(settings.metrics_address)[1] if settings.metrics_address else None
        ready_labels()

    def private(self, scope: dict) -> bool:
        """Whether the request came in on the private listener."""
        return self.port is not None and bool(scope.get("server")) and scope["server"][1] == self.port

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.private(scope):
            await self._answer(send, *((await self._scrape()) if scope["path"] == PATH else
                                       (404, b"This listener serves only /metrics.\n")))
            return
        refused = self._refused(scope)
        await self._answer(send, *((403, refused.encode()) if refused else await self._scrape()))

    def _refused(self, scope: dict) -> str | None:
        """Why this /metrics request on the server's port is refused; None: it may read."""
        if self.token is None:
            return HOW_TO_ENABLE
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                if hmac.compare_digest(value[7:].strip(), self.token):
                    return None
        try:
            claims = caller(Request(scope), {}, self.app.state.auth)
        except (OpenGPError, AttributeError):    # a bad token; or the server is still starting
            claims = None
        if claims is not None and is_administrator(claims):
            return None
        return ("Send the metrics token as 'Authorization: Bearer <token>' (metrics_token), or an "
                "administrator's token.\n")

    async def _scrape(self) -> tuple[int, bytes]:
        activity = getattr(self.app.state, "activity", None)
        collectors = [JobGauges(activity)] if activity is not None else []
        try:
            return 200, await asyncio.to_thread(exposition, *collectors)
        except Exception:       # the store failing, say: the scrape fails, plainly; never a 500
            log.warning("reading the metrics failed", exc_info=True)
            return 503, b"The metrics could not be read just now (see the server's log).\n"

    @staticmethod
    async def _answer(send: Any, status: int, body: bytes) -> None:
        kind = CONTENT_TYPE_LATEST if status == 200 else "text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", kind.encode()), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

