"""What every OGC handler shares: handlers whose errors are problem answers, JSON-or-HTML
answers, the face's base URL, who is calling, and a job as a statusInfo.  The face's words
(status names, problems) are in ``dialect``."""
from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ...core import Job, Level, OpenGPError, ShowMessages, Status
from ...auth import Claims
from ..auth import caller, has_token
from ..kit.answers import table_page
from ..kit.params import checked_format, wants_html as kit_wants_html
from ..kit.paths import OGC_BASE
from .dialect import OGC_STATUS, REL, Problem, problem_response

log = logging.getLogger("opengp.ogc")
BASE = OGC_BASE


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def wants_html(request: Request) -> bool:
    """``kit.params.wants_html`` of the OGC face's requests, which take no form (and most no
    query string at all: then it is not parsed)."""
    return kit_wants_html(request, request.query_params if request.scope["query_string"] else {})


def answer(request: Request, data: Any, title: str) -> Response:
    """JSON, or the same as a page (every link an ``<a>``) when the caller asks for HTML."""
    if wants_html(request):
        return HTMLResponse(table_page(title, data))
    return json_response(data)


OGC_FORMATS = ("json", "html")


def route(handler: Any) -> Any:
    """A handler whose every error is a problem answer (never a stack trace), and whose ``f``,
    when given, is one the face answers in (``f=kmz`` is a 400, not JSON)."""
    async def wrapped(request: Request) -> Response:
        try:
            if request.scope["query_string"]:
                checked_format(dict(request.query_params), OGC_FORMATS)
            return await handler(request)
        except Exception as exc:
            if not isinstance(exc, (Problem, OpenGPError)):
                log.exception("unhandled error on %s", request.url.path)
            return problem_response(exc, request.url.path)
    wrapped.__name__ = handler.__name__
    return wrapped


_SERVER_URLS: dict[tuple[Any, ...], str] = {}


def claims_of(request: Request) -> Claims | None:
    """The caller's verified claims (None: anonymous; a bad token is refused).  Most
    requests carry no token: that is seen on the raw request, without parsing it."""
    scope = request.scope
    if not has_token(scope) and b"%" not in scope["query_string"]:      # %74oken=...: parse it
        return None
    return caller(request, request.query_params, request.app.state.auth)


def server_url(request: Request) -> str:
    """``public_url``, or Starlette's ``base_url`` of the request, without the trailing
    slash; remembered per scheme, Host header, server address and root path (building
    a URL costs more than the rest of a status read)."""
    public = request.app.state.settings.public_url
    if public:
        return public.rstrip("/")
    scope = request.scope
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
            break
    key = (scope.get("scheme"), host, scope.get("server"), scope.get("app_root_path", scope.get("root_path", "")))
    url = _SERVER_URLS.get(key)
    if url is None:
        url = str(request.base_url).rstrip("/")
        if len(_SERVER_URLS) < 1024:        # a client inventing Host headers cannot grow it forever
            _SERVER_URLS[key] = url
    return url


def face_url(request: Request) -> str:
    """The face's own URL (``.../ogcapi``)."""
    return server_url(request) + BASE


_STAMPS: dict[float, str] = {}      # a job's times, polled over and over, are formatted once


def rfc3339(t: float | None) -> str | None:
    """Epoch seconds as RFC 3339 in UTC, to the microsecond, exactly as
    ``datetime.isoformat`` writes it (with ``Z``).  A statusInfo has four of them and
    clients poll it many times, so they are remembered (a few thousand at most)."""
    if t is None:
        return None
    stamp = _STAMPS.get(t)
    if stamp is None:
        whole = int(t // 1)
        micro = round((t - whole) * 1e6)
        if micro >= 1_000_000:
            whole, micro = whole + 1, micro - 1_000_000
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        stamp = f"{stamp}.{micro:06d}Z" if micro else stamp + "Z"
        if len(_STAMPS) >= 8192:
            _STAMPS.clear()
        _STAMPS[t] = stamp
    return stamp


def job_process_id(job: Job) -> str:
    return f"{job.service.replace('/', '.')}.{job.task}"


def status_info(job: Job, base_url: str, show: ShowMessages) -> dict[str, Any]:
    """A job in the OGC dialect (statusInfo); unknown times are left out, never null.  Its
    ``message`` is one its service's message level ``show`` lets through, or its progress."""
    out: dict[str, Any] = {"jobID": job.id, "processID": job_process_id(job), "type": "process",
                           "status": OGC_STATUS[job.status]}
    shown = show.messages(job)
    message = (job.error if show.allows(Level.ERROR) else None) or (job.progress.message or job.progress.stage) or (
        shown[-1].text if shown else None)
    if message:
        out["message"] = message
    for name, t in (("created", job.created), ("started", job.started), ("finished", job.finished),
                    ("updated", job.updated)):
        if t is not None:
            out[name] = rfc3339(t)
    percent = 100 if job.status is Status.SUCCEEDED else job.progress.percent
    if percent is not None:
        out["progress"] = max(0, min(100, int(percent)))
    links = [{"href": f"{base_url}/jobs/{job.id}", "rel": "self", "type": "application/json", "title": "Status"}]
    if job.status is Status.SUCCEEDED:
        links.append({"href": f"{base_url}/jobs/{job.id}/results", "rel": REL + "results",
                      "type": "application/json", "title": "Results"})
    out["links"] = links
    return out
