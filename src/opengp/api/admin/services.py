"""``/arcgis/admin/services``: list, read, create, edit, start, stop and delete
GP services, their ``statistics``, and (under ``<Svc>.GPServer/jobs``) their jobs.

Every operation that changes a service runs as an admin job; with
``runAsync=true`` the answer is the job id at once, otherwise the request
waits for the job and answers as ArcGIS does.
"""
from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...core import InvalidInput, NotFound
from ...jobs.activity import ServiceStatistics
from ...jobs.operations import Operation
from ...jobs.publishing import ServiceManager
from ..auth import admin_caller, is_administrator
from ..kit.answers import CURRENT_VERSION
from ..kit.html import admin_error_answer
from ..kit.params import read_params, wants_html
from ..kit.paths import ADMIN_BASE
from . import jobs as service_jobs, webhooks
from .common import as_admin_form_answer, admin_respond, require_administer
from .dialect import admin_job_json, epoch_ms, operation_answer

_SERVICE = re.compile(r"^(?P<key>[^/]+(?:/[^/]+)?)\.GPServer(?:/(?P<rest>.*))?$")
_OPERATIONS = {"edit", "start", "stop", "delete"}


async def services_route(request: Request) -> Response:
    params = await read_params(request)
    try:
        claims = admin_caller(request, params)
        path = request.path_params.get("path", "").strip("/")
        manager: ServiceManager = request.app.state.services
        match = _SERVICE.match(path)
        if match is None:
            return await _folder_level(request, manager, path, params, claims)
        key, rest = match.group("key"), [p for p in (match.group("rest") or "").split("/") if p]
        record = manager.record(key)
        require_administer(record.owner, claims)
        who = claims.user.name
        if not rest:
            return admin_respond(request, manager.describe(key), params, f"{key} (GPServer)")
        if rest[0] == "jobs":
            data = await service_jobs.dispatch(request, request.app.state.jobs, key, rest[1:], params)
            back = as_admin_form_answer(params) if request.method == "POST" else None
            return back or admin_respond(request, data, params, f"{key} jobs")
        if rest[0] == "webhooks":
            data = await webhooks.dispatch(request, key, rest[1:], params, who)
            return admin_respond(request, data, params, f"{key} webhooks")
        if rest == ["statistics"]:
            stats = await request.app.state.activity.statistics(key)
            return admin_respond(request, statistics_json(stats), params, f"{key} statistics")
        if rest == ["status"]:
            described = manager.describe(key)
            return admin_respond(request, {"configuredState": described["configuredState"],
                                           "realTimeState": described["realTimeState"]}, params, f"{key} status")
        if len(rest) == 1 and rest[0] in _OPERATIONS:
            _post_only(request, rest[0])
            uri = f"/arcgis/admin/services/{key}.GPServer/{rest[0]}"
            if rest[0] == "edit":
                op = manager.edit(key, _service_payload(params), who, uri)
            else:
                op = getattr(manager, rest[0])(key, who, uri)
            return await _run(request, manager, op, params)
        raise NotFound(f"Resource '{path}' not found.")
    except Exception as exc:   # every failure in the admin error shape
        return admin_error_answer(request, exc, params)


async def _folder_level(request: Request, manager: ServiceManager, path: str, params: dict[str, str],
                        claims: Any) -> Response:
    """``services``, ``services/<folder>`` and ``[<folder>/]createService``."""
    parts = [p for p in path.split("/") if p]
    if parts == ["exists"]:
        return admin_respond(request, {"exists": _exists(manager, claims, params)}, params, "Exists")
    if parts and parts[-1] == "createService" and len(parts) <= 2:
        _post_only(request, "createService")
        folder = parts[0] if len(parts) == 2 else None
        who = claims.user.name
        uri = f"/arcgis/admin/services/{folder + '/' if folder else ''}createService"
        op = manager.create(_service_payload(params), folder, who, uri)
        return await _run(request, manager, op, params)
    if len(parts) > 1:
        raise NotFound(f"Resource '{path}' not found.")
    folder = parts[0] if parts else None
    records = [r for r in manager.records() if is_administrator(claims) or r.owner == claims.user.name]
    folders = sorted({r.config.folder for r in records if r.config.folder})
    if folder is not None and folder not in folders:
        raise NotFound(f"Folder '{folder}' does not exist.")
    listed = [r for r in records if r.config.folder == folder]
    data = {
        "folderName": folder or "/", "description": "Root folder" if folder is None else "",
        "folders": folders if folder is None else [],
        "services": [{"folderName": folder or "/", "serviceName": r.config.name, "type": "GPServer",
                      "description": _description(manager, r), "configuredState": r.state,
                      "owner": r.owner} for r in listed],
    }
    return admin_respond(request, data, params, f"Services{' in ' + folder if folder else ''}")


