"""The REST face's resources for a person (``f=html``, or a browser's ``Accept: text/html``
when no ``f`` is given), as ArcGIS Server's services directory draws them, and the live job
stream a job's page listens to.

Pages read the same canonical records as the JSON answers; nothing here decides anything
about jobs.  The frame and templates are the kit's (``kit/html.py``).
"""
from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from ...auth import Claims
from ...core import Job, OpenGPError, ShowMessages, Status, Stored
from ...tools.gptypes import known_type
from ...tools.params import WITHHELD, ToolSpec
from ...tools.registry import Service
from ..kit.esrijob import LABELS
from ..kit.html import duration, frame, render, stamp
from .dialect import input_names

_PARAM = re.compile(r"parameter '([^']+)'")


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
    ctx = frame(request, claims, f"Folder: {folder}" if folder else "Services", crumbs, f"{path}?f=pjson")
    return render("folder.html", {**ctx, "folders": folders, "services": services})


def service_page(request: Request, claims: Claims | None, service: Service) -> HTMLResponse:
    crumbs = _service_crumbs(service.key)
    crumbs[-1] = (crumbs[-1][0], None)
    ctx = frame(request, claims, f"{service.key} (GPServer)", crumbs,
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
    ctx = frame(request, claims, task.display_name, [*_service_crumbs(service.key), (task.name, None)],
                  f"{url}?f=pjson")
    shown = {k: v for k, v in (values or {}).items() if k != "f"}
    return render("task.html", {**ctx, "service": service, "task": task, "values": shown, "errors": errors,
                                "other_errors": others,
                                "form_error": error.message if error else None},
                  status_code=200)


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
        kind = known_type(r["dataType"])
        file_url = value.get("url") if isinstance(value, dict) and kind is not None and kind.is_file else None
        if not (isinstance(file_url, str) and file_url.startswith(("http://", "https://", "/"))
                and not file_url.startswith("//")):
            file_url = None         # never a javascript: (or other) link on the page
        if kind is not None and kind.form == "features" and isinstance(value, dict):
            shown = len(value.get("features") or [])
            count = count or shown
            features = orjson.dumps(value).decode()
        text = None if features or file_url else _pretty(value) + ("…" if size else "")
        rows.append({"name": name, "dataType": r["dataType"], "file_url": file_url, "features": features,
                     "count": count, "shown": shown, "size": size, "text": text})
    return rows


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def job_state(job: Job, show: ShowMessages, after: int = 0) -> dict[str, Any]:
    """What a live job page needs, with the messages its service's level ``show`` lets through
    after the first ``after`` of them."""
    messages = show.messages(job)
    return {"status": job.status.value, "label": LABELS[job.status], "percent": job.progress.percent,
            "stage": job.progress.stage or job.progress.message, "duration": duration(job),
            "terminal": job.status.terminal, "cancellable": not job.status.terminal and job.status is not
            Status.CANCELLING, "count": len(messages),
            "messages": [{"time": stamp(m.time), "level": m.level.value, "text": m.text}
                         for m in messages[after:]]}


def job_page(request: Request, claims: Claims | None, service: Service, job: Job,
             previews: dict[str, Any]) -> HTMLResponse:
    """``previews``: of the large results (``JobService.previews``)."""
    task_url = f"/arcgis/rest/services/{service.key}/GPServer/{job.task}"
    job_url = f"{task_url}/jobs/{job.id}"
    ctx = frame(request, claims, f"Job {job.id}",
                  [*_service_crumbs(service.key), (job.task, f"{task_url}?f=html"), (job.id, None)],
                  f"{job_url}?f=pjson")
    state = job_state(job, service.config.show_messages)
    return render("job.html", {
        **ctx, "job": job, "status_label": state["label"], "percent": state["percent"], "stage": state["stage"],
        "duration": state["duration"], "created": stamp(job.created), "cancellable": state["cancellable"],
        "messages": state["messages"], "results": _result_rows(job, previews), "task_url": task_url,
        "job_url": job_url, "events_url": f"{job_url}/events", "inputs": _input_rows(service, job)})


def _input_rows(service: Service, job: Job) -> list[tuple[str, str, bool]]:
    """(name, what is shown, whether it is a large value shown only by its size and a link) of
    every input, as the job resource lists them: an unset one with the value the job ran with."""
    spec = service.tools.get(job.task)
    params = {p.name: p for p in spec.inputs} if spec is not None else {}
    rows = []
    for name in input_names(job, service):
        p = params.get(name)
        value = job.inputs[name] if name in job.inputs else p.default_json if p is not None else None
        if p is not None and p.withheld:
            rows.append((name, WITHHELD, False))
        elif isinstance(value, Stored):
            rows.append((name, _size(value.size), True))
        else:
            rows.append((name, _pretty(value), False))
    return rows


async def job_events(request: Request, service: Service, job: Job, params: dict[str, str]) -> Response:
    """Server-sent events: the state of ``job`` (of ``service``) now and at every change, until
    it ends.  ``once=true`` answers one JSON snapshot (the polling fallback)."""
    jobs = request.app.state.jobs
    show = service.config.show_messages
    try:
        after = max(0, int(params.get("after") or 0))
    except ValueError:
        after = 0
    if params.get("once") == "true":
        return Response(orjson.dumps(job_state(job, show, after)), media_type="application/json")

    async def stream() -> Any:
        sent = after
        yield b"retry: 2000\n\n"
        async for current in jobs.watch(job.id):
            state = job_state(current, show, sent)
            sent = state["count"]
            yield b"data: " + orjson.dumps(state) + b"\n\n"
            if await request.is_disconnected():
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
