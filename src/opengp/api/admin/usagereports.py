"""``/arcgis/admin/usagereports``: usage reports as ArcGIS Enterprise's administrator API lays
them out (10.3+): the list (``{"metrics": [report, ...]}``, the field the ``arcgis`` package
reads), ``add`` (POST ``usagereport``), ``<name>``, ``<name>/edit``, ``<name>/delete`` and
``<name>/data`` (``filter={"machines": "*" | [host, ...]}``; the answer's ``time-slices`` are the
ends of the slices in epoch ms, ``report-data`` one list per query of
``{"resourceURI", "metric-type", "data"}``).

A report covers every service of the site, so only administrators use them (ArcGIS's ``add``
takes the default administrator role).  What a report must be and its numbers are
``jobs/usage.UsageReports``'s; this face reads the requests and words the answers.
"""
from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...auth.access import FORBIDDEN
from ...core import Forbidden, InvalidInput, NotFound
from ...jobs.usage import INVALID, ReportData, UsageReports
from ...store.reports import StoredReport
from ...store.tables import storable_text
from ..auth import admin_caller, is_administrator
from ..kit.html import admin_error_answer
from ..kit.params import read_params
from .common import admin_respond

_CHANGES = ("add", "edit", "delete")


def report_json(report: StoredReport) -> dict[str, Any]:
    d = report.definition
    out: dict[str, Any] = {"reportname": report.name, "since": d["since"]}
    if d["since"] == "CUSTOM":
        out.update({"from": d["from"], "to": d["to"]})
    if d.get("aggregationInterval"):
        out["aggregationInterval"] = d["aggregationInterval"]
    return {**out, "queries": d["queries"], "metadata": d.get("metadata")}


def data_json(data: ReportData) -> dict[str, Any]:
    return {"report": {
        "reportname": data.name, "metadata": data.metadata, "time-slices": data.slice_ends,
        "report-data": [[{"resourceURI": uri, "metric-type": metric, "data": values}
                         for uri, metric, values in query] for query in data.queries]}}


def _definition(params: dict[str, str]) -> Any:
    raw = params.get("usagereport")
    if not raw:
        raise InvalidInput(INVALID, ["Pass the report's JSON in the 'usagereport' parameter."])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(INVALID, [f"'usagereport' is not valid JSON: {exc}"]) from None


def machines_filter(raw: str | None) -> tuple[str, ...] | None:
    """``filter`` as ArcGIS takes it: ``{"machines": "*"}`` (or none) for all machines, else a
    list (or a comma-separated string) of host names."""
    if not raw or not raw.strip():
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    machines = value.get("machines", "*") if isinstance(value, dict) else None
    given = machines if isinstance(machines, list) else [machines]
    if any(isinstance(m, str) and not storable_text(m) for m in given):
        machines = None         # no host has a NUL in its name (nor could the store be asked for one)
    if isinstance(machines, str):
        names = [m.strip() for m in machines.split(",") if m.strip()]
        return None if names in ([], ["*"]) else tuple(names)
    if isinstance(machines, list) and all(isinstance(m, str) for m in machines):
        return None if "*" in machines else tuple(m.strip() for m in machines if m.strip())
    raise InvalidInput("Unable to read the report's data.", [
        'filter must be {"machines": "*"} or {"machines": ["<host>", ...]}.'])


async def usage_reports_route(request: Request) -> Response:
    params = await read_params(request)
    try:
        claims = admin_caller(request, params)
        if not is_administrator(claims):
            raise Forbidden(FORBIDDEN)
        reports: UsageReports = request.app.state.usage_reports
        rest = [p for p in request.path_params.get("path", "").split("/") if p]
        if rest and rest[-1] in _CHANGES and request.method != "POST":
            raise InvalidInput(f"'{rest[-1]}' changes the server: send it as a POST.")
        if not rest:
            listed = [report_json(r) for r in await reports.list()]
            return admin_respond(request, {"metrics": listed}, params, "Usage reports")
        if rest == ["add"]:
            await reports.add(_definition(params), claims.user.name)
            return admin_respond(request, {"status": "success"}, params, "Usage report added")
        name, operation = rest[0], rest[1:]
        if not operation:
            return admin_respond(request, report_json(await reports.get(name)), params, f"Usage report {name}")
        if operation == ["edit"]:
            await reports.edit(name, _definition(params))
            return admin_respond(request, {"status": "success"}, params, f"Usage report {name} edited")
        if operation == ["delete"]:
            await reports.delete(name)
            return admin_respond(request, {"status": "success"}, params, f"Usage report {name} deleted")
        if operation == ["data"]:
            data = await reports.data(name, machines_filter(params.get("filter")))
            return admin_respond(request, data_json(data), params, f"Usage report {name}: data")
        raise NotFound(f"Resource 'usagereports/{'/'.join(rest)}' not found.")
    except Exception as exc:   # every failure in the admin error shape
        return admin_error_answer(request, exc, params)


routes = [
    Route("/arcgis/admin/usagereports", usage_reports_route, methods=["GET", "POST"]),
    Route("/arcgis/admin/usagereports/{path:path}", usage_reports_route, methods=["GET", "POST"]),
]
