"""``/arcgis/admin/logs``: the server log kept in the store (``jobs/logs.py``), as ArcGIS
Server's administrator API shapes it: ``logs`` (its resources), ``logs/query``,
``logs/settings`` (read; ``edit`` is refused: the settings are the configuration's) and
``logs/clean``.  Administrators only (ArcGIS's default administrator role; a publisher's
admin scope does not reach it).

``logs/query`` takes ArcGIS's parameters: ``startTime`` (the MOST RECENT time, default now)
and ``endTime`` (the oldest, default the beginning), ``sinceServerStart``, ``level`` (records
at that level and above: SEVERE, WARNING, INFO, FINE, VERBOSE, DEBUG; default WARNING),
``filterType=json`` with ``filter`` (``services``, ``machines``, ``processIds``,
``requestIds``; and opengp's ``jobIds``; ``server`` is accepted and ignored: one server
role here), ``pageSize`` (default 1000, at most 10000); opengp also takes ``jobId``.  The
answer is ArcGIS's: ``hasMore``, ``startTime``, ``endTime`` (with ``hasMore``, the next
page's ``startTime``) and ``logMessages`` (``type``, ``message``, ``time``, ``source``,
``machine``, ``user``, ``code``, ``elapsed``, ``process``, ``thread``, ``methodName``,
``requestID``; and opengp's ``jobID``).
"""
from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...core import Forbidden, InvalidInput, NotAllowed, NotFound
from ...jobs.logs import LogPage, ServerLog
from ...store.logs import LogQuery, LogRecord
from ...store.tables import INT4_MAX, storable_text
from ...system.logsetup import LEVELS, level_name
from ..auth import admin_caller, is_administrator
from ..kit.html import admin_error_answer
from ..kit.params import read_params
from .common import admin_respond
from .jobs import parse_time, whole_number

QUERY_FAILED = "Unable to query the logs."
MAX_PAGE = 10_000               # ArcGIS's limit of pageSize
_FILTERS = {"services": "services", "machines": "machines", "processIds": "processes",
            "requestIds": "request_ids", "jobIds": "job_ids"}
_IGNORED = {"server"}           # ArcGIS's server roles: one here
MAX_VALUES = 1000               # values a filter list may hold


async def logs_route(request: Request) -> Response:
    params = await read_params(request)
    try:
        claims = admin_caller(request, params)
        if not is_administrator(claims):
            raise Forbidden(f"User '{claims.user.name}' is not authorized to read the server logs; "
                            "administrators only.")
        server_log: ServerLog = request.app.state.logs
        rest = [p for p in request.path_params.get("path", "").split("/") if p]
        if not rest:
            return admin_respond(request, {"resources": ["settings"], "operations": ["query", "clean"]},
                                 params, "Logs")
        if rest == ["query"]:
            query, since_start = parse_query(params)
            page = await server_log.page(query, since_start)
            return admin_respond(request, page_json(page), params, "Log query")
        if rest == ["settings"]:
            return admin_respond(request, {"settings": server_log.describe()}, params, "Log settings")
        if rest == ["settings", "edit"]:
            _post_only(request, "edit")
            # every server and worker reads these at start: one edit here could not reach them all
            raise NotAllowed("Unable to edit the log settings.", [
                "The log settings are the configuration's (log_store_level, log_store_rows, log_store_days, "
                "log_format in [server] or OPENGP_* variables); change them there and restart the servers "
                "and workers."])
        if rest == ["clean"]:
            _post_only(request, "clean")
            await server_log.clean()
            return admin_respond(request, {"status": "success"}, params, "Clean logs")
        raise NotFound(f"Resource 'logs/{'/'.join(rest)}' not found.")
    except Exception as exc:   # every failure in the admin error shape
        return admin_error_answer(request, exc, params)


def _post_only(request: Request, name: str) -> None:
    if request.method != "POST":
        raise InvalidInput(f"'{name}' changes the logs: send it as a POST.")


