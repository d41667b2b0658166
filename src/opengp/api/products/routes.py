"""The product face: ``/arcgis/rest/services/<key>/TopographicProductionServer/...``.

``generateProduct`` checks the whole request (product, version, area of
interest, layers, output type) and resolves it into the product tool's inputs,
then submits an ordinary job of kind ``product`` to the service's GP face: the
same job is seen here in the product dialect, and as a GP job at
``.../GPServer/GenerateProduct/jobs/<id>`` and in the admin API.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from datetime import datetime, time as dtime, timezone
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...auth import Claims
from ...auth.access import may_see, require_use
from ...auth.scopes import Scope
from ...config import ProductServiceConfig
from ...core import InvalidInput, Job, Kind, NotFound, Status
from ...jobs.service import JobService
from ...system.files import safe_file_name
from ...store import JobQuery
from ...tools.registry import Service
from ..kit.answers import CURRENT_VERSION, respond, table_page
from ..kit.options import job_options
from ..kit.params import read_params
from ..auth import caller, check_change
from .aoi import AOI, bad, check_placeable, custom_aoi, feature_id, layer_aoi
from .dialect import BY_CODE, DEFAULT_MSG_LEVEL, MSG_LEVELS, iso, product_job_json
from .resolve import resolve_definition

TASK = "GenerateProduct"
OUTPUT_TYPES = ("pdf", "png", "tiff")
MAX_PAGE = 1000


def _find(request: Request, key: str) -> tuple[ProductServiceConfig, Service]:
    settings = request.app.state.settings
    config = next((p for p in settings.product_services if p.key == key), None)
    service = request.app.state.jobs.registry.services.get(key)
    if config is None or service is None:
        raise NotFound(f"Service '{key}/TopographicProductionServer' not found.")
    return config, service


async def dispatch(request: Request) -> Response:
    params = await read_params(request)
    claims = caller(request, params, request.app.state.auth)
    config, service = _find(request, request.path_params["path"].strip("/"))
    require_use(service.config, claims)
    rest = [p for p in request.path_params.get("rest", "").split("/") if p]
    html = params.get("f") == "html"
    if not rest:
        data = _service_json(config)
        return Response(table_page(f"{config.key} (TopographicProductionServer)", data), media_type="text/html") \
            if html else respond(data, params)
    if rest[0] == "products":
        data = _products_json(config, rest[1:])
        return Response(table_page("Products", data), media_type="text/html") if html else respond(data, params)
    if rest == ["generateProduct"]:
        check_change(request, params)
        job = await _generate(request, params, claims, config, service)
        return respond({"success": True, "jobId": job.id, "status": "Submitted", "statusCode": 1}, params)
    if rest[0] == "jobs":
        return await _jobs(request, params, claims, service, rest[1:])
    raise NotFound(f"Resource '{'/'.join(rest)}' not found on '{config.key}/TopographicProductionServer'.")


def _service_json(config: ProductServiceConfig) -> dict[str, Any]:
    return {"currentVersion": CURRENT_VERSION, "serviceDescription": config.description,
            "products": [p.name for p in config.products],
            "operations": ["generateProduct"], "resources": ["products", "jobs"]}


def _product_json(product: Any) -> dict[str, Any]:
    return {"name": product.name, "description": product.description,
            "sheetIDField": getattr(product, "sheet_id_field", None),
            "productVersions": [{"name": v.name, "outputTypes": [t.upper() for t in v.output_types]}
                                for v in product.versions],
            "enabled": True}


def _products_json(config: ProductServiceConfig, rest: list[str]) -> dict[str, Any]:
    if not rest:
        return {"products": [_product_json(p) for p in config.products]}
    product = next((p for p in config.products if p.name == rest[0]), None)
    if product is None or len(rest) > 1:
        raise NotFound(f"Product '{rest[0]}' not found.")
    return _product_json(product)


# -- generateProduct -------------------------------------------------------------

def _required(params: dict[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise bad(f"'{name}' is required.")
    return value


def _version_name(text: str) -> str:
    """A version name, or (ArcGIS 11.2+) a JSON object naming it."""
    if text.startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise bad("'productVersion' is neither a version name nor valid JSON.") from None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise bad("'productVersion' JSON must have a 'name'.")
        return value["name"]
    return text


def _json_list(params: dict[str, str], name: str) -> list[str]:
    text = (params.get(name) or "").strip()
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"'{name}' must be a JSON array of layer names or URLs.")
    return value


async def _generate(request: Request, params: dict[str, str], claims: Claims | None,
                    config: ProductServiceConfig, service: Service) -> Job:
    settings = request.app.state.settings
    name = _required(params, "productName")
    product = next((p for p in config.products if p.name == name), None)
    if product is None:
        raise bad(f"Product '{name}' does not exist; products: {', '.join(p.name for p in config.products)}.")
    version_name = _version_name(_required(params, "productVersion"))
    version = next((v for v in product.versions if v.name == version_name), None)
    if version is None:
        raise bad(f"Product '{name}' has no version '{version_name}'; versions: "
                  f"{', '.join(v.name for v in product.versions)}.")
    output_type = _required(params, "outputType").lower()
    if output_type not in OUTPUT_TYPES:
        raise bad(f"Output type '{params['outputType']}' is not supported; opengp makes "
                  f"{', '.join(t.upper() for t in OUTPUT_TYPES)}.")
    if output_type not in version.output_types:
        raise bad(f"Version '{version.name}' of '{name}' allows output types "
                  f"{', '.join(t.upper() for t in version.output_types)}, not {output_type.upper()}.")
    aoi, aoi_layer, aoi_id = await _aoi(request, params, claims)
    check_placeable(aoi, version.crs)
    definition = resolve_definition(request.app.state.datasets, version, _json_list(params, "layerExclusion"),
                                    _hosts(request))
    output_name = _output_name(params.get("outputName"), _sheet_name(product, aoi, aoi_id))
    form = {"productName": product.name, "productVersion": version.name, "outputType": output_type,
            "outputName": output_name, "aoi": aoi.feature_json(), "definition": definition}
    options = job_options(request, settings, {})
    options["product"] = {"aoiLayer": aoi_layer, "aoiFeatureId": aoi_id,
                          "layerExclusion": _json_list(params, "layerExclusion")}
    return await request.app.state.jobs.submit(
        service.key, TASK, form, synchronous=False, owner=claims.user.name if claims else None,
        options=options, kind=Kind.PRODUCT, job_id=str(uuid.uuid4()).upper())


async def _aoi(request: Request, params: dict[str, str], claims: Claims | None) -> tuple[AOI, str | None, int | None]:
    custom = (params.get("customAoi") or "").strip()
    layer = (params.get("aoiLayer") or "").strip() or None
    if custom:
        if (params.get("aoiFeatureId") or "").strip():
            raise bad("Give either 'aoiFeatureId' or 'customAoi', not both.")
        return custom_aoi(custom), layer, None
    if layer is None:
        raise bad("'aoiLayer' is required (or give the area of interest itself in 'customAoi').")
    object_id = feature_id(_required(params, "aoiFeatureId"))
    aoi = await layer_aoi(request.app.state.datasets, layer, object_id, claims,
                          request.app.state.settings.allow_private_urls, _hosts(request))
    return aoi, layer, object_id


def _hosts(request: Request) -> tuple[str, ...]:
    """The name this request reached us by: its URLs of our own layers are ours too."""
    host = request.headers.get("host")
    return (host,) if host else ()


def _output_name(asked: str | None, sheet: str) -> str:
    """A file name from ``outputName`` (no folders, no dots at the ends), else the sheet's."""
    name = Path((asked or "").strip().replace("\\", "/")).name.strip(". ")
    return safe_file_name(name or sheet)


