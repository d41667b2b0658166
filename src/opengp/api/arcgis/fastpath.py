"""The hot paths, answered before the framework sees the request.

Clients poll job status far more than anything else (``arcgis`` once a
second per job, scripts often faster), then fetch each result once; and
every job starts with a small form-encoded ``submitJob``.  These paths skip
routing,
dependency injection and middleware: one indexed read, one orjson dump, raw
ASGI send.  It only answers the success case; anything else (unknown job,
bad service, errors) falls through to the regular route, which owns the
error handling — so both paths always agree.  ``submitJob`` cannot fall
through once it has read the body, so it answers its own errors with the
same ArcGIS error body the app's handlers write.
"""
from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse

from ...core import OpenGPError, Status, Stored
from ...auth.access import require_use
from ..auth import caller, has_token
from ..ogc.fastpath import OgcFastPath
from .errors import error_response
from .render import JOB_STATUS, job_json, return_messages
from .routes import form_fields, job_options

_STATUS_PATH = re.compile(
    r"^/arcgis/rest/services/(?:(?P<folder>[^/]+)/)?(?P<name>[^/]+)/GPServer/"
    r"(?:(?P<task>[^/]+)/)?jobs/(?P<job_id>[^/]+)(?:/results/(?P<result>[^/]+))?/?$"
)
_SUBMIT_PATH = re.compile(
    r"^/arcgis/rest/services/(?:(?P<folder>[^/]+)/)?(?P<name>[^/]+)/GPServer/(?P<task>[^/]+)/submitJob/?$"
)
_FORM = b"application/x-www-form-urlencoded"
_HEADERS = [(b"content-type", b"application/json")]
log = logging.getLogger("opengp.api")


class JobStatusFastPath:
    """ASGI middleware: serve ``GET .../GPServer/[<task>/]jobs/<jobId>[/results/<name>]`` directly."""

    def __init__(self, app: Any) -> None:
        self.app = app      # the FastAPI app: what we do not answer goes there
        self.ogc = OgcFastPath(app)     # the OGC face's own hot requests

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/ogcapi/"):
            await self.ogc(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "GET" and not has_token(scope):
            match = _STATUS_PATH.match(scope["path"])
            if match is not None:
                body = self._answer(scope, match)
                if body is not None:
                    await _send_json(send, body)
                    return
        elif scope["type"] == "http" and scope["method"] == "POST":
            match = _SUBMIT_PATH.match(scope["path"])
            if match is not None and self._small_form(scope) and b"f=html" not in scope["query_string"]:
                await self._submit(scope, receive, send, match)
                return
        await self.app(scope, receive, send)

    # -- submitJob ----------------------------------------------------------
    def _small_form(self, scope: dict) -> bool:
        """A form-encoded body with a declared length within the limit (the rest: regular route)."""
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        settings = self.app.state.settings
        return (headers.get(b"content-type", b"").split(b";")[0].strip() == _FORM and length.isdigit()
                and int(length) <= settings.max_request_bytes and hasattr(self.app.state, "jobs"))

    async def _submit(self, scope: dict, receive: Any, send: Any, match: re.Match[str]) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        params = _query(scope["query_string"])
        pretty = params.get("f") == "pjson"
        try:
            params.update(form_fields(b"".join(chunks)))
            folder, name, task = match.group("folder", "name", "task")
            request = Request(scope)
            anonymous = "token" not in params and not has_token(scope)
            claims = None if anonymous else caller(request, params, self.app.state.auth)
            jobs = self.app.state.jobs
            key = f"{folder}/{name}" if folder else name
            if key in jobs.registry.services:
                require_use(jobs.registry.services[key].config, claims)
            options = job_options(request, self.app.state.settings, params)
            job = await jobs.submit(key, task, params, synchronous=False,
                                    owner=claims.user.name if claims else None, options=options)
        except OpenGPError as exc:
            await error_response(exc, pretty)(scope, receive, send)
            return
        except Exception as exc:  # never a stack trace to the client
            log.exception("unhandled error on POST %s", scope["path"])
            await error_response(exc, pretty)(scope, receive, send)
            return
        if params.get("f") == "html":
            path = scope["path"].rstrip("/").rsplit("/", 1)[0]
            await RedirectResponse(f"{path}/jobs/{job.id}", status_code=303)(scope, receive, send)
            return
        option = orjson.OPT_INDENT_2 if pretty else 0
        await _send_json(send, orjson.dumps({"jobId": job.id, "jobStatus": JOB_STATUS[job.status]}, option=option))

    def _answer(self, scope: dict, match: re.Match[str]) -> bytes | None:
        jobs = getattr(self.app.state, "jobs", None)
        if jobs is None:
            return None
        folder, name, task, job_id, result = match.group("folder", "name", "task", "job_id", "result")
        key = f"{folder}/{name}" if folder else name
        service = jobs.registry.services.get(key)
        if service is None or not service.config.public:
            return None     # secured services: the regular route checks who is asking
        try:   # a status poll: peek (an unfinished job's results are refused below, so the route reads afresh)
            job = jobs.peek(job_id, key)
        except Exception:  # NotFound, StoreError...: the regular route answers with the error
            return None
        if (task is not None and job.task != task) or job.owner is not None:
            return None
        params = _query(scope["query_string"])
        if "token" in params:
            return None     # spelled in a way has_token missed (%74oken=...): the route verifies it
        if params.get("f") == "html" or ("f" not in params and any(
                name == b"accept" and b"text/html" in value for name, value in scope["headers"])):
            return None  # pages are the regular route's business
        option = orjson.OPT_INDENT_2 if params.get("f") == "pjson" else 0
        if result is not None:
            if params.get("env:outSR"):
                return None  # reprojecting a stored result is the regular route's business
            if job.status is not Status.SUCCEEDED or not job.results or result not in job.results:
                return None
            value = job.results[result]
            if isinstance(value["value"], Stored):
                return None     # a large value: the route streams it, read off the event loop
            return orjson.dumps({"paramName": result, "dataType": value["dataType"], "value": value["value"]},
                                option=option)
        return orjson.dumps(job_json(job, return_messages=return_messages(params)), option=option)


async def _send_json(send: Any, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": _HEADERS + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _query(raw: bytes) -> dict[str, str]:
    """The query string as a dict; the common plain ``f=json`` needs no unquoting."""
    if not raw:
        return {}
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text))
    return dict(part.partition("=")[::2] for part in text.split("&") if part)
