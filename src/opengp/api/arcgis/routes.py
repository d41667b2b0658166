"""The ArcGIS REST geoprocessing face: services directory, GPServer, tasks and jobs.

Paths follow ArcGIS Server: ``/arcgis/rest/services/[<Folder>/]<Service>/GPServer/...``.
One catch-all route parses the path (a service may or may not sit in a
folder, which route patterns cannot tell apart) and dispatches.
"""
from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import Route
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from ...core import Forbidden, TokenRequired
from ...core import Conflict, InvalidInput, Job, NotFound, OpenGPError, Status, Stored
from ...jobs.service import JobService
from ...system.files import JOBS_URL_PATH, service_dir, split_job_path
from ...tools.gptypes import known_type
from ...tools.params import WITHHELD, ParamSpec, ToolSpec
from ...store.values import INPUT, RESULT
from ...tools.values import reprojected_json
from ...tools.registry import Service
from ...auth import Claims
from ...auth.access import FORBIDDEN, may_see, may_use, require_see, require_use
from ..limits import allowance, upload_allowance
from ..auth import caller, check_change
from .. import heavy
from ..files import file_response, open_job_file
from ..kit.answers import CURRENT_VERSION, respond
from ..kit.esrijob import messages_json
from ..kit.options import base_url, job_options, spatial_reference
from ..kit.params import query_params, read_form, read_params, wants_html
from ..values import json_answer, param_value
from . import pages
from .dialect import execute_failed, execute_timed_out, job_json, job_status_json, not_succeeded, return_messages


def _jobs(request: Request) -> JobService:
    return request.app.state.jobs


async def info(request: Request) -> Response:
    params = query_params(request)
    settings = request.app.state.settings
    base = base_url(request, settings)
    return respond({"currentVersion": CURRENT_VERSION, "fullVersion": "11.1.0",
                    "authInfo": {"isTokenBasedSecurity": True,
                                 "tokenServicesUrl": f"{base}/arcgis/tokens/generateToken",
                                 "shortLivedTokenValidity": settings.token_minutes,
                                 "maximumTokenLifetime": settings.token_max_minutes}}, params)


async def services_root(request: Request) -> Response:
    params = query_params(request)
    return _folder(request, None, params, caller(request, params, request.app.state.auth))


def _folder(request: Request, folder: str | None, params: dict[str, str], claims: Claims | None) -> Response:
    """A folder lists only the services the caller may use."""
    registry = _jobs(request).registry
    settings = request.app.state.settings
    # (config, type) of everything published: GP services, product services, datasets
    published = [(s.config, "GPServer") for s in registry.services.values()]
    published += [(registry.services[p.key].config, "TopographicProductionServer")
                  for p in settings.product_services if p.key in registry.services]
    published += [(d, "FeatureServer") for d in settings.datasets]
    here = [(c, kind) for c, kind in published if c.folder == folder]
    if folder is not None and not here:
        raise NotFound(f"Folder '{folder}' not found.")
    visible = [(c, kind) for c, kind in here if may_use(c, claims)]
    if folder is not None and not visible:
        raise TokenRequired("Token Required") if claims is None else Forbidden(FORBIDDEN)
    folders = sorted({c.folder for c, _ in published if c.folder and may_use(c, claims)})
    if wants_html(request, params):
        gp = [s for s in registry.in_folder(folder) if may_use(s.config, claims)]
        return pages.folder_page(request, claims, folder, folders if folder is None else [], gp)
    return respond({
        "currentVersion": CURRENT_VERSION,
        "folders": folders if folder is None else [],
        "services": sorted(({"name": c.key, "type": kind} for c, kind in visible),
                           key=lambda s: (s["name"], s["type"])),
    }, params)


