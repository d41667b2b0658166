"""GET /ogcapi/jobs: the job-list class (type, processID, status, datetime, minDuration,
maxDuration, limit, and offset for the next/prev links), over the same indexed store
query as the admin face's ``jobs/query``."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ...auth import Scope
from ...core import Kind, Status
from ...store import JobQuery
from . import processes as P
from .common import answer, claims_of, face_url, route, status_info
from .dialect import OGC_STATUS, Problem

MAX_LIMIT = 10_000         # the most a page (of jobs, of processes) holds
MAX_OFFSET = 2**31 - 1     # the largest offset taken


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be a whole number.") from None
    if not low <= value <= high:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be between {low} and {high}.")
    return value


def _values(request: Request, name: str) -> list[str]:
    """A list parameter, repeated (``status=a&status=b``) or comma-separated."""
    return [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]


def _instant(text: str, name: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be RFC 3339 date-times.",
                      f"Not a date-time: {text!r}.") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _datetime(request: Request) -> tuple[float | None, float | None]:
    """``datetime``: an instant, or an interval ``a/b`` with ``..`` (or nothing) for an open end."""
    raw = (request.query_params.get("datetime") or "").strip()
    if not raw:
        return None, None
    if "/" not in raw:
        t = _instant(raw, "datetime")
        return t - _HALF_US, t + _HALF_US
    start, _, end = raw.partition("/")
    after = None if start in ("", "..") else _instant(start, "datetime") - _HALF_US
    before = None if end in ("", "..") else _instant(end, "datetime") + _HALF_US
    return after, before


_HALF_US = 5e-7     # jobs show times to the microsecond: a bound taken from one includes that job


def _seconds(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must be a whole number of seconds.") from None
    if value < 0:
        raise Problem(400, "invalid-query-parameter-value", f"'{name}' must not be negative.")
    return float(value)


@route
async def job_list(request: Request) -> Response:
    """The job-list class: type, processID, status, datetime, minDuration, maxDuration, limit
    (and offset for the next/prev links), over the same indexed store query as the admin face.
    Callers see their own jobs (``jobs:read:any``: all).  Anonymous callers see none: an
    anonymous job is protected only by its unguessable id (auth/access.py), which a list
    would hand to anyone; its submitter reads it by that id."""
    claims = claims_of(request)
    limit = int_param(request, "limit", 10, 1, MAX_LIMIT)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    statuses: set[Status] = set()
    for name in _values(request, "status"):
        matched = {s for s, o in OGC_STATUS.items() if o == name}
        if not matched:
            raise Problem(400, "invalid-query-parameter-value", f"Unknown status '{name}'.",
                          "Use accepted, running, successful, failed or dismissed.")
        statuses |= matched
    min_duration, max_duration = _seconds(request, "minDuration"), _seconds(request, "maxDuration")
    if not statuses and (min_duration is not None or max_duration is not None):
        statuses = {s for s, o in OGC_STATUS.items() if o in ("running", "successful", "failed", "dismissed")}
    types = _values(request, "type")
    registry = request.app.state.jobs.registry
    pids = _values(request, "processID")
    processes = None
    if pids:
        found = [P.find(registry, pid) for pid in pids]
        processes = tuple((s.key, t.name) for s, t in (f for f in found if f is not None))
    if types and "process" not in types:
        processes = ()              # every job here is a process execution: no other type matches
    after, before = _datetime(request)
    owner = None
    if claims is not None and Scope.JOBS_READ_ANY not in claims.scopes:
        owner = claims.user.name
    q = JobQuery(kind=Kind.GP.value, statuses=frozenset(statuses) or None, owner=owner,
                 processes=processes, created_after=after, created_before=before,
                 min_duration=min_duration, max_duration=max_duration, offset=offset, limit=limit)
    total, page = (0, []) if claims is None else await request.app.state.jobs.query_async(q)
    base_url = face_url(request)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "f")]

    def at(start: int) -> str:
        return f"{base_url}/jobs?" + urlencode(kept + [("offset", str(start))])

    links = [{"href": at(offset), "rel": "self", "type": "application/json", "title": "This page"},
             {"href": at(offset) + "&f=html", "rel": "alternate", "type": "text/html", "title": "As HTML"}]
    if offset + len(page) < total:
        links.append({"href": at(offset + limit), "rel": "next", "type": "application/json", "title": "Older"})
    if offset > 0:
        links.append({"href": at(max(0, offset - limit)), "rel": "prev", "type": "application/json",
                      "title": "Newer"})
    jobs = [status_info(j, base_url, registry.show_messages(j.service)) for j in page]
    return answer(request, {"jobs": jobs, "links": links}, "Jobs")