def _sheet_name(product: Any, aoi: AOI, aoi_id: int | None) -> str:
    """ArcGIS names the file after the sheet ID when no outputName is given."""
    field = getattr(product, "sheet_id_field", None)
    if field:
        value = next((v for k, v in aoi.attributes.items() if k.lower() == field.lower()), None)
        if value not in (None, ""):
            return str(value)
    return f"{product.name}_{aoi_id}" if aoi_id is not None else f"{product.name}_custom"


# -- jobs ----------------------------------------------------------------------------

def _msg_level(params: dict[str, str]) -> str:
    level = (params.get("msgLevel") or DEFAULT_MSG_LEVEL).strip().lower()
    if level not in MSG_LEVELS:
        raise InvalidInput("Unable to complete operation.", [f"'msgLevel' must be info, warn or error, not {level!r}."])
    return level


def _product_job(jobs: JobService, job_id: str, service: Service, claims: Claims | None) -> Job:
    """A product job by its id in any case: ArcGIS's ids are GUIDs (ours are made upper-case),
    and GUIDs compare without case."""
    job = jobs.find(job_id.upper())
    if job is None or job.service != service.key or job.kind is not Kind.PRODUCT or not may_see(job, claims):
        raise NotFound(f"Job '{job_id}' does not exist or is inaccessible.")
    return job


