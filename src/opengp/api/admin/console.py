"""The admin console (``/arcgis/admin/console``): a service's jobs with the
filters of ``jobs/query``, cancel and delete buttons, and the service
operations with their stages.  Plain HTML forms in the pages' frame
(``kit/html.py``); the actions POST to the admin API itself and come back here."""
from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...auth import Claims
from ...auth.access import may_administer
from ...core import InvalidInput, Kind, OpenGPError
from ...store import JobQuery
from ..auth import admin_caller, is_administrator
from ..kit.esrijob import JOB_STATUS, LABELS
from ..kit.html import duration, error_page, frame, render, stamp
from .dialect import ADMIN_STATUS
from .jobs import query_json

_CSS = {"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled", "EXECUTING": "executing",
        "CANCELLING": "cancelling", "SUBMITTED": "submitted"}


def console_caller(request: Request, params: dict[str, str], back: str | None = None) -> Claims | Response:
    """Who may see the console's pages (administrators, and publishers for their own services),
    or the answer for one who may not: the sign-in page first (then back to ``back``, by
    default the page asked for), else a page saying why not."""
    try:
        return admin_caller(request, params)
    except OpenGPError as exc:
        return error_page(request, exc, back=back)


def administered(request: Request, claims: Claims) -> list[str]:
    """The keys of the services the caller may administer, the console's service choices."""
    return [r.key for r in request.app.state.services.records() if may_administer(r.owner, claims)]


async def console(request: Request) -> Response:
    params = dict(request.query_params)
    claims = console_caller(request, params)
    if isinstance(claims, Response):
        return claims
    jobs = request.app.state.jobs
    keys = administered(request, claims)
    service = params.get("service") or (keys[0] if keys else None)
    ctx = frame(request, claims, "Admin console", [("Services", "/arcgis/rest/services?f=html"),
                                                    ("Admin console", None)])
    q = {"startTime": params.get("startTime", ""), "endTime": params.get("endTime", ""),
         "jobStatus": params.get("jobStatus", ""), "userName": params.get("userName", ""),
         "number": params.get("number") or "20", "start": params.get("start") or "1"}
    page, rows, error = None, [], None
    if service is not None and service not in keys:
        error, service = f"You do not administer a service '{service}'.", None
    if service is not None:
        try:
            page = await query_json(jobs, service, {k: v for k, v in q.items() if v})
        except InvalidInput as exc:
            error = " ".join([exc.message, *exc.details])
    if page is not None:
        for job_id in page["results"]:
            job = jobs.find(job_id)
            if job is None:
                continue
            rows.append({"id": job.id, "task": job.task, "status": job.status.value, "label": LABELS[job.status],
                         "owner": job.owner, "created": stamp(job.created), "duration": duration(job),
                         "terminal": job.status.terminal,
                         "url": f"/arcgis/rest/services/{job.service}/GPServer/{job.task}/jobs/{job.id}"})
    prev_url = next_url = None
    if page is not None:
        keep = {**{k: v for k, v in q.items() if v}, "service": service}
        if page["nextStart"] > 0:
            next_url = "/arcgis/admin/console?" + urlencode({**keep, "start": page["nextStart"]})
        if page["start"] > 1:
            prev_url = "/arcgis/admin/console?" + urlencode(
                {**keep, "start": max(1, page["start"] - int(page["num"] or q["number"]))})
    owner = None if is_administrator(claims) else claims.user.name
    _, admin_jobs = await jobs.query_async(JobQuery(kind=Kind.ADMIN.value, owner=owner, limit=10))
    return render("console.html", {
        **ctx, "services": keys, "service": service, "q": q, "page": page, "rows": rows, "error": error,
        "statuses": list(JOB_STATUS.values()), "prev_url": prev_url, "next_url": next_url,
        "admin_base": f"/arcgis/admin/services/{service}.GPServer" if service else "",
        "admin_jobs": [{"id": a.id, "name": a.task, "resource": a.service, "status": ADMIN_STATUS[a.status],
                        "css": _CSS[ADMIN_STATUS[a.status]], "stages": a.progress.stages, "owner": a.owner,
                        "started": stamp(a.started or a.created)} for a in admin_jobs]})


routes = [Route("/arcgis/admin/console", console, methods=["GET"])]
