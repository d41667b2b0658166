"""The HTML face: each GP resource rendered for a person (``f=html``, or a
browser's ``Accept: text/html`` when no ``f`` is given), the live job stream,
and signing in and out.

Pages read the same canonical records as the JSON faces; nothing here
decides anything about jobs.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...auth import Claims, Scope
from ...core import Job, OpenGPError, Status, Stored
from ...tools.gptypes import is_file_type
from ...tools.params import WITHHELD, ToolSpec
from ...tools.registry import Service
from ..arcgis.errors import CODES
from ..arcgis.render import JOB_STATUS
from ..auth import COOKIE, client_ip, require_same_origin

log = logging.getLogger("opengp.auth")
STATIC = "/arcgis/static"
_ENV = Environment(loader=PackageLoader("opengp.api.web", "templates"), autoescape=select_autoescape(),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["urlencode"] = lambda v: quote(str(v), safe="")
_PARAM = re.compile(r"parameter '([^']+)'")
LABELS = {s: JOB_STATUS[s].removeprefix("esriJob") for s in Status}


def wants_html(request: Request, params: dict[str, str]) -> bool:
    f = params.get("f")
    if f:
        return f == "html"
    return "text/html" in request.headers.get("accept", "")


def _common(request: Request, claims: Claims | None, title: str, crumbs: list[tuple[str, str | None]],
            json_url: str | None = None) -> dict[str, Any]:
    return {"title": title, "crumbs": crumbs, "json_url": json_url, "static": STATIC,
            "user": claims.user.name if claims else None,
            "admin": bool(claims and {Scope.SERVICES_ADMIN, Scope.SERVICES_ADMIN_OWN} & claims.scopes),
            "here": str(request.url.path) + ("?" + request.url.query if request.url.query else "")}


def render(template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(template).render(**context), status_code=status_code)


def _service_crumbs(key: str) -> list[tuple[str, str | None]]:
    crumbs: list[tuple[str, str | None]] = [("Services", "/arcgis/rest/services?f=html")]
    if "/" in key:
        folder = key.split("/", 1)[0]
        crumbs.append((folder, f"/arcgis/rest/services/{folder}?f=html"))
    crumbs.append((key.rsplit("/", 1)[-1], f"/arcgis/rest/services/{key}/GPServer?f=html"))
    return crumbs


def folder_page(request: Request, claims: Claims | None, folder: str | None, folders: list[str],
                services: list[Service]) -> HTMLResponse:
    crumbs: list[tuple[str, str | None]] = [("Services", "/arcgis/rest/services?f=html" if folder else None)]
    if folder:
        crumbs.append((folder, None))
    path = "/arcgis/rest/services" + (f"/{folder}" if folder else "")
    ctx = _common(request, claims, f"Folder: {folder}" if folder else "Services", crumbs, f"{path}?f=pjson")
    return render("folder.html", {**ctx, "folders": folders, "services": services})


def service_page(request: Request, claims: Claims | None, service: Service) -> HTMLResponse:
    crumbs = _service_crumbs(service.key)
    crumbs[-1] = (crumbs[-1][0], None)
    ctx = _common(request, claims, f"{service.key} (GPServer)", crumbs,
                  f"/arcgis/rest/services/{service.key}/GPServer?f=pjson")
    return render("service.html", {**ctx, "service": service})


def task_page(request: Request, claims: Claims | None, service: Service, task: ToolSpec,
              values: dict[str, str] | None = None, error: OpenGPError | None = None) -> HTMLResponse:
    """The task's form; after a refused submission, the values as sent and each error beside its field."""
    errors: dict[str, str] = {}
    others: list[str] = []
    for detail in (error.details if error else []):
        match = _PARAM.search(detail)
        if match and match.group(1) in {p.name for p in task.inputs}:
            errors[match.group(1)] = detail
        else:
            others.append(detail)
    url = f"/arcgis/rest/services/{service.key}/GPServer/{task.name}"
    ctx = _common(request, claims, task.display_name, [*_service_crumbs(service.key), (task.name, None)],
                  f"{url}?f=pjson")
    shown = {k: v for k, v in (values or {}).items() if k != "f"}
    return render("task.html", {**ctx, "service": service, "task": task, "values": shown, "errors": errors,
                                "other_errors": others,
                                "form_error": error.message if error else None},
                  status_code=200)


