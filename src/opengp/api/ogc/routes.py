"""OGC API - Processes (Part 1: Core 1.0) under ``/ogcapi``: one more dialect over
the job service, so a job submitted through either face is the same job.

Errors are RFC 7807 problem bodies with the OGC exception type URIs.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

import orjson
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...auth import Scope
from ...auth.access import may_use, require_see, require_use
from ...core import Job, Kind, NotFound, OpenGPError, Status
from ...store import JobQuery
from ..arcgis.errors import CODES
from ..arcgis.routes import job_options
from ..auth import caller
from . import callbacks
from . import processes as P

log = logging.getLogger("opengp.ogc")
BASE = "/ogcapi"
EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/callback",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
]
OGC_STATUS = {
    Status.NEW: "accepted", Status.SUBMITTED: "accepted", Status.WAITING: "accepted",
    Status.EXECUTING: "running", Status.CANCELLING: "running", Status.SUCCEEDED: "successful",
    Status.FAILED: "failed", Status.TIMED_OUT: "failed", Status.CANCELLED: "dismissed",
}
MAX_LIMIT = 10_000


class Problem(Exception):
    def __init__(self, status: int, kind: str, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _answer(request: Request, data: Any, title: str) -> Response:
    """JSON, or for ``f=html`` / a browser's ``Accept: text/html`` the same as a page
    (every link an ``<a>``).  No Accept, or ``*/*``, is JSON."""
    f = request.query_params.get("f")
    html = f == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
    if html:
        from ..admin.common import page

        return HTMLResponse(page(title, data))
    return _json(data)


def _problem(exc: Exception, instance: str) -> Response:
    if isinstance(exc, Problem):
        status, kind, title, detail = exc.status, exc.kind, exc.title, exc.detail
    elif isinstance(exc, OpenGPError):
        code = next(c for cls, c in CODES if isinstance(exc, cls))
        status = {499: 401, 498: 401}.get(code, code if 400 <= code < 600 else 500)
        kind = {400: "invalid-parameter-value", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                413: "payload-too-large", 429: "too-many-requests", 503: "unavailable"}.get(status, "server-error")
        title, detail = exc.message, " ".join(exc.details)
    else:
        status, kind, title, detail = 500, "server-error", "An unexpected error occurred; see the server log.", ""
    body = {"type": EXC + kind if "/" not in kind else kind, "title": title, "status": status,
            "detail": detail, "instance": instance}
    headers = {"WWW-Authenticate": 'Bearer realm="opengp"'} if status == 401 else None
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json", headers=headers)


def _base(request: Request) -> str:
    settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/") + BASE


def _rfc3339(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def _pid(job: Job) -> str:
    return f"{job.service.replace('/', '.')}.{job.task}"


def status_info(job: Job, base: str) -> dict[str, Any]:
    """A job in the OGC dialect (statusInfo); unknown times are left out, never null."""
    out: dict[str, Any] = {"jobID": job.id, "processID": _pid(job), "type": "process",
                           "status": OGC_STATUS[job.status]}
    message = job.error or (job.progress.message or job.progress.stage) or (
        job.messages[-1].text if job.messages else None)
    if message:
        out["message"] = message
    for name, t in (("created", job.created), ("started", job.started), ("finished", job.finished),
                    ("updated", job.updated)):
        if t is not None:
            out[name] = _rfc3339(t)
    percent = 100 if job.status is Status.SUCCEEDED else job.progress.percent
    if percent is not None:
        out["progress"] = max(0, min(100, int(percent)))
    links = [{"href": f"{base}/jobs/{job.id}", "rel": "self", "type": "application/json", "title": "Status"}]
    if job.status is Status.SUCCEEDED:
        links.append({"href": f"{base}/jobs/{job.id}/results", "rel": REL + "results",
                      "type": "application/json", "title": "Results"})
    out["links"] = links
    return out


def route(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            if not isinstance(exc, (Problem, OpenGPError)):
                log.exception("unhandled error on %s", request.url.path)
            return _problem(exc, request.url.path)
    return wrapped


@route
async def landing(request: Request) -> Response:
    base = _base(request)
    return _answer(request, {"title": "opengp", "description": "OGC API - Processes over opengp's geoprocessing tools.",
                  "links": [
                      {"href": f"{base}", "rel": "self", "type": "application/json", "title": "This document"},
                      {"href": f"{base}/api", "rel": "service-desc",
                       "type": "application/vnd.oai.openapi+json;version=3.0", "title": "The API definition"},
                      {"href": f"{base}/conformance", "rel": REL + "conformance", "type": "application/json",
                       "title": "Conformance classes"},
                      {"href": f"{base}/processes", "rel": REL + "processes", "type": "application/json",
                       "title": "Processes"},
                      {"href": f"{base}/jobs", "rel": REL + "job-list", "type": "application/json",
                       "title": "Jobs"}]}, "OGC API - Processes")


@route
async def api(request: Request) -> Response:
    from .openapi import document

    return Response(orjson.dumps(document(_base(request))),
                    media_type="application/vnd.oai.openapi+json;version=3.0")


@route
async def conformance(request: Request) -> Response:
    return _answer(request, {"conformsTo": CONFORMANCE}, "Conformance classes")


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be a whole number.") from None
    if not low <= value <= high:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be between {low} and {high}.")
    return value


def _visible(request: Request) -> Any:
    """The caller's claims (a bad token is refused), and the processes they may use."""
    claims = caller(request, dict(request.query_params), request.app.state.auth)
    return claims, [(s, t) for s, t in P.all_processes(request.app.state.jobs.registry) if may_use(s.config, claims)]


@route
async def processes(request: Request) -> Response:
    _, visible = _visible(request)
    limit = _int(request, "limit", 10, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0, 0, 2**31 - 1)
    base = _base(request)
    page = visible[offset:offset + limit]
    links = [{"href": f"{base}/processes?limit={limit}&offset={offset}", "rel": "self", "type": "application/json"}]
    if offset + limit < len(visible):
        links.append({"href": f"{base}/processes?limit={limit}&offset={offset + limit}", "rel": "next",
                      "type": "application/json"})
    if offset > 0:
        links.append({"href": f"{base}/processes?limit={limit}&offset={max(0, offset - limit)}", "rel": "prev",
                      "type": "application/json"})
    return _answer(request, {"processes": [P.summary(s, t, base) for s, t in page], "links": links}, "Processes")


def _process(request: Request) -> tuple[Any, Any, Any]:
    claims = caller(request, dict(request.query_params), request.app.state.auth)
    found = P.find(request.app.state.jobs.registry, request.path_params["pid"])
    if found is None:
        raise Problem(404, "no-such-process", f"No process '{request.path_params['pid']}'.")
    service, task = found
    try:
        require_use(service.config, claims)
    except OpenGPError:
        if claims is None:
            raise
        raise Problem(404, "no-such-process", f"No process '{request.path_params['pid']}'.") from None
    return claims, service, task


@route
async def process(request: Request) -> Response:
    _, service, task = _process(request)
    return _answer(request, P.description(service, task, _base(request)), f"Process {task.display_name}")


@route
async def execute(request: Request) -> Response:
    claims, service, task = _process(request)
    body = await request.body()
    try:
        payload = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "invalid-parameter-value", "The request body is not valid JSON.", str(exc)) from None
    if not isinstance(payload, dict):
        raise Problem(400, "invalid-parameter-value", "The execute request must be a JSON object.")
    response_mode = payload.get("response", "raw")
    if response_mode not in ("raw", "document"):
        raise Problem(400, "invalid-parameter-value", "'response' must be 'raw' or 'document'.")
    outputs = payload.get("outputs") or {}
    if not isinstance(outputs, dict) or set(outputs) - {p.name for p in task.outputs}:
        raise Problem(400, "invalid-parameter-value", "'outputs' must name outputs of the process.",
                      f"Outputs: {', '.join(p.name for p in task.outputs)}.")
    form = P.gp_form(task, payload.get("inputs"))
    subscriber = callbacks.check_subscriber(payload.get("subscriber"),
                                            request.app.state.settings.allow_private_urls)
    jobs = request.app.state.jobs
    options = job_options(request, request.app.state.settings, {})
    options["ogc"] = {"response": response_mode, "outputs": outputs}
    owner = claims.user.name if claims else None
    base = _base(request)
    prefer_async = "respond-async" in request.headers.get("prefer", "").lower()
    if not service.synchronous:
        job = await jobs.submit(service.key, task.name, form, synchronous=False, owner=owner, options=options)
        _follow(request, job.id, task, subscriber, base)
        headers = {"Location": f"{base}/jobs/{job.id}"}
        if prefer_async:
            headers["Preference-Applied"] = "respond-async"
        return _json(status_info(job, base), 201, headers)
    job = await jobs.execute(service.key, task.name, form, owner=owner, options=options)
    _follow(request, job.id, task, subscriber, base)
    if job.status is not Status.SUCCEEDED:
        if not job.status.terminal:
            await jobs.cancel(job.id)
            raise Problem(500, "server-error", "The process did not finish in time.")
        detail = "; ".join(m.text for m in job.messages if m.level.value == "error") or job.error or ""
        raise Problem(500, "server-error", "The process failed.", detail)
    return _results_response(request, job, task, base)


def _follow(request: Request, job_id: str, task: Any, uris: dict[str, str] | None, base: str) -> None:
    """Deliver the job's callbacks in the background (kept referenced until done)."""
    if not uris:
        return
    state = request.app.state
    tasks: set[asyncio.Task[None]] | None = getattr(state, "ogc_callbacks", None)
    if tasks is None:
        tasks = state.ogc_callbacks = set()

    t = asyncio.create_task(callbacks.deliver(request.app.state.jobs, job_id, uris,
                                              lambda job: status_info(job, base),
                                              lambda job: _results_document(job, task, base)))
    tasks.add(t)
    t.add_done_callback(tasks.discard)


def _results_document(job: Job, task: Any, base: str) -> dict[str, Any]:
    """The results document of a succeeded job (what successUri receives)."""
    wanted = ((job.options or {}).get("ogc", {}).get("outputs")) or {p.name: {} for p in task.outputs}
    out = {}
    for name in wanted:
        r = (job.results or {}).get(name)
        if r is not None and r.get("value") is not None:
            out[name] = P.ogc_value(r["dataType"], r["value"])
    return out


def _results_response(request: Request, job: Job, task: Any, base: str, only: str | None = None) -> Response:
    """The results as the execute request asked: a document, or raw (one output).
    Outputs without a value are left out (results documents admit no null)."""
    settings = (job.options or {}).get("ogc", {})
    wanted = settings.get("outputs") or {p.name: {} for p in task.outputs}
    if only is not None:
        wanted = {only: {}}
    results = job.results or {}
    values, by_reference = {}, set()
    for name, how in wanted.items():
        r = results.get(name)
        if r is None or r.get("value") is None:
            continue
        if (how or {}).get("transmissionMode") == "reference":
            url = r["value"].get("url") if isinstance(r["value"], dict) and r["value"].get("url") else (
                f"{base}/jobs/{job.id}/results/{name}")
            values[name] = {"href": url}
            by_reference.add(name)
        else:
            values[name] = P.ogc_value(r["dataType"], r["value"])
    if only is None and (settings.get("response") == "document" or len(values) != 1):
        return _json(values)
    if not values:
        raise Problem(404, "no-such-output", f"Job '{job.id}' has no value for that output.")
    (name, value), = values.items()
    if name in by_reference:
        return Response(status_code=204, headers={"Link": f'<{value["href"]}>; rel="{name}"'})
    if isinstance(value, dict) and "href" in value and set(value) <= {"href", "type"}:
        return _file(request, value["href"])          # a file output by value: its content
    if isinstance(value, dict) and "value" in value:
        return Response(orjson.dumps(value["value"]), media_type=value.get("mediaType", "application/json"))
    if isinstance(value, str):
        return Response(value, media_type="text/plain; charset=utf-8")
    return _json(value)


def _file(request: Request, url: str) -> Response:
    """A file a job wrote, by its URL (sandboxed, as the GP face serves it)."""
    from starlette.responses import FileResponse

    from ...runtime.files import JOBS_URL_PATH

    path = url.split(JOBS_URL_PATH + "/", 1)[1] if JOBS_URL_PATH + "/" in url else None
    root = (request.app.state.settings.data_dir / "arcgisjobs").resolve()
    target = (root / path).resolve() if path else None
    if target is None or not target.is_relative_to(root) or not target.is_file():
        raise Problem(404, "no-such-output", "The output file is no longer there.")
    return FileResponse(target, headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})


def _job(request: Request) -> tuple[Any, Job]:
    claims = caller(request, dict(request.query_params), request.app.state.auth)
    job_id = request.path_params["job_id"]
    jobs = request.app.state.jobs
    job = jobs.find(job_id)
    if job is None:
        gone, owner = jobs.was_dismissed(job_id)
        if gone and (owner is None or (claims is not None and (
                claims.user.name == owner or Scope.JOBS_READ_ANY in claims.scopes))):
            raise Problem(410, "no-such-job", f"Job '{job_id}' was dismissed.")
    if job is None or job.kind is not Kind.GP:
        raise Problem(404, "no-such-job", f"No job '{job_id}'.")
    try:
        require_see(job, claims)
    except NotFound:
        raise Problem(404, "no-such-job", f"No job '{job_id}'.") from None
    return claims, job


@route
async def job_status(request: Request) -> Response:
    _, job = _job(request)
    return _answer(request, status_info(job, _base(request)), f"Job {job.id}")


@route
async def job_results(request: Request) -> Response:
    _, job = _job(request)
    if not job.status.terminal:
        raise Problem(404, "result-not-ready", f"Job '{job.id}' has not finished.")
    if job.status is not Status.SUCCEEDED:
        detail = job.error or "; ".join(m.text for m in job.messages if m.level.value == "error")
        raise Problem(500 if job.status is not Status.CANCELLED else 404,
                      "job-results-failed" if job.status is not Status.CANCELLED else "no-such-job",
                      f"Job '{job.id}' ended {OGC_STATUS[job.status]}; it has no results.", detail)
    service = request.app.state.jobs.registry.services.get(job.service)
    task = service.tools.get(job.task) if service is not None else None
    if task is None:
        raise Problem(404, "no-such-job", f"Job '{job.id}' belongs to a process that is no longer published.")
    return _results_response(request, job, task, _base(request), request.path_params.get("output"))


@route
async def dismiss(request: Request) -> Response:
    """Cancel the job if it still runs, then remove it (its files and results go too)."""
    _, job = _job(request)
    job = await request.app.state.jobs.dismiss(job.id)
    info = status_info(job, _base(request))
    info["status"] = "dismissed"
    info["message"] = "Dismissed."
    info["links"] = []
    return _json(info)


def _values(request: Request, name: str) -> list[str]:
    """A list parameter, repeated (``status=a&status=b``) or comma-separated."""
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


def _instant(text: str, name: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be RFC 3339 date-times.",
                      f"Not a date-time: {text!r}.") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _datetime(request: Request) -> tuple[float | None, float | None]:
    """``datetime``: an instant, or an interval ``a/b`` with ``..`` (or nothing) for an open end."""
    raw = (request.query_params.get("datetime") or "").strip()
    if not raw:
        return None, None
    if "/" not in raw:
        t = _instant(raw, "datetime")
        return t - _HALF_US, t + _HALF_US
    start, _, end = raw.partition("/")
    after = None if start in ("", "..") else _instant(start, "datetime") - _HALF_US
    before = None if end in ("", "..") else _instant(end, "datetime") + _HALF_US
    return after, before


_HALF_US = 5e-7     # jobs show times to the microsecond: a bound taken from one includes that job


def _seconds(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be a whole number of seconds.") from None
    if value < 0:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must not be negative.")
    return float(value)


@route
async def job_list(request: Request) -> Response:
    """The job-list class: type, processID, status, datetime, minDuration, maxDuration, limit
    (and offset for the next/prev links), over the same indexed store query as the admin face.
    Callers see their own jobs (anonymous callers: anonymous jobs; ``jobs:read:any``: all)."""
    claims = caller(request, dict(request.query_params), request.app.state.auth)
    limit = _int(request, "limit", 10, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0, 0, 2**31 - 1)
    statuses: set[Status] = set()
    for name in _values(request, "status"):
        matched = {s for s, o in OGC_STATUS.items() if o == name}
        if not matched:
            raise Problem(400, "invalid-query-parameter-value", f"Unknown status '{name}'.",
                          "Use accepted, running, successful, failed or dismissed.")
        statuses |= matched
    min_duration, max_duration = _seconds(request, "minDuration"), _seconds(request, "maxDuration")
    if not statuses and (min_duration is not None or max_duration is not None):
        statuses = {s for s, o in OGC_STATUS.items() if o in ("running", "successful", "failed", "dismissed")}
    types = _values(request, "type")
    registry = request.app.state.jobs.registry
    pids = _values(request, "processID")
    processes = None
    if pids:
        found = [P.find(registry, pid) for pid in pids]
        processes = tuple((s.key, t.name) for s, t in (f for f in found if f is not None))
    if types and "process" not in types:
        processes = ()              # every job here is a process execution: no other type matches
    after, before = _datetime(request)
    anonymous, owner = claims is None, None
    if claims is not None and Scope.JOBS_READ_ANY not in claims.scopes:
        owner = claims.user.name
    q = JobQuery(kind=Kind.GP.value, statuses=frozenset(statuses) or None, owner=owner, anonymous=anonymous,
                 processes=processes, created_after=after, created_before=before,
                 min_duration=min_duration, max_duration=max_duration, offset=offset, limit=limit)
    total, page = await request.app.state.jobs.query_async(q)
    base = _base(request)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "f")]

    def at(start: int) -> str:
        return f"{base}/jobs?" + urlencode(kept + [("offset", str(start))])

    links = [{"href": at(offset), "rel": "self", "type": "application/json", "title": "This page"},
             {"href": at(offset) + "&f=html", "rel": "alternate", "type": "text/html", "title": "As HTML"}]
    if offset + len(page) < total:
        links.append({"href": at(offset + limit), "rel": "next", "type": "application/json", "title": "Older"})
    if offset > 0:
        links.append({"href": at(max(0, offset - limit)), "rel": "prev", "type": "application/json",
                      "title": "Newer"})
    return _answer(request, {"jobs": [status_info(j, base) for j in page], "links": links}, "Jobs")


routes = [
    Route(BASE, landing, methods=["GET"]),
    Route(BASE + "/", landing, methods=["GET"]),
    Route(BASE + "/conformance", conformance, methods=["GET"]),
    Route(BASE + "/api", api, methods=["GET"]),
    Route(BASE + "/processes", processes, methods=["GET"]),
    Route(BASE + "/processes/{pid}", process, methods=["GET"]),
    Route(BASE + "/processes/{pid}/execution", execute, methods=["POST"]),
    Route(BASE + "/jobs", job_list, methods=["GET"]),
    Route(BASE + "/jobs/{job_id}", job_status, methods=["GET"]),
    Route(BASE + "/jobs/{job_id}", dismiss, methods=["DELETE"]),
    Route(BASE + "/jobs/{job_id}/results", job_results, methods=["GET"]),
    Route(BASE + "/jobs/{job_id}/results/{output}", job_results, methods=["GET"]),   # 1.1; our reference hrefs
]

