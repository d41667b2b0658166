"""The OGC face's hot requests, dispatched before the framework.

Clients poll a job's status far more than anything else, and every job starts with
an execution request.  These requests go straight to the very handlers the routes
table names (same authentication, errors, content negotiation: only the way there
differs), skipping FastAPI's middleware stack and the walk over every route of
every face, which cost more than the handlers themselves.  The handlers answer every
error as a problem body themselves (``common.route``), so nothing the middleware
would have caught can escape.  Everything else under ``/ogcapi`` goes on to the app.

The most frequent of all, an anonymous JSON status read of a job anyone with its id
may see (no query string, no token, no ``Accept: text/html``), is answered here
outright: one indexed read, the statusInfo the handler would write, one orjson dump,
raw ASGI send.  Anything else about it (unknown or dismissed job, an owner, HTML,
parameters) is the handler's, which owns the errors: both always agree.

``api/app.asgi_app`` puts it behind the REST face's fast path, in front of the app.
"""
from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from ...core import Kind
from ..auth import has_token
from ..headers import PageHeaders
from .common import BASE, face_url, status_info
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
            if scope["method"] == "GET" and not scope["query_string"]:
                body = self._plain_status(scope)
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
                    await send({"type": "http.response.body", "body": body})
                    return
            for method, pattern, handler in _HOT:
                match = pattern.match(scope["path"]) if scope["method"] == method else None
                if match is not None:
                    scope = {**scope, "app": self.app, "path_params": match.groupdict()}
                    response = await handler(Request(scope, receive))
                    await response(scope, receive, PageHeaders.marking(send))     # a page, when asked for one
                    return
        await self.app(scope, receive, send)

    def _plain_status(self, scope: dict) -> bytes | None:
        """The statusInfo of ``GET /ogcapi/jobs/{id}`` when it is the plain case (module
        docstring); None when the handler must answer."""
        match = _HOT[0][1].match(scope["path"])
        if match is None or has_token(scope):
            return None
        for name, value in scope["headers"]:
            if name == b"accept" and b"text/html" in value:
                return None
        try:
            job = self.app.state.jobs.peek(match.group("job_id"))     # a status, for display
        except Exception:       # unknown, or the store failing: the handler answers it as a problem
            return None
        if job is None or job.kind is not Kind.GP or job.owner is not None:
            return None
        return orjson.dumps(status_info(job, face_url(Request({**scope, "app": self.app})),
                                        self.app.state.jobs.registry.show_messages(job.service)))