def error_page(request: Request, exc: OpenGPError) -> Response:
    """An error, for a person: sign in first when a token is needed, else say what went wrong."""
    from ...core import InvalidToken, TokenRequired

    query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]   # never into next=
    here = str(request.url.path) + ("?" + urlencode(query) if query else "")
    if isinstance(exc, (TokenRequired, InvalidToken)):
        response = RedirectResponse(f"/arcgis/login?next={quote(here, safe='')}", status_code=303)
        if isinstance(exc, InvalidToken) and COOKIE in request.cookies:
            response.delete_cookie(COOKIE, path="/arcgis")     # expired or revoked: sign in afresh
        return response
    # the HTTP status is the ArcGIS code (413, 429, 503...) where that is an HTTP status
    status = min(500, next((code for cls, code in CODES if isinstance(exc, cls)), 400))
    ctx = _common(request, None, "Not found" if status == 404 else "Cannot do that",
                  [("Services", "/arcgis/rest/services?f=html"), ("Error", None)])
    return render("error.html", {**ctx, "message": exc.message, "details": exc.details}, status_code=status)


def _stamp(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(job: Job) -> str:
    if job.started is None:
        return "not started"
    seconds = (job.finished or time.time()) - job.started
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _result_rows(job: Job, previews: dict[str, Any]) -> list[dict[str, Any]]:
    """What the page shows of each result: a large one (kept apart: store/values.py) only by its
    preview (its first features, or the start of its JSON), its size and a download link."""
    rows = []
    for name, r in (job.results or {}).items() if job.status is Status.SUCCEEDED else ():
        value, features, count, shown, size = r.get("value"), None, 0, None, None
        if isinstance(value, Stored):
            size, count = _size(value.size), value.count or 0
            value = previews.get(name, "")
        file_url = value.get("url") if isinstance(value, dict) and is_file_type(r["dataType"]) else None
        if not (isinstance(file_url, str) and file_url.startswith(("http://", "https://", "/"))
                and not file_url.startswith("//")):
            file_url = None         # never a javascript: (or other) link on the page
        if r["dataType"] == "GPFeatureRecordSetLayer" and isinstance(value, dict):
            shown = len(value.get("features") or [])
            count = count or shown
            features = orjson.dumps(value).decode()
        text = None if features or file_url else _pretty(value) + ("…" if size else "")
        rows.append({"name": name, "dataType": r["dataType"], "file_url": file_url, "features": features,
                     "count": count, "shown": shown, "size": size, "text": text})
    return rows


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def job_state(job: Job, after: int = 0) -> dict[str, Any]:
    """What a live job page needs, with the messages after the first ``after``."""
    return {"status": job.status.value, "label": LABELS[job.status], "percent": job.progress.percent,
            "stage": job.progress.stage or job.progress.message, "duration": _duration(job),
            "terminal": job.status.terminal, "cancellable": not job.status.terminal and job.status is not
            Status.CANCELLING, "count": len(job.messages),
            "messages": [{"time": _stamp(m.time), "level": m.level.value, "text": m.text}
                         for m in job.messages[after:]]}


def job_page(request: Request, claims: Claims | None, service: Service, job: Job,
             previews: dict[str, Any]) -> HTMLResponse:
    """``previews``: of the large results (``JobService.previews``)."""
    task_url = f"/arcgis/rest/services/{service.key}/GPServer/{job.task}"
    job_url = f"{task_url}/jobs/{job.id}"
    ctx = _common(request, claims, f"Job {job.id}",
                  [*_service_crumbs(service.key), (job.task, f"{task_url}?f=html"), (job.id, None)],
                  f"{job_url}?f=pjson")
    state = job_state(job)
    return render("job.html", {
        **ctx, "job": job, "status_label": state["label"], "percent": state["percent"], "stage": state["stage"],
        "duration": state["duration"], "created": _stamp(job.created), "cancellable": state["cancellable"],
        "messages": state["messages"], "results": _result_rows(job, previews), "task_url": task_url,
        "job_url": job_url, "events_url": f"{job_url}/events", "inputs": _input_rows(service, job)})


def _input_rows(service: Service, job: Job) -> list[tuple[str, str, bool]]:
    """(name, what is shown, whether it is a large value shown only by its size and a link)."""
    spec = service.tools.get(job.task)
    withheld = {p.name for p in spec.inputs if p.withheld} if spec is not None else set()
    return [(k, WITHHELD, False) if k in withheld else (k, _size(v.size), True) if isinstance(v, Stored)
            else (k, _pretty(v), False) for k, v in job.inputs.items()]


async def job_events(request: Request, job: Job, params: dict[str, str]) -> Response:
    """Server-sent events: the job's state now and at every change, until it ends.
    ``once=true`` answers one JSON snapshot (the polling fallback)."""
    jobs = request.app.state.jobs
    try:
        after = max(0, int(params.get("after") or 0))
    except ValueError:
        after = 0
    if params.get("once") == "true":
        return Response(orjson.dumps(job_state(job, after)), media_type="application/json")

    async def stream() -> Any:
        sent = after
        yield b"retry: 2000\n\n"
        async for current in jobs.watch(job.id):
            state = job_state(current, sent)
            sent = state["count"]
            yield b"data: " + orjson.dumps(state) + b"\n\n"
            if await request.is_disconnected():
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- signing in and out ------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this server (never //elsewhere or a full URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/arcgis/rest/services?f=html"
    return target


async def login(request: Request) -> Response:
    from ..arcgis.routes import read_params
    from ..arcgis.tokens import issue_token

    params = await read_params(request)
    target = _safe_next(params.get("next"))
    ctx = _common(request, None, "Sign in", [("Services", "/arcgis/rest/services?f=html"), ("Sign in", None)])
    if request.method == "GET":
        return render("login.html", {**ctx, "next": target, "username": "", "error": None})
    try:
        require_same_origin(request)        # no signing someone in from another page
        token = await issue_token(request, {"username": params.get("username", ""),
                                            "password": params.get("password", ""), "client": "requestip"})
    except OpenGPError as exc:
        message = " ".join([exc.message, *exc.details]) if exc.details else exc.message
        return render("login.html", {**ctx, "next": target, "username": params.get("username", ""),
                                     "error": message}, status_code=200)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token["token"], max_age=max(1, int(token["expires"] / 1000 - time.time())),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/arcgis")
    return response


async def logout(request: Request) -> Response:
    """Sign out: the cookie's token is revoked in the store (every API server of a deployment
    refuses it within ``auth.tokens.CACHE_SECONDS``), not only forgotten by this browser, so a
    copy of it (a shared machine, a proxy log) is worth nothing from now on."""
    require_same_origin(request)        # no signing someone out from another page
    token = request.cookies.get(COOKIE)
    if token:
        name = await asyncio.to_thread(request.app.state.auth.revoke_signed, token)
        if name is not None:
            log.info("%s signed out from %s; the token is revoked", name, client_ip(request))
    response = RedirectResponse("/arcgis/rest/services?f=html", status_code=303)
    response.delete_cookie(COOKIE, path="/arcgis")
    return response


def safe_next(target: str | None) -> str:
    return _safe_next(target)


routes = [
    Route("/arcgis/login", login, methods=["GET", "POST"]),
    Route("/arcgis/logout", logout, methods=["POST"]),
    Mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
]
