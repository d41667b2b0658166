"""The OGC face's hot requests, dispatched before the framework.

Clients poll a job's status far more than anything else, and every job starts with
an execution request.  These requests go straight to the very handlers the routes
table names (same authentication, errors, content negotiation: only the way there
differs), skipping FastAPI's middleware stack and the walk over every route of
every face, which cost more than the handlers themselves.  The handlers answer every
error as a problem body themselves (``common.route``), so nothing the middleware
would have caught can escape.  Everything else under ``/ogcapi`` goes on to the app.

``api.arcgis.fastpath.JobStatusFastPath`` (what ``opengp serve`` runs in front of
the app) hands ``/ogcapi/`` requests to ``OgcFastPath``.
"""
from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from .common import BASE
from .routes import execute, job_results, job_status

_HOT = (
    ("GET", re.compile(f"^{BASE}/jobs/(?P<job_id>[^/]+)$"), job_status),
    ("GET", re.compile(f"^{BASE}/jobs/(?P<job_id>[^/]+)/results$"), job_results),
    ("POST", re.compile(f"^{BASE}/processes/(?P<pid>[^/]+)/execution$"), execute),
)


class OgcFastPath:
    """ASGI: the hot OGC requests to their handlers directly, the rest to ``app``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and hasattr(self.app.state, "jobs"):
            for method, pattern, handler in _HOT:
                match = pattern.match(scope["path"]) if scope["method"] == method else None
                if match is not None:
                    scope = {**scope, "app": self.app, "path_params": match.groupdict()}
                    response = await handler(Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