def statistics_json(stats: ServiceStatistics) -> dict[str, Any]:
    """ArcGIS's service ``statistics`` (its ``summary``), with what the job store can honestly say:
    ``busy`` (jobs running), ``max`` (the service's instances), ``transactions`` and
    ``totalBusyTime`` (ms) over the jobs that ended since ``startTime``, and opengp's ``waiting``
    (jobs queued).  ArcGIS's ``free``, ``initializing`` and ``notCreated`` count warm service
    instances, which opengp's shared worker pool does not have per service: left out, as is
    ``max`` when it is not known here; ``perMachine`` is not kept."""
    folder, _, name = stats.service.rpartition("/")
    summary: dict[str, Any] = {"folderName": folder or "/", "serviceName": name, "type": "GPServer",
                               "startTime": epoch_ms(stats.start), "busy": stats.busy, "waiting": stats.waiting,
                               "transactions": stats.transactions, "totalBusyTime": round(stats.busy_time * 1000),
                               "isStatisticsAvailable": True}
    if stats.max_instances is not None:
        summary["max"] = stats.max_instances
    return {"summary": summary}


def _description(manager: ServiceManager, record: Any) -> str:
    published = manager.registry.services.get(record.key)      # its toolbox's docstring when not set
    return published.config.description if published is not None else record.config.description


def _exists(manager: ServiceManager, claims: Any, params: dict[str, str]) -> bool:
    """``services/exists``: a folder (``folderName``) or a service (plus ``serviceName`` and ``type``)."""
    folder = (params.get("folderName") or "").strip("/ ") or None
    name = (params.get("serviceName") or "").strip()
    kind = (params.get("type") or "GPServer").strip()
    records = [r for r in manager.records() if is_administrator(claims) or r.owner == claims.user.name]
    if not name:
        return folder is None or any(r.config.folder == folder for r in records)
    return kind == "GPServer" and any((r.config.folder, r.config.name) == (folder, name) for r in records)


async def admin_root(request: Request) -> Response:
    """``/arcgis/admin``: what the administrator API offers (the ``arcgis`` package reads it first)."""
    params = await read_params(request)
    try:
        admin_caller(request, params)
        root: dict[str, Any] = {"resources": ["services", "jobs", "system", "logs", "usagereports"],
                                "currentVersion": CURRENT_VERSION, "fullVersion": "11.1.0"}
        if wants_html(request, params):     # a person's page: where each resource is, and the console
            root = {**root, "resources": [f"{ADMIN_BASE}/{r}" for r in ("services", "jobs", "system/jobs", "logs",
                                                                         "usagereports")],
                    "console": f"{ADMIN_BASE}/console"}
        return admin_respond(request, root, params, "opengp administration")
    except Exception as exc:
        return admin_error_answer(request, exc, params)


def _post_only(request: Request, name: str) -> None:
    if request.method != "POST":
        raise InvalidInput(f"'{name}' changes the server: send it as a POST.")


def _service_payload(params: dict[str, str]) -> Any:
    raw = params.get("service")
    if not raw:
        raise InvalidInput("Invalid service definition.", ["Pass the service JSON in the 'service' parameter."])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("Invalid service definition.", [f"'service' is not valid JSON: {exc}"]) from None


async def _run(request: Request, manager: ServiceManager, op: Operation, params: dict[str, str]) -> Response:
    """Start the operation's admin job; wait for it unless ``runAsync=true``."""
    if (params.get("runAsync") or "").strip().lower() == "true":
        job = await manager.ops.start(op)
        body = admin_job_json(request, job)
        return admin_respond(request, {"status": "success", "jobid": job.id, "jobStatus": body["status"],
                                       "jobsUrl": body["url"]}, params, f"{op.name} job")
    job = await manager.ops.run(op)
    return admin_respond(request, operation_answer(job), params, op.name)


routes = [
    Route("/arcgis/admin", admin_root, methods=["GET", "POST"]),
    Route("/arcgis/admin/", admin_root, methods=["GET", "POST"]),
    Route("/arcgis/admin/services", services_route, methods=["GET", "POST"]),
    Route("/arcgis/admin/services/{path:path}", services_route, methods=["GET", "POST"]),
]
