"""OGC API - Processes (Part 1: Core 1.0) under ``/ogcapi``: one more dialect over
the job service, so a job submitted through either face is the same job.

Errors are RFC 7807 problem bodies with the OGC exception type URIs (``dialect``);
inputs are translated in ``inputs``, ``modes`` decides whether an execution answers
with its results or its job, results are answered in ``results``, the job list is
``joblist``, and the hot requests skip the framework through ``fastpath``.
"""
from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ...auth import Scope
from ...auth.access import may_use, require_see, require_use
from ...core import Job, Kind, NotFound, OpenGPError, ShowMessages, Status
from ..kit.options import job_options
from . import callbacks
from . import processes as P
from .common import BASE, answer, claims_of, face_url, json_response, route, status_info
from .dialect import OGC_STATUS, REL, Problem
from .inputs import Sources, gp_form
from .joblist import MAX_LIMIT, MAX_OFFSET, int_param, job_list
from .modes import RESPOND_ASYNC, preferences, wait_bound
from .results import results_response

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


@route
async def landing(request: Request) -> Response:
    base = face_url(request)
    return answer(request, {"title": "opengp", "description": "OGC API - Processes over opengp's geoprocessing tools.",
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

    return Response(orjson.dumps(document(face_url(request))),
                    media_type="application/vnd.oai.openapi+json;version=3.0")


@route
async def conformance(request: Request) -> Response:
    return answer(request, {"conformsTo": CONFORMANCE}, "Conformance classes")


def _visible(request: Request) -> Any:
    """The caller's claims (a bad token is refused), and the processes they may use."""
    claims = claims_of(request)
    return claims, [(s, t) for s, t in P.all_processes(request.app.state.jobs.registry) if may_use(s.config, claims)]


@route
async def processes(request: Request) -> Response:
    _, visible = _visible(request)
    limit = int_param(request, "limit", 10, 1, MAX_LIMIT)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    base = face_url(request)
    page = visible[offset:offset + limit]
    links = [{"href": f"{base}/processes?limit={limit}&offset={offset}", "rel": "self", "type": "application/json"}]
    if offset + limit < len(visible):
        links.append({"href": f"{base}/processes?limit={limit}&offset={offset + limit}", "rel": "next",
                      "type": "application/json"})
    if offset > 0:
        links.append({"href": f"{base}/processes?limit={limit}&offset={max(0, offset - limit)}", "rel": "prev",
                      "type": "application/json"})
    return answer(request, {"processes": [P.summary(s, t, base) for s, t in page], "links": links}, "Processes")


def _process(request: Request) -> tuple[Any, Any, Any]:
    claims = claims_of(request)
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
    return answer(request, P.description(service, task, face_url(request)), f"Process {task.display_name}")


@route
async def execute(request: Request) -> Response:
    claims, service, task = _process(request)
    body = await _body(request)
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
    settings, jobs = request.app.state.settings, request.app.state.jobs
    subscriber = callbacks.check_subscriber(payload.get("subscriber"), settings.allow_private_urls)
    form = await gp_form(task, payload.get("inputs"), Sources(
        jobs, settings.allow_private_urls, settings.max_request_bytes, settings.max_upload_bytes))
    options = job_options(request, settings, {})
    options["ogc"] = {"response": response_mode, "outputs": outputs}
    if subscriber:                  # delivered through the outbox (callbacks.py)
        options["callbacks"] = callbacks.job_callbacks(subscriber)
    owner = claims.user.name if claims else None
    base = options["base_url"].rstrip("/") + BASE          # face_url(request), already worked out
    prefs = preferences(request.headers)
    job = await jobs.submit(service.key, task.name, form, synchronous=None, owner=owner, options=options)
    bound = wait_bound(prefs, service, settings)
    if bound > 0:
        try:
            job = await jobs.wait(job.id, bound)
        except NotFound:        # dismissed while this request waited for it
            raise Problem(410, "no-such-job", f"Job '{job.id}' was dismissed.") from None
    if not job.status.terminal:         # asked for, or it outlasted its wait: the job, to follow (modes.py)
        headers = {"Location": f"{base}/jobs/{job.id}"}
        if prefs.respond_async:
            headers["Preference-Applied"] = RESPOND_ASYNC
        return json_response(status_info(job, base, service.config.show_messages), 201, headers)
    if job.status is not Status.SUCCEEDED:
        raise _no_results(job, service.config.show_messages)
    return await results_response(request, job, task, base)


async def _body(request: Request) -> bytes:
    """The request body, read straight from ``receive`` (``Request.body`` costs a few
    times more, through an async generator, for the small bodies executions have)."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _job(request: Request) -> tuple[Any, Job]:
    claims = claims_of(request)
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


def _shows(request: Request, job: Job) -> ShowMessages:
    """The message level of the job's service: which of its messages the caller sees."""
    return request.app.state.jobs.registry.show_messages(job.service)


@route
async def job_status(request: Request) -> Response:
    _, job = _job(request)
    return answer(request, status_info(job, face_url(request), _shows(request, job)), f"Job {job.id}")


@route
async def job_results(request: Request) -> Response:
    _, job = _job(request)
    if not job.status.terminal:
        raise Problem(404, "result-not-ready", f"Job '{job.id}' has not finished.")
    if job.status is not Status.SUCCEEDED:
        raise _no_results(job, _shows(request, job))
    service = request.app.state.jobs.registry.services.get(job.service)
    task = service.tools.get(job.task) if service is not None else None
    if task is None:
        raise Problem(404, "no-such-job", f"Job '{job.id}' belongs to a process that is no longer published.")
    return await results_response(request, job, task, face_url(request), request.path_params.get("output"))


def _no_results(job: Job, shows: ShowMessages) -> Problem:
    """Why a finished job has no results, for its results and for a synchronous execution:
    it failed (with the reason its service's message level shows) or it was dismissed."""
    detail = "; ".join(shows.errors(job))
    if job.status is Status.CANCELLED:
        return Problem(404, "no-such-job", f"Job '{job.id}' ended dismissed; it has no results.", detail)
    return Problem(500, "job-results-failed", f"Job '{job.id}' ended {OGC_STATUS[job.status]}; it has no results.",
                   detail)


@route
async def dismiss(request: Request) -> Response:
    """Cancel the job if it still runs, then remove it (its files and results go too)."""
    _, job = _job(request)
    job = await request.app.state.jobs.dismiss(job.id)
    info = status_info(job, face_url(request), _shows(request, job))
    info["status"] = "dismissed"
    info["message"] = "Dismissed."
    info["links"] = []
    return json_response(info)


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