async def services(request: Request) -> Response:
    path = request.path_params["path"]
    params = await read_params(request)
    parts = [p for p in path.split("/") if p]
    claims = caller(request, params, request.app.state.auth)     # a bad token is refused everywhere
    if "GPServer" not in parts:
        if not parts:
            return _folder(request, None, params, claims)
        if len(parts) == 1:
            return _folder(request, parts[0], params, claims)
        raise NotFound(f"Service '{path}' not found.")
    owner = claims.user.name if claims else None
    at = parts.index("GPServer")
    key, rest = "/".join(parts[:at]), parts[at + 1:]
    jobs = _jobs(request)
    service = jobs.service(key)
    require_use(service.config, claims)
    html = wants_html(request, params)
    if not rest:
        return pages.service_page(request, claims, service) if html else respond(service_json(service), params)
    if rest[0] == "jobs":
        return await _job_resource(request, service, None, rest[1:], params, claims)
    task = service.tool(rest[0])
    if len(rest) == 1:
        return pages.task_page(request, claims, service, task) if html else respond(task_json(service, task), params)
    op = rest[1]
    if op in ("submitJob", "execute"):
        check_change(request, params)
    if op in ("submitJob", "execute") and params.get("f") == "html":
        await _attach_form_files(request, task, params)
    if op == "submitJob" and len(rest) == 2:
        try:
            job = await jobs.submit(service.key, task.name, params, synchronous=False, owner=owner,
                                    options=job_options(request, request.app.state.settings, params))
        except InvalidInput as exc:
            if params.get("f") == "html":      # the form again, with the values as sent and the errors
                return pages.task_page(request, claims, service, task, params, exc)
            raise
        if params.get("f") == "html":
            return RedirectResponse(f"{request.url.path.rsplit('/', 1)[0]}/jobs/{job.id}?f=html", status_code=303)
        return respond(job_status_json(job), params)
    if op == "execute" and len(rest) == 2:
        if params.get("f") == "html":
            try:
                job = await jobs.execute(service.key, task.name, params, owner=owner,
                                         options=job_options(request, request.app.state.settings, params))
            except InvalidInput as exc:
                return pages.task_page(request, claims, service, task, params, exc)
            return RedirectResponse(f"{request.url.path.rsplit('/', 1)[0]}/jobs/{job.id}?f=html", status_code=303)
        return await _execute(request, service, task, params, owner)
    if op == "jobs":
        return await _job_resource(request, service, task, rest[2:], params, claims)
    raise NotFound(f"Resource '{'/'.join(rest[1:])}' not found on task '{task.name}'.")


