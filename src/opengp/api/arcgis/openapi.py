"""The OpenAPI 3.0 document of the ArcGIS REST face (``/openapi.json``), made from what this
server publishes now: every GP service and task (each task's operation with its own
parameters, typed), their jobs, uploads, tokens, feature services and product services.

Esri publishes no OpenAPI description of the REST API; this one says what *this* server
answers, so generic tools (schemathesis in tests/faults, API explorers, client generators)
can drive it.  ArcGIS answers errors with HTTP 200 and an ``{"error": {...}}`` body
(``errors.py``): each operation declares both; pages (``f=html``) answer with their own
HTTP status (303 to sign in, 400/403/404 with an error page).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ...auth.access import may_use
from ...tools.params import ParamSpec, ToolSpec
from ...tools.registry import Registry, Service
from ..auth import caller
from ..kit.options import base_url

FORM = "application/x-www-form-urlencoded"
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                   "details": {"type": "array", "items": {"type": "string"}}}}}}
_FORMATS = ["json", "pjson", "html"]
_SCALARS = {"GPLong": {"type": "integer"}, "GPDouble": {"type": "number"}, "GPBoolean": {"type": "boolean"}}
_SPATIAL_RELATIONS = ["esriSpatialRelIntersects", "esriSpatialRelEnvelopeIntersects", "esriSpatialRelContains",
                      "esriSpatialRelWithin"]


def _param(name: str, where: str, schema: dict[str, Any], description: str = "", required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


_F = _param("f", "query", {"type": "string", "enum": _FORMATS}, "Answer as JSON (pjson: indented) or as a page.")
_JOB = _param("jobId", "path", {"type": "string"}, "The job's id.")
_TOKEN = {"token": {"type": "string", "description": "A token from generateToken (or send it as a header)."}}


def _answers(*, page: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an operation answers: JSON over 200 (its result, or an ArcGIS error body), or, asked
    with ``f=html`` (``page``: the answer itself is a page too), a page or an error page."""
    content: dict[str, Any] = {"application/json": {"schema": {}}}
    if page:
        content["text/html"] = {"schema": {"type": "string"}}
    out: dict[str, Any] = {"200": {"description": "The answer, or an ArcGIS error body (HTTP 200, as ArcGIS).",
                                   "content": content},
                           "303": {"description": "f=html: sign in first (or, after a submission, its job's page)."}}
    for code in ("400", "403", "404"):
        out[code] = {"description": "f=html: the error, as a page for a person.",
                     "content": {"text/html": {"schema": {"type": "string"}}}}
    out["405"] = {"description": "Not with this HTTP method.", "content": {"application/json": {"schema": _ERROR}}}
    out.update(extra or {})
    return out


def _operation(operation_id: str, summary: str, params: list[dict] | None = None, form: dict | None = None,
               required: list[str] | None = None, page: bool = True, multipart: bool = False,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": operation_id, "summary": summary, "parameters": params or [],
                           "responses": _answers(page=page, extra=extra)}
    if form is not None:
        media = "multipart/form-data" if multipart else FORM
        schema: dict[str, Any] = {"type": "object", "properties": form}
        if required:
            schema["required"] = required
        out["requestBody"] = {"required": bool(required), "content": {media: {"schema": schema}}}
    return out


def _value_schema(p: ParamSpec) -> dict[str, Any]:
    """A parameter as a form field: numbers and booleans as such, a choice list as an enum, and
    every other GP value as its JSON text (as ArcGIS clients send them)."""
    schema = dict(_SCALARS.get(p.data_type, {"type": "string"}))
    if p.choices is not None:
        schema["enum"] = list(p.choices)
    default = p.gp.describe_default(p.default)
    if default is not None:
        schema["example"] = default if schema["type"] != "string" or isinstance(default, str) \
            else orjson.dumps(default).decode()
    if p.description:
        schema["description"] = p.description
    return schema