def parse_query(params: dict[str, str]) -> tuple[LogQuery, bool]:
    """``logs/query``'s parameters (module docstring) as a LogQuery, and ``sinceServerStart``."""
    level_text = (params.get("level") or "WARNING").strip().upper()
    if level_text not in LEVELS:
        raise InvalidInput(QUERY_FAILED, [f"Unknown level {level_text!r}; use one of {', '.join(LEVELS)}."])
    newest = _ms("startTime", params)
    oldest = _ms("endTime", params)
    if newest is not None and oldest is not None and newest < oldest:
        raise InvalidInput(QUERY_FAILED, [
            "'startTime' is the most recent time to query and 'endTime' the oldest (ArcGIS's order): "
            "startTime must not be before endTime."])
    since = (params.get("sinceServerStart") or "false").strip().lower()
    if since not in ("true", "false"):
        raise InvalidInput(QUERY_FAILED, [f"'sinceServerStart' is true or false, not {since!r}."])
    filters = _filters(params)
    job_id = (params.get("jobId") or "").strip()
    if not storable_text(job_id):
        raise InvalidInput(QUERY_FAILED, ["'jobId' must not hold a NUL character."])
    if job_id:
        filters["job_ids"] = (*filters.get("job_ids", ()), job_id)
    size = whole_number(params, "pageSize", 1000, 1, MAX_PAGE, QUERY_FAILED)
    return LogQuery(level=LEVELS[level_text], newest=newest, oldest=oldest, limit=size, **filters), since == "true"


def _ms(name: str, params: dict[str, str]) -> int | None:
    raw = (params.get(name) or "").strip()
    return None if not raw else int(parse_time(name, raw, QUERY_FAILED) * 1000)


def _filters(params: dict[str, str]) -> dict[str, Any]:
    """``filter`` (JSON, ``filterType=json``): each property a list (or one value)."""
    kind = (params.get("filterType") or "json").strip().lower()
    if kind != "json":
        raise InvalidInput(QUERY_FAILED, [f"'filterType' must be json, not {kind!r}."])
    raw = (params.get("filter") or "").strip()
    if not raw:
        return {}
    try:
        given = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(QUERY_FAILED, [f"'filter' is not valid JSON: {exc}"]) from None
    if not isinstance(given, dict):
        raise InvalidInput(QUERY_FAILED, ["'filter' must be a JSON object, such as "
                                          '{"services": ["Folder/Name.GPServer"], "jobIds": ["j..."]}.'])
    unknown = sorted(set(given) - set(_FILTERS) - _IGNORED)
    if unknown:
        raise InvalidInput(QUERY_FAILED, [f"Unknown filter propert{'ies' if len(unknown) > 1 else 'y'} "
                                          f"{', '.join(unknown)}; use {', '.join(_FILTERS)}."])
    found: dict[str, Any] = {}
    for key, field in _FILTERS.items():
        values = given.get(key)
        if values is None or values == "*":         # ArcGIS's "all"
            continue
        values = values if isinstance(values, list) else [values]
        if len(values) > MAX_VALUES or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise InvalidInput(QUERY_FAILED, [f"'{key}' must be a list of at most {MAX_VALUES} names."])
        if any(isinstance(v, str) and not storable_text(v) for v in values):
            raise InvalidInput(QUERY_FAILED, [f"'{key}' must not hold a NUL character."])
        if key == "processIds":
            found[field] = _process_numbers(values)
        elif key == "services":     # "Folder/Name.GPServer", as ArcGIS names a service, or its key
            found[field] = tuple(str(v).removesuffix(".GPServer") for v in values)
        else:
            found[field] = tuple(str(v) for v in values)
    return found


def _process_numbers(values: list[Any]) -> tuple[int, ...]:
    """``processIds`` as numbers the logs' process column can hold (PostgreSQL's integer): a
    larger one is refused here, not sent to fail the query."""
    try:
        numbers = tuple(int(v) for v in values)
    except ValueError:
        numbers = None
    if numbers is None or not all(0 <= n <= INT4_MAX for n in numbers):
        raise InvalidInput(QUERY_FAILED, [f"'processIds' must be process numbers (0 to {INT4_MAX})."])
    return numbers


def page_json(page: LogPage) -> dict[str, Any]:
    return {"hasMore": page.has_more, "startTime": page.newest, "endTime": page.oldest,
            "logMessages": [message_json(r) for r in page.records]}


def message_json(r: LogRecord) -> dict[str, Any]:
    """One record as ArcGIS's ``logMessages`` item: a service's lines have the service as
    their ``source`` (``Folder/Name.GPServer``), others the logger; opengp has no message
    codes (0) and keeps no elapsed time (\"\")."""
    return {"type": level_name(r.level), "message": r.message, "time": r.time,
            "source": f"{r.service}.GPServer" if r.service else r.logger, "machine": r.machine,
            "user": r.username or "", "code": 0, "elapsed": "", "process": str(r.process), "thread": r.thread,
            "methodName": r.method, "requestID": r.request_id or "", "jobID": r.job_id or ""}


routes = [
    Route("/arcgis/admin/logs", logs_route, methods=["GET", "POST"]),
    Route("/arcgis/admin/logs/{path:path}", logs_route, methods=["GET", "POST"]),
]
