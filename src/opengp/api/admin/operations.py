"""``/arcgis/admin/jobs``: admin operations run as jobs (also at ArcGIS's older
``/arcgis/admin/system/jobs``, which the ``arcgis`` package polls).

Administrators see every admin job; publishers see their own.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...core import Conflict, InvalidInput, Kind, NotFound, Status, StoreError
from ...store import JobQuery
from ..auth import admin_caller, is_administrator
from ..kit.html import admin_error_answer
from ..kit.params import read_params
from .common import admin_respond
from .dialect import ADMIN_STATUS, BY_ADMIN_STATUS, admin_job_json
from .jobs import MAX_PAGE, whole_number

async def admin_jobs_route(request: Request) -> Response:
    params = await read_params(request)
    try:
        claims = admin_caller(request, params)
        rest = [p for p in request.path_params.get("path", "").split("/") if p]
        if not rest:
            return admin_respond(request, await _list(request, claims, params), params, "Admin jobs")
        job_id = rest[0]
        try:
            job = request.app.state.jobs.find(job_id)
        except StoreError:      # the record cannot be read right now: say so, in the dialect
            if len(rest) == 1:
                return admin_respond(request, {"jobid": job_id, "status": "UNAVAILABLE"}, params, "Admin job")
            raise
        if job is None or job.kind is not Kind.ADMIN or not (is_administrator(claims) or job.owner == claims.user.name):
            raise NotFound(f"Job '{job_id}' does not exist.")
        if len(rest) == 1:
            return admin_respond(request, admin_job_json(request, job), params, f"Admin job {job.id}")
        if rest[1:] == ["cancel"]:
            if request.method != "POST":
                raise InvalidInput("'cancel' changes the job: send it as a POST.")
            if job.status.terminal:         # nothing to do, for any job; this dialect says so as an error
                raise Conflict(f"Job '{job.id}' has already ended ({job.status.value}).")
            job = await request.app.state.services.ops.cancel(job.id)
            if job.status.terminal and not job.cancel_requested:       # it ended on its own meanwhile
                raise Conflict(f"Job '{job.id}' has already ended ({job.status.value}).")
            return admin_respond(request, {"status": "success", "jobid": job.id,
                                           "jobStatus": ADMIN_STATUS[job.status]}, params, "Cancel")
        raise NotFound(f"Resource '{'/'.join(rest)}' not found.")
    except Exception as exc:
        return admin_error_answer(request, exc, params)


async def _list(request: Request, claims: Any, params: dict[str, str]) -> dict[str, Any]:
    statuses: set[Status] = set()
    for name in filter(None, (s.strip().upper() for s in (params.get("status") or "").split(","))):
        if name not in BY_ADMIN_STATUS:
            raise InvalidInput("Unable to list jobs.", [
                f"Unknown status {name!r}; use {', '.join(sorted(BY_ADMIN_STATUS))}."])
        statuses |= BY_ADMIN_STATUS[name]
    resource = (params.get("resource") or "").strip().removesuffix(".GPServer") or None
    owner = (params.get("username") or params.get("userName") or "").strip() or None
    if not is_administrator(claims):
        if owner not in (None, claims.user.name):
            raise InvalidInput("Unable to list jobs.", ["Publishers can list only their own admin jobs."])
        owner = claims.user.name
    number = whole_number(params, "number", 10, 1, MAX_PAGE)
    start = whole_number(params, "start", 1, 1, 2**31 - 1)
    total, page = await request.app.state.jobs.query_async(JobQuery(
        kind=Kind.ADMIN.value, service=resource, task=(params.get("operation") or "").strip() or None,
        statuses=frozenset(statuses) or None, owner=owner, offset=start - 1, limit=number))
    return {"total": total, "num": len(page), "start": start,
            "nextStart": start + len(page) if start - 1 + len(page) < total else -1,
            "jobs": [admin_job_json(request, job) for job in page]}


routes = [
    Route(prefix + suffix, admin_jobs_route, methods=["GET", "POST"])
    for prefix in ("/arcgis/admin/jobs", "/arcgis/admin/system/jobs")
    for suffix in ("", "/{path:path}")
]