async def _jobs(request: Request, params: dict[str, str], claims: Claims | None, service: Service,
                rest: list[str]) -> Response:
    jobs: JobService = request.app.state.jobs
    if rest and rest[0] == "job":
        rest = rest[1:]
    if not rest or rest == ["query"]:
        return respond(await _query(jobs, params, claims, service), params)
    if rest in (["cancel"], ["delete"]):
        check_change(request, params)
        return respond(await _cancel_or_delete(jobs, params, claims, service, rest[0]), params)
    if len(rest) != 1:
        raise NotFound(f"Resource 'jobs/{'/'.join(rest)}' not found.")
    job = _product_job(jobs, rest[0], service, claims)
    data = product_job_json(job, _msg_level(params))
    if params.get("f") == "html":
        live = f"/arcgis/rest/services/{service.key}/GPServer/{TASK}/jobs/{job.id}?f=html"
        return Response(table_page(f"Product job {job.id}", {**data, "live page (progress as it happens)": live}),
                        media_type="text/html")
    return respond(data, params)


def _ids(params: dict[str, str]) -> list[str]:
    ids = [i.strip().upper() for i in (params.get("jobId") or params.get("jobIds") or "").split(",") if i.strip()]
    if not ids:
        raise InvalidInput("Unable to complete operation.", ["'jobId' is required."])
    return ids


async def _cancel_or_delete(jobs: JobService, params: dict[str, str], claims: Claims | None, service: Service,
                            op: str) -> dict[str, Any]:
    items = []
    for job_id in _ids(params):
        try:
            job = _product_job(jobs, job_id, service, claims)
            if op == "cancel":
                if job.status.terminal:
                    items.append({"id": job_id, "success": False, "message": f"The job has already ended ({job.status.value})."})
                    continue
                await jobs.cancel(job.id)
            else:
                await jobs.delete(job.id)
            items.append({"id": job_id, "success": True, "message": ""})
        except NotFound as exc:
            items.append({"id": job_id, "success": False, "message": exc.message})
    done = sum(1 for i in items if i["success"])
    return {"count": done, "name": "canceled" if op == "cancel" else "deleted", "items": items,
            "success": done == len(items)}


def _date(params: dict[str, str], name: str, end: bool) -> float | None:
    """ISO-8601 date or date-time, UTC unless it says otherwise; a bare date means the
    start of that day (``startDate``) or its last second (``endDate``)."""
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("Unable to complete operation.",
                           [f"'{name}' must be an ISO-8601 date or time (YYYY-MM-DD[Thh:mm:ss]), not {text!r}."]) from None
    if len(text) <= 10:
        value = datetime.combine(value.date(), dtime(23, 59, 59, 999999) if end else dtime(0, 0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _statuses(params: dict[str, str]) -> frozenset[Status] | None:
    text = (params.get("status") or "").strip()
    if not text:
        return None
    wanted: set[Status] = set()
    for part in text.split(","):
        try:
            code = int(part)
        except ValueError:
            code = -1
        if code not in BY_CODE:
            raise InvalidInput("Unable to complete operation.", [
                f"'status' must be a status code (0-10, 100-103), not {part.strip()!r}."])
        status = BY_CODE[code]
        if status is not None:
            wanted.add(status)
    return frozenset(wanted)


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = (params.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidInput("Unable to complete operation.", [f"'{name}' must be an integer from {low} to {high}."])
    return value


async def _query(jobs: JobService, params: dict[str, str], claims: Claims | None, service: Service) -> dict[str, Any]:
    level = _msg_level(params)
    start_date, end_date = _date(params, "startDate", False), _date(params, "endDate", True)
    statuses = _statuses(params)
    user = (params.get("user") or "").strip() or None
    number = _int(params, "num", 100, 1, MAX_PAGE)
    start = _int(params, "start", 1, 1, 2**31 - 1)
    if claims is None:      # an anonymous job's id is all that protects it: never listed (auth/access.py)
        return _page([], 0, start, number, level)
    if Scope.JOBS_READ_ANY not in claims.scopes:
        if user is not None and user != claims.user.name:
            return _page([], 0, start, number, level)
        user = claims.user.name
    if statuses is not None and not statuses:
        return _page([], 0, start, number, level)
    total, found = await jobs.query_async(JobQuery(
        service=service.key, kind=Kind.PRODUCT.value, statuses=statuses, owner=user,
        created_after=start_date, created_before=end_date, offset=start - 1, limit=number))
    return _page(found, total, start, number, level)


def _page(found: list[Job], total: int, start: int, number: int, level: str) -> dict[str, Any]:
    return {"jobs": [product_job_json(j, level) for j in found], "total": total, "start": start,
            "num": len(found), "nextStart": start + len(found) if start - 1 + len(found) < total else -1,
            "queryTime": iso(datetime.now(timezone.utc).timestamp())}


routes = [
    Route("/arcgis/rest/services/{path:path}/TopographicProductionServer", dispatch, methods=["GET", "POST"]),
    Route("/arcgis/rest/services/{path:path}/TopographicProductionServer/{rest:path}", dispatch,
          methods=["GET", "POST"]),
]