async def _attach_form_files(request: Request, task: ToolSpec, params: dict[str, str]) -> None:
    """A page's form sent without JavaScript carries its files itself (``<param>__file``):
    keep each as an upload and pass its itemID, as the scripted form does."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return
    form = await read_form(request)      # already parsed by read_params: Starlette keeps it
    jobs = _jobs(request)
    for p in task.inputs:
        upload = form.get(f"{p.name}__file")
        if p.gp.is_file and isinstance(upload, UploadFile) and upload.filename and not params.get(p.name):
            item = await jobs.save_upload(upload.filename, upload.file, request.app.state.settings.max_upload_bytes)
            params[p.name] = orjson.dumps({"itemID": item.item_id}).decode()


async def upload(request: Request) -> Response:
    """``POST .../GPServer/uploads/upload`` (multipart ``file``): ArcGIS's way to send a
    file before the job that names it as ``{"itemID": ...}``.

    Who may upload is checked before the body is read: a caller the service accepts (its
    token in the query string or a header, or a public service) may send ``max_upload_bytes``;
    anyone else only what an ordinary request may carry (``max_request_bytes``: enough for
    a form whose ``token`` field says who they are), and a larger body from them is refused
    unread."""
    params = query_params(request)
    settings = request.app.state.settings
    parts = [p for p in request.path_params["path"].split("/") if p]
    if not parts or parts[-1] != "GPServer":
        raise NotFound(f"Service '{request.path_params['path']}' not found.")
    service = _jobs(request).service("/".join(parts[:-1]))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("Upload failed.", ["Send the file as multipart/form-data, in the field 'file'."])
    claims = caller(request, params, request.app.state.auth)        # a bad token: refused at once
    if claims is not None:
        require_use(service.config, claims)
    accepted = may_use(service.config, claims)
    if accepted:
        allowance(request).raise_to(upload_allowance(settings))
    else:
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > settings.max_request_bytes:
            raise TokenRequired("Token Required", [
                "Send the token in the query string or a header (X-Esri-Authorization) to upload files."])
    form = await read_form(request, max_files=1, max_fields=50)
    params.update({k: v for k, v in form.items() if isinstance(v, str)})
    if not accepted:        # its token came in the form
        require_use(service.config, caller(request, params, request.app.state.auth))
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidInput("Upload failed.", ["Send the file as multipart/form-data, in the field 'file'."])
    item = await _jobs(request).save_upload(file.filename, file.file, settings.max_upload_bytes)
    return respond({"success": True, "item": {
        "itemID": item.item_id, "itemName": item.name, "description": params.get("description", ""),
        "date": int(item.created * 1000), "committed": True}}, params)


async def _execute(request: Request, service: Service, task: ToolSpec, params: dict[str, str],
                   owner: str | None) -> Response:
    jobs = _jobs(request)
    job = await jobs.execute(service.key, task.name, params, owner=owner,
                             options=job_options(request, request.app.state.settings, params))
    if job.status is Status.SUCCEEDED:
        results = [await _result_json(jobs, job, name) for name in job.results or {}]
        body = b'{"results":[%b],"messages":%b}' % (
            b",".join(results), orjson.dumps(messages_json(job, service.config.show_messages)))
        return json_answer(body, params.get("f") == "pjson")
    if not job.status.terminal:
        await jobs.cancel(job.id)
        return respond(execute_timed_out(), params)
    return respond(execute_failed(job, service.config.show_messages), params)


async def _job_resource(request: Request, service: Service, task: ToolSpec | None,
                        rest: list[str], params: dict[str, str], claims: Claims | None) -> Response:
    if not rest:
        raise NotFound("A job id is required: .../jobs/<jobId>.")
    jobs = _jobs(request)
    job_id, sub = rest[0], rest[1:]
    job = (jobs.get if sub else jobs.peek)(job_id, service.key)     # the status alone: for display
    require_see(job, claims)
    if task is not None and job.task != task.name:
        raise NotFound(f"Job '{job_id}' does not exist or is inaccessible.")
    if not sub:
        if wants_html(request, params):
            return pages.job_page(request, claims, service, job, await jobs.previews(job))
        return respond(job_json(job, service, return_messages=return_messages(params)), params)
    if sub == ["events"]:
        return await pages.job_events(request, service, job, params)
    spec = service.tool(job.task)
    if sub == ["cancel"]:
        check_change(request, params)
        job = await jobs.cancel(job.id, service.key)
        if params.get("f") == "html":
            return RedirectResponse(f"{request.url.path.rsplit('/', 1)[0]}?f=html", status_code=303)
        return respond(job_status_json(job), params)
    pretty = params.get("f") == "pjson"
    if sub[0] == "results":
        out_sr = spatial_reference(params["env:outSR"]) if params.get("env:outSR") else None
        return json_answer(await _results(jobs, job, sub[1:], out_sr), pretty)
    if sub[0] == "inputs":
        return json_answer(await _inputs(jobs, job, spec, sub[1:]), pretty)
    raise NotFound(f"Resource '{'/'.join(sub)}' not found on job '{job.id}'.")


async def _results(jobs: JobService, job: Job, names: list[str], out_sr: dict[str, Any] | None = None) -> bytes:
    """One result (``results/<name>``) or all, as JSON put together around each value's own."""
    if job.status is not Status.SUCCEEDED or job.results is None:
        raise Conflict("Unable to complete operation.", not_succeeded(job))
    if not names:
        return b"[%b]" % b",".join([await _result_json(jobs, job, n, out_sr) for n in job.results])
    name = "/".join(names)
    if name not in job.results:
        raise NotFound(f"Result parameter '{name}' not found on job '{job.id}'.")
    return await _result_json(jobs, job, name, out_sr)


async def _result_json(jobs: JobService, job: Job, name: str, out_sr: dict[str, Any] | None = None) -> bytes:
    """``{"paramName", "dataType", "value"}`` of one result; a feature set in ``out_sr`` when given
    (``env:outSR``): a large one is projected in the helper process, never here (api/heavy.py)."""
    result = (job.results or {})[name]
    data_type, value = result["dataType"], result["value"]
    raw = await jobs.value_json(job, RESULT, name)
    kind = known_type(data_type)
    if out_sr and kind is not None and kind.form == "features" and isinstance(value, (dict, Stored)):
        try:
            if isinstance(value, Stored):
                raw = await heavy.run(reprojected_json, raw, out_sr)
            else:
                raw = reprojected_json(raw, out_sr)
        except OpenGPError:         # the helper process ended (Unavailable)
            raise
        except Exception as exc:    # unknown SR, or features without one
            raise InvalidInput("Unable to complete operation.", [f"Cannot project to {out_sr}: {exc}"]) from None
    return param_value(name, data_type, raw)


