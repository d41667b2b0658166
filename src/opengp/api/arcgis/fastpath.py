"""The job status and result GETs, answered before the framework sees the request.

Clients poll job status far more than anything else (``arcgis`` once a
second per job, scripts often faster), then fetch each result once, so these
paths skip routing,
dependency injection and middleware: one indexed read, one orjson dump, raw
ASGI send.  It only answers the success case; anything else (unknown job,
bad service, errors) falls through to the regular route, which owns the
error handling — so both paths always agree.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ...core import Status
from .render import job_json

_STATUS_PATH = re.compile(
    r"^/arcgis/rest/services/(?:(?P<folder>[^/]+)/)?(?P<name>[^/]+)/GPServer/"
    r"(?:(?P<task>[^/]+)/)?jobs/(?P<job_id>[^/]+)(?:/results/(?P<result>[^/]+))?/?$"
)
_HEADERS = [(b"content-type", b"application/json")]


class JobStatusFastPath:
    """ASGI middleware: serve ``GET .../GPServer/[<task>/]jobs/<jobId>[/results/<name>]`` directly."""

    def __init__(self, app: Any) -> None:
        self.app = app      # the FastAPI app: what we do not answer goes there

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _STATUS_PATH.match(scope["path"])
            if match is not None:
                body = self._answer(scope, match)
                if body is not None:
                    await send({"type": "http.response.start", "status": 200,
                                "headers": _HEADERS + [(b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _answer(self, scope: dict, match: re.Match[str]) -> bytes | None:
        jobs = getattr(self.app.state, "jobs", None)
        if jobs is None:
            return None
        folder, name, task, job_id, result = match.group("folder", "name", "task", "job_id", "result")
        key = f"{folder}/{name}" if folder else name
        if key not in jobs.registry.services:
            return None
        try:
            job = jobs.get(job_id, key)
        except Exception:  # NotFound, StoreError...: the regular route answers with the error
            return None
        if task is not None and job.task != task:
            return None
        params = _query(scope["query_string"])
        if params.get("f") == "html":
            return None  # pages are the regular route's business
        option = orjson.OPT_INDENT_2 if params.get("f") == "pjson" else 0
        if result is not None:
            if job.status is not Status.SUCCEEDED or not job.results or result not in job.results:
                return None
            value = job.results[result]
            return orjson.dumps({"paramName": result, "dataType": value["dataType"], "value": value["value"]},
                                option=option)
        return_messages = params.get("returnMessages", "true").strip().lower() not in ("false", "0", "no")
        return orjson.dumps(job_json(job, return_messages=return_messages), option=option)


def _query(raw: bytes) -> dict[str, str]:
    """The query string as a dict; the common plain ``f=json`` needs no unquoting."""
    if not raw:
        return {}
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text))
    return dict(part.partition("=")[::2] for part in text.split("&") if part)
