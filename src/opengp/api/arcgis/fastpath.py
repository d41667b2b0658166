"""The REST face's hot requests, dispatched before the framework.

Clients poll job status far more than anything else (``arcgis`` once a second per job,
scripts often faster), then fetch each result once; and every job starts with a
``submitJob``.  These requests go straight to the very handler the routes table names
(``routes.services``: the same parsing, authentication, errors and rendering; only the way
there differs), skipping FastAPI's middleware stack and the walk over every route of every
face, which cost more than the handler itself.  An error the handler raises goes to the
``ErrorGuard`` that ``api/app.asgi_app`` puts around this, which answers it as the app's own
exception handler would (``api/errors.error_answer``); the body-size limit is the
``BodyLimit`` middleware around it too.

The most frequent of all, an anonymous JSON status read (no query string but ``f=json``, no
token, no cookie) of a public service's job anyone with its id may see, is answered here
outright, as the OGC fast path does its plain case: one indexed read, the handler's own
``dialect.job_json``, one orjson dump, raw ASGI send.  So is the same plain read of one small
result of a job that succeeded (the handler's own ``values.param_value``: a finished job's
results never change).  With nothing to parse there is nothing to parse differently; anything
else about them (unknown job, another task, an owner, a large or missing result) is the
handler's, which owns the errors.

Pages are not hot: a request for HTML (``f=html`` in the query string, or a browser's
``Accept: text/html``) goes on to the app, whose ``PageHeaders`` middleware marks them.  A
submit's body may still ask for a page (``f=html`` in a form), so what a submit answers
passes through ``PageHeaders`` here too.

Everything else goes on to ``next`` (the OGC face's fast path, then the app).
"""
from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from ...core import Status, Stored
from ..auth import has_token
from ..headers import PageHeaders
from ..values import CHUNK, param_value
from .dialect import job_json
from .routes import services

_PREFIX = "/arcgis/rest/services/"
_STATUS_PATH = re.compile(
    r"^/arcgis/rest/services/(?:[^/]+/)?[^/]+/GPServer/(?:[^/]+/)?jobs/[^/]+(?:/results/[^/]+)?/?$")
_PLAIN_QUERIES = (b"", b"f=json")
_PLAIN_READ = re.compile(r"^/arcgis/rest/services/(?P<key>(?:[^/]+/)?[^/]+)/GPServer/(?:(?P<task>[^/]+)/)?"
                         r"jobs/(?P<job_id>[^/]+)(?:/results/(?P<result>[^/]+))?$")
_SUBMIT_PATH = re.compile(r"^/arcgis/rest/services/(?:[^/]+/)?[^/]+/GPServer/[^/]+/submitJob/?$")


class JobStatusFastPath:
    """ASGI: job status and result reads and ``submitJob`` to their handler directly (module
    docstring); the rest to ``next``.  ``app`` is the FastAPI app: its state, and the
    ``request.app`` the handler sees."""

    def __init__(self, app: Any, next: Any = None) -> None:
        self.app = app
        self.next = next if next is not None else app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and hasattr(self.app.state, "jobs"):
            method, path = scope["method"], scope["path"]
            if method == "GET" and _STATUS_PATH.match(path) and not _wants_html(scope):
                body = self._plain_read(scope) if scope["query_string"] in _PLAIN_QUERIES else None
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
                    await send({"type": "http.response.body", "body": body})
                    return
                await self._dispatch(scope, receive, send)
                return
            if method == "POST" and _SUBMIT_PATH.match(path) and not _wants_html(scope):
                await self._dispatch(scope, receive, PageHeaders.marking(send))
                return
        await self.next(scope, receive, send)

    async def _dispatch(self, scope: dict, receive: Any, send: Any) -> None:
        scope = {**scope, "app": self.app, "path_params": {"path": scope["path"][len(_PREFIX):]}}
        response = await services(Request(scope, receive))
        await response(scope, receive, send)

    def _plain_read(self, scope: dict) -> bytes | None:
        """The job JSON, or one small result's, of the plain read (module docstring); None:
        the handler answers."""
        match = _PLAIN_READ.match(scope["path"])
        if match is None or has_token(scope):
            return None
        key, task, job_id, name = match.group("key", "task", "job_id", "result")
        jobs = self.app.state.jobs
        service = jobs.registry.services.get(key)
        if service is None or not service.config.public:
            return None
        try:
            job = jobs.peek(job_id, key)        # a status, for display (as the handler reads it)
        except Exception:       # unknown, or the store failing: the handler answers the error
            return None
        if job.owner is not None or (task is not None and job.task != task):
            return None
        if name is None:
            return orjson.dumps(job_json(job, service))
        result = (job.results or {}).get(name) if job.status is Status.SUCCEEDED else None
        if result is None or isinstance(result["value"], Stored):
            return None
        body = param_value(name, result["dataType"], orjson.dumps(result["value"]))
        return body if len(body) <= CHUNK else None     # a large one: the handler streams it


def _wants_html(scope: dict) -> bool:
    """Might the query string or the Accept header ask for a page?  (Read from the raw request,
    erring towards yes: the app then answers.)"""
    if b"html" in scope["query_string"] or b"%" in scope["query_string"]:     # f=%68tml too
        return True
    for name, value in scope["headers"]:
        if name == b"accept" and b"text/html" in value:
            return True
    return False