async def _inputs(jobs: JobService, job: Job, spec: ToolSpec, names: list[str]) -> bytes:
    """One input (``inputs/<name>``) or all: every input parameter of the task, an unset one
    with the value the job ran with (its default, or null), as ArcGIS answers for each."""
    async def one(p: ParamSpec) -> bytes:
        if p.withheld:
            raw = orjson.dumps(WITHHELD)
        elif p.name in job.inputs:
            raw = await jobs.value_json(job, INPUT, p.name)
        else:
            raw = orjson.dumps(p.default_json)
        return param_value(p.name, p.data_type, raw)

    if not names:
        return b"[%b]" % b",".join([await one(p) for p in spec.inputs])
    name = "/".join(names)
    p = spec.param(name, output=False)
    if p is None:
        raise NotFound(f"Input parameter '{name}' not found on job '{job.id}'.")
    return await one(p)


def service_json(service: Service) -> dict[str, Any]:
    return {
        "currentVersion": CURRENT_VERSION,
        "serviceDescription": service.config.description,
        "tasks": list(service.tools),
        "executionType": _execution_type(service),
        "resultMapServerName": "",
        "maximumRecords": 1000,
    }


def _execution_type(service: Service) -> str:
    return "esriExecutionTypeSynchronous" if service.synchronous else "esriExecutionTypeAsynchronous"


def task_json(service: Service, task: ToolSpec) -> dict[str, Any]:
    return {
        "name": task.name,
        "displayName": task.display_name,
        "description": task.description,
        "category": task.category,
        "helpUrl": "",
        "executionType": _execution_type(service),
        "parameters": [param_json(p) for p in task.inputs + task.outputs],
    }


def param_json(p: ParamSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "dataType": p.data_type,
        "displayName": p.display_name,
        "description": p.description,
        "direction": "esriGPParameterDirectionOutput" if p.output else "esriGPParameterDirectionInput",
        "defaultValue": p.gp.describe_default(p.default),
        "parameterType": ("esriGPParameterTypeRequired" if p.required or p.output
                          else "esriGPParameterTypeOptional"),
        "category": p.category,
    }
    if p.choices is not None:
        out["choiceList"] = list(p.choices)
    return out


async def job_file(request: Request) -> Response:
    """Files tools wrote into their work folders: ``<service>_gpserver/<jobId>/...``.

    Who may use the service is checked from the path alone, before anything
    is looked up, and every other refusal of a signed-in caller is the same NotFound, so the
    answer never tells them whether someone else's job or file exists.  A caller with no token
    asking for a file of someone's job is asked for one (499), as every protected resource
    does, so a client knows to sign in (job ids are unguessable).
    """
    path = request.path_params["path"]
    params = query_params(request)
    claims = caller(request, params, request.app.state.auth)
    missing = NotFound(f"File '{path}' not found.")
    named = split_job_path(path)
    if named is None:
        raise missing
    jobs = _jobs(request)
    service_part, job_id, rest = named
    service = next((s for s in jobs.registry.services.values() if service_dir(s.key) == service_part), None)
    if service is None:
        raise missing
    require_use(service.config, claims)
    try:
        job = jobs.get(job_id, service.key)
    except NotFound:
        raise missing from None
    if not may_see(job, claims):     # someone's job: ask a caller with no token to sign in
        raise TokenRequired("Token Required") if claims is None else missing
    # from the shared folder or the object store (runtime/storage.py), sandboxed (api/files.py)
    stored = await open_job_file(request, jobs.files, service_part, job_id, rest)
    if stored is None:
        raise missing
    return file_response(stored)


# Plain Starlette routes: every handler reads the Request itself, so FastAPI's
# dependency injection would only add per-request cost.
routes = [
    Route("/arcgis/rest/info", info, methods=["GET", "POST"]),
    Route("/arcgis/rest/services", services_root, methods=["GET", "POST"]),
    Route("/arcgis/rest/services/{path:path}/uploads/upload", upload, methods=["POST"]),
    Route("/arcgis/rest/services/{path:path}", services, methods=["GET", "POST"]),
    Route(JOBS_URL_PATH + "/{path:path}", job_file, methods=["GET"]),
]
