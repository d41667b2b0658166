"""ArcGIS feature services over the registered datasets: FeatureServer, layers, query.

``/arcgis/rest/services/<key>/FeatureServer[/<id>[/query]]``, read-only.
Tokens are read as on the GP face, and a dataset is open to the same people
a service with its ``public``/``allowed`` would be.  These routes sit before
the GP face's catch-all route.
"""
from __future__ import annotations

import html
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ...auth.access import require_use
from ...core import NotFound
from ...datasets.catalog import Catalog, Dataset, Layer
from ...datasets.query import FORMATS as QUERY_FORMATS, esri_json, geojson, parse_query, select
from ..auth import caller
from ..kit.answers import respond
from ..kit.params import ANSWER_FORMATS, read_params, wants_html
from .render import layer_json, service_json

_PREFIX = "/arcgis/rest/services/{path:path}/FeatureServer"


async def _dataset(request: Request, formats: tuple[str, ...] = ANSWER_FORMATS) -> tuple[Dataset, dict[str, str]]:
    """The dataset the path names, once the caller may read it (token errors first)."""
    params = await read_params(request, formats)
    claims = caller(request, params, request.app.state.auth)
    catalog: Catalog = request.app.state.datasets
    key = request.path_params["path"].strip("/")
    dataset = catalog.dataset(key)
    if dataset is None:
        raise NotFound(f"Service '{key}/FeatureServer' not found.")
    require_use(dataset.config, claims)
    return dataset, params


def _layer(dataset: Dataset, request: Request) -> Layer:
    text = request.path_params["layer"]
    layer = dataset.layer(int(text)) if text.isascii() and text.isdigit() and len(text) < 6 else None
    if layer is None:
        raise NotFound(f"Layer '{text}' not found on service '{dataset.key}/FeatureServer'; "
                       f"its layers are 0 to {len(dataset.layers) - 1}.")
    return layer


def _answer(request: Request, data: Any, params: dict[str, str], title: str) -> Response:
    if wants_html(request, params):
        body = html.escape(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
                            f"<h1>{html.escape(title)}</h1><pre>{body}</pre>")
    return respond(data, params)


async def feature_server(request: Request) -> Response:
    dataset, params = await _dataset(request)
    data = await run_in_threadpool(service_json, dataset)
    return _answer(request, data, params, f"{dataset.key} (FeatureServer)")


async def all_layers(request: Request) -> Response:
    dataset, params = await _dataset(request)
    layers = await run_in_threadpool(lambda: [layer_json(dataset, l) for l in dataset.layers])
    return _answer(request, {"layers": [l for l in layers if l["type"] != "Table"],
                             "tables": [l for l in layers if l["type"] == "Table"]}, params, f"{dataset.key} layers")


async def layer(request: Request) -> Response:
    dataset, params = await _dataset(request)
    found = _layer(dataset, request)
    data = await run_in_threadpool(layer_json, dataset, found)
    return _answer(request, data, params, f"{dataset.key}: {found.name}")


async def query(request: Request) -> Response:
    dataset, params = await _dataset(request, QUERY_FORMATS)
    found = _layer(dataset, request)

    def run() -> Any:
        q = parse_query(found, params)
        chosen = select(found, q)
        if isinstance(chosen, dict):            # returnExtentOnly
            return q, chosen
        if isinstance(chosen, int):
            return q, {"count": chosen}
        if isinstance(chosen, list):
            return q, {"objectIdFieldName": found.object_id_field, "objectIds": chosen}
        return q, geojson(chosen) if q.format == "geojson" else esri_json(chosen)

    q, data = await run_in_threadpool(run)
    if q.format == "geojson":
        return Response(orjson.dumps(data), media_type="application/geo+json")
    return respond(data, params)


routes: list[BaseRoute] = [
    Route(_PREFIX, feature_server, methods=["GET", "POST"]),
    Route(_PREFIX + "/layers", all_layers, methods=["GET", "POST"]),
    Route(_PREFIX + "/{layer}", layer, methods=["GET", "POST"]),
    Route(_PREFIX + "/{layer}/query", query, methods=["GET", "POST"]),
]