def _task_paths(service: Service, task: ToolSpec, prefix: str, ident: str) -> dict[str, Any]:
    base = f"{prefix}/{task.name}"
    paths: dict[str, Any] = {base: {"get": _operation(f"task_{ident}", f"Task {task.name}", [_F])}}
    if not service.config.is_product:       # product jobs come from generateProduct
        op = "execute" if service.synchronous else "submitJob"
        form = {p.name: _value_schema(p) for p in task.inputs}
        form.update({"f": {"type": "string", "enum": _FORMATS}, "env:outSR": {"type": "string", "example": "4326"},
                     "returnMessages": {"type": "boolean"}, **_TOKEN})
        paths[f"{base}/{op}"] = {"post": _operation(
            f"{op}_{ident}", f"{'Run' if op == 'execute' else 'Submit a job of'} {task.name}",
            form=form, required=[p.name for p in task.inputs if p.required])}
    jobs = f"{base}/jobs/{{jobId}}"
    paths[jobs] = {"get": _operation(f"job_{ident}", "A job: status, messages, results and inputs",
                                     [_JOB, _F, _param("returnMessages", "query", {"type": "boolean"})])}
    paths[f"{jobs}/cancel"] = {"post": _operation(f"cancel_{ident}", "Cancel the job", [_JOB],
                                                  form={"f": {"type": "string", "enum": _FORMATS}, **_TOKEN})}
    for kind, params in (("results", task.outputs), ("inputs", task.inputs)):
        if params:
            name = _param("paramName", "path", {"type": "string", "enum": [p.name for p in params]})
            extra = [_param("env:outSR", "query", {"type": "string"})] if kind == "results" else []
            paths[f"{jobs}/{kind}/{{paramName}}"] = {"get": _operation(
                f"{kind}_{ident}", f"One of the job's {kind}", [_JOB, name, _F, *extra], page=False)}
    return paths


def _ident(*parts: str) -> str:
    return "_".join(p.replace("/", "_").replace(".", "_") for p in parts)


def document(base: str, registry: Registry, datasets: Any, product_services: Any,
             visible: Callable[[Any], bool]) -> dict[str, Any]:
    """The document for this server as it is now (``base``: its URL), naming only what
    ``visible(config)`` allows (what the caller may use, as the services directory lists it)."""
    paths: dict[str, Any] = {
        "/arcgis/rest/info": {"get": _operation("info", "Server version and where tokens come from", [_F],
                                                page=False)},
        "/arcgis/tokens/generateToken": {"post": _operation(
            "generateToken", "A token for a user name and password", form={
                "username": {"type": "string"}, "password": {"type": "string", "format": "password"},
                "client": {"type": "string", "enum": ["requestip", "referer", "ip"]},
                "referer": {"type": "string"}, "ip": {"type": "string"},
                "expiration": {"type": "integer", "minimum": 1, "description": "Minutes."},
                "f": {"type": "string", "enum": ["json", "pjson"]}},
            required=["username", "password"], page=False)},
        "/arcgis/rest/services": {"get": _operation("services", "The services directory", [_F])},
    }
    for service in (s for s in registry.services.values() if visible(s.config)):
        prefix = f"/arcgis/rest/services/{service.key}/GPServer"
        ident = _ident(service.key)
        paths[prefix] = {"get": _operation(f"service_{ident}", f"GP service {service.key}", [_F])}
        paths[f"{prefix}/uploads/upload"] = {"post": _operation(
            f"upload_{ident}", "Upload a file for the jobs that name its itemID", multipart=True, page=False,
            form={"file": {"type": "string", "format": "binary"}, "description": {"type": "string"},
                  "f": {"type": "string", "enum": ["json", "pjson"]}, **_TOKEN}, required=["file"])}
        for task in service.tools.values():
            paths.update(_task_paths(service, task, prefix, _ident(service.key, task.name)))
    for dataset in (d for d in datasets.datasets().values() if visible(d.config)):
        prefix = f"/arcgis/rest/services/{dataset.key}/FeatureServer"
        ident = _ident(dataset.key)
        layer = _param("layerId", "path", {"type": "integer", "enum": [l.id for l in dataset.layers]})
        paths[prefix] = {"get": _operation(f"featureService_{ident}", f"Feature service {dataset.key}", [_F])}
        paths[f"{prefix}/{{layerId}}"] = {"get": _operation(f"layer_{ident}", "A layer", [layer, _F])}
        paths[f"{prefix}/{{layerId}}/query"] = {"get": _operation(f"query_{ident}", "Query a layer's features", [
            layer, _param("f", "query", {"type": "string", "enum": ["json", "pjson", "geojson"]}),
            _param("where", "query", {"type": "string", "example": "1=1"}),
            _param("objectIds", "query", {"type": "string"}), _param("outFields", "query", {"type": "string"}),
            _param("geometry", "query", {"type": "string", "example": "0,0,10,10"}),
            _param("inSR", "query", {"type": "string"}), _param("outSR", "query", {"type": "string"}),
            _param("spatialRel", "query", {"type": "string", "enum": _SPATIAL_RELATIONS}),
            _param("returnGeometry", "query", {"type": "boolean"}),
            _param("returnCountOnly", "query", {"type": "boolean"}),
            _param("returnIdsOnly", "query", {"type": "boolean"}),
            _param("orderByFields", "query", {"type": "string"}),
            _param("resultOffset", "query", {"type": "integer", "minimum": 0}),
            _param("resultRecordCount", "query", {"type": "integer", "minimum": 1})], page=False,
            extra={"200": {"description": "Features (Esri JSON, or GeoJSON for f=geojson), or an ArcGIS error body.",
                           "content": {"application/json": {"schema": {}},
                                       "application/geo+json": {"schema": {}}}}})}
    for product_service in product_services:
        if product_service.key not in registry.services or not visible(product_service):
            continue
        prefix = f"/arcgis/rest/services/{product_service.key}/TopographicProductionServer"
        ident = _ident(product_service.key)
        paths[prefix] = {"get": _operation(f"productService_{ident}", f"Product service {product_service.key}", [_F])}
        paths[f"{prefix}/generateProduct"] = {"post": _operation(
            f"generateProduct_{ident}", "Generate a product for an area of interest", page=False, form={
                "productName": {"type": "string", "enum": [p.name for p in product_service.products]},
                "productVersion": {"type": "string"}, "outputType": {"type": "string", "enum": ["PDF", "PNG", "TIFF"]},
                "aoiLayer": {"type": "string"}, "aoiFeatureId": {"type": "integer"},
                "customAoi": {"type": "string"}, "layerExclusion": {"type": "string"},
                "outputName": {"type": "string"}, "f": {"type": "string", "enum": ["json", "pjson"]}, **_TOKEN},
            required=["productName", "productVersion", "outputType"])}
        paths[f"{prefix}/jobs/query"] = {"get": _operation(f"productJobs_{ident}", "Product jobs", [
            _param("status", "query", {"type": "string"}), _param("startDate", "query", {"type": "string"}),
            _param("endDate", "query", {"type": "string"}), _param("user", "query", {"type": "string"}),
            _param("msgLevel", "query", {"type": "string", "enum": ["info", "warn", "error"]}),
            _param("start", "query", {"type": "integer", "minimum": 1}),
            _param("num", "query", {"type": "integer", "minimum": 1, "maximum": 1000}), _F], page=False)}
    return {
        "openapi": "3.0.3",
        "info": {"title": "opengp ArcGIS REST API", "version": "11.1",
                 "description": "The geoprocessing, feature and product services of this opengp server, as "
                                "ArcGIS Server's REST API serves them. Errors are ArcGIS error bodies over "
                                "HTTP 200. OGC API - Processes has its own document at /ogcapi/api."},
        "servers": [{"url": base}],
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "A token from /arcgis/tokens/generateToken (also X-Esri-Authorization, or the token "
                           "field)."}}},
        "security": [{}, {"bearer": []}],
        "paths": paths,
    }


async def openapi_document(request: Request) -> Response:
    """``GET /openapi.json``: the document, for the services published now that the caller may use."""
    state = request.app.state
    claims = caller(request, dict(request.query_params), state.auth)
    base = base_url(request, state.settings)
    body = document(base.rstrip("/"), state.jobs.registry, state.datasets, state.settings.product_services,
                    lambda config: may_use(config, claims))
    return Response(orjson.dumps(body), media_type="application/vnd.oai.openapi+json;version=3.0")
