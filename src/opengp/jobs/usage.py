"""Usage reports, as ArcGIS Enterprise's administrator API has them (``usagereports``, 10.3+): what
a report definition must be, and its data computed from the jobs (store/usage.py); the admin face
reads the requests and words the answers (api/admin/usagereports.py).

A definition keeps ArcGIS's fields: ``reportname``, ``since`` (LAST_DAY, LAST_WEEK, LAST_MONTH,
LAST_YEAR or CUSTOM with ``from``/``to`` in epoch milliseconds), ``aggregationInterval`` (minutes;
ArcGIS's defaults when left out), ``queries`` (``resourceURIs``: ``services/`` for the site,
``services/<folder>`` for a folder, ``services/[<folder>/]<name>.GPServer`` for a service;
``metrics``) and ``metadata`` (any JSON, kept as given).

A job is a request, counted in the slice it ended in.  ``RequestsFailed`` counts the jobs that
failed or timed out (both are FAILED in the admin dialect), ``RequestsTimedOut`` those that timed
out; response times are run times (started to finished) and wait times queue waits (created to
started), in seconds as ArcGIS Server Manager charts them; ``null`` where no job ran in the slice.
``ServiceRunningInstancesMax`` is refused: the jobs' rows hold no sampled instance counts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..core import InvalidInput, NotFound
from ..core.status import Status
from ..core.times import within_dates
from ..store.reports import ReportStore, StoredReport
from ..store.tables import storable_text
from ..store.usage import FAILED_STATUSES, MAX_SLICES, Ended, UsageStore, Window
from .publishing import ServiceManager
from .service import JobService

INVALID = "Invalid usage report."
DAY = 86400.0
SPANS = {"LAST_DAY": DAY, "LAST_WEEK": 7 * DAY, "LAST_MONTH": 30 * DAY, "LAST_YEAR": 365 * DAY}
# ArcGIS's aggregationInterval (minutes) when a report names none; CUSTOM: by its span
DEFAULT_INTERVAL = {"LAST_DAY": 30, "LAST_WEEK": 240, "LAST_MONTH": 1440, "LAST_YEAR": 10080}
COUNTS = ("RequestCount", "RequestsFailed", "RequestsTimedOut")
TIMES = ("RequestMaxResponseTime", "RequestAvgResponseTime", "RequestAvgWaitTime", "RequestMaxWaitTime",
         "RequestMinWaitTime")
METRICS = COUNTS + TIMES
NOT_KEPT = {"ServiceRunningInstancesMax", "ServiceActiveInstances"}
SITE = "services/"
RESERVED = {"add", "settings"}        # usagereports/<these> are not reports (a report's name is its URL)


@dataclass(frozen=True, slots=True)
class ReportData:
    """A report's data: the end of each slice (epoch ms), and per query a series per resource and
    metric, in the query's order."""

    name: str
    metadata: Any
    slice_ends: list[int]
    queries: list[list[tuple[str, str, list[float | int | None]]]]


def default_interval(since: str, span: float) -> int:
    """ArcGIS's default aggregation interval in minutes (CUSTOM: 30 up to a day, 4 hours up to a
    week, a day up to 30 days, a week beyond)."""
    if since in DEFAULT_INTERVAL:
        return DEFAULT_INTERVAL[since]
    for limit, minutes in ((DAY, 30), (7 * DAY, 240), (30 * DAY, 1440)):
        if span <= limit:
            return minutes
    return 10080


class UsageReports:
    def __init__(self, reports: ReportStore, usage: UsageStore, jobs: JobService, services: ServiceManager) -> None:
        self.reports, self.usage, self.jobs, self.services = reports, usage, jobs, services

    async def list(self) -> list[StoredReport]:
        return await self.jobs.io(self.reports.list)

    async def get(self, name: str) -> StoredReport:
        report = await self.jobs.io(self.reports.get, name)
        if report is None:
            raise NotFound(f"Usage report '{name}' does not exist.")
        return report

    async def add(self, raw: Any, who: str | None) -> StoredReport:
        name, definition = self.checked(raw)
        now = time.time()
        report = StoredReport(name, definition, who, now, now)
        await self.jobs.io(self.reports.add, report)
        return report

    async def edit(self, name: str, raw: Any) -> StoredReport:
        """The whole definition again (ArcGIS's edit); the name cannot change."""
        report = await self.get(name)
        if isinstance(raw, dict) and raw.get("reportname") in (None, ""):
            raw = {**raw, "reportname": name}
        new_name, definition = self.checked(raw)
        if new_name != name:
            raise InvalidInput(INVALID, [f"A usage report cannot be renamed: 'reportname' must stay '{name}'."])
        report = report.evolve(definition=definition, updated=time.time())
        await self.jobs.io(self.reports.replace, report)
        return report

    async def delete(self, name: str) -> None:
        if not await self.jobs.io(self.reports.remove, name):
            raise NotFound(f"Usage report '{name}' does not exist.")

    # -- the definition --------------------------------------------------------------------
    def checked(self, raw: Any) -> tuple[str, dict[str, Any]]:
        """``(name, definition)`` of a report from its JSON (ArcGIS's ``usagereport``), every
        field checked; InvalidInput saying each thing wrong."""
        if not isinstance(raw, dict):
            raise InvalidInput(INVALID, ["'usagereport' must be a JSON object."])
        problems: list[str] = []
        name = raw.get("reportname")
        if not isinstance(name, str) or not name.strip() or len(name) > 255 or "/" in name or not storable_text(name):
            problems.append("'reportname' is required: 1 to 255 characters, no '/' and no NUL.")
        elif name.strip() in RESERVED:
            problems.append(f"'{name.strip()}' names an operation of usagereports: choose another reportname.")
        since = str(raw.get("since") or "LAST_DAY").strip().upper()
        definition: dict[str, Any] = {"since": since}
        if since == "CUSTOM":
            start, end = _millis(raw.get("from"), "from", problems), _millis(raw.get("to"), "to", problems)
            if start is not None and end is not None and end <= start:
                problems.append("'to' must come after 'from'.")
            definition.update({"from": start, "to": end})
        elif since not in SPANS:
            problems.append(f"'since' must be one of {', '.join([*SPANS, 'CUSTOM'])}, not {raw.get('since')!r}.")
        interval = raw.get("aggregationInterval")
        if interval not in (None, ""):
            try:
                minutes = int(str(interval))
                if minutes < 1:
                    raise ValueError
                definition["aggregationInterval"] = minutes
            except ValueError:
                problems.append(f"'aggregationInterval' must be a whole number of minutes, not {interval!r}.")
        definition["queries"] = self._queries(raw.get("queries"), problems)
        definition["metadata"] = raw.get("metadata")
        if not problems:
            span, minutes = _span(definition, time.time())
            if span / (minutes * 60) > MAX_SLICES:
                problems.append(f"The report would have {int(span / (minutes * 60))} time slices; at most "
                                f"{MAX_SLICES}: choose a longer aggregationInterval or a shorter time range.")
        if problems:
            raise InvalidInput(INVALID, problems)
        return name.strip(), definition         # type: ignore[union-attr]

    def _queries(self, raw: Any, problems: list[str]) -> list[dict[str, list[str]]]:
        if not isinstance(raw, list) or not raw:
            problems.append("'queries' must be a list of {\"resourceURIs\": [...], \"metrics\": [...]}.")
            return []
        out = []
        for i, query in enumerate(raw):
            if not isinstance(query, dict):
                problems.append(f"queries[{i}] must be an object with resourceURIs and metrics.")
                continue
            resources = _names(query.get("resourceURIs"))
            metrics = _names(query.get("metrics"))        # the arcgis package sends "A,B" as one
            if not resources:
                problems.append(f"queries[{i}] names no resourceURIs.")
            for uri in resources:
                why = self._resource_problem(uri)
                if why:
                    problems.append(why)
            if not metrics:
                problems.append(f"queries[{i}] names no metrics.")
            for metric in metrics:
                if metric in NOT_KEPT:
                    problems.append(f"The metric '{metric}' is not available: opengp keeps no sampled "
                                    "instance counts.")
                elif metric not in METRICS:
                    problems.append(f"Unknown metric '{metric}': one of {', '.join(METRICS)}.")
            out.append({"resourceURIs": [_canonical(u) for u in resources], "metrics": metrics})
        return out

    def _resource_problem(self, uri: str) -> str | None:
        try:
            self.resolve(_canonical(uri))
        except NotFound as exc:
            return exc.message
        return None

    def resolve(self, uri: str) -> tuple[str, ...] | None:
        """The service keys a canonical resource URI stands for (None: the whole site)."""
        if uri == SITE:
            return None
        path = uri[len(SITE):].strip("/")
        keys = [r.key for r in self.services.records()]
        if path.endswith(".GPServer"):
            key = path[: -len(".GPServer")]
            if key in keys:
                return (key,)
            raise NotFound(f"Resource '{uri}' does not exist: no GP service '{key}'.")
        if "." in path.rpartition("/")[2]:
            raise NotFound(f"Resource '{uri}' does not exist: this server has GP services only (.GPServer).")
        inside = tuple(k for k in keys if k.startswith(path + "/"))
        if not inside:
            raise NotFound(f"Resource '{uri}' does not exist: no folder '{path}' with services.")
        return inside

    # -- the data --------------------------------------------------------------------------
    async def data(self, name: str, machines: tuple[str, ...] | None = None) -> ReportData:
        """The report's data now (``machines``: only what ran on these hosts)."""
        report = await self.get(name)
        d = report.definition
        now = time.time()
        span, minutes = _span(d, now)
        end = d["to"] / 1000 if d["since"] == "CUSTOM" else now
        resolved = {uri: self._resolved_or_none(uri) for q in d["queries"] for uri in q["resourceURIs"]}
        scopes = list(resolved.values())
        services = None if None in scopes else tuple(sorted({k for keys in scopes if keys for k in keys}))
        window = Window(end - span, end, minutes * 60.0, services, machines)
        rows = await self.jobs.io(self.usage.ended, window)
        n = window.slices
        ends = [int(min(window.start + (i + 1) * window.interval, window.end) * 1000) for i in range(n)]
        queries = []
        for q in d["queries"]:
            series = []
            for uri in q["resourceURIs"]:
                keys = resolved[uri]
                by_slice: list[list[Ended]] = [[] for _ in range(n)]
                for r in rows:
                    if (keys is None or r.service in keys) and 0 <= r.slice < n:
                        by_slice[r.slice].append(r)
                series += [(uri, metric, [metric_value(metric, got) for got in by_slice]) for metric in q["metrics"]]
            queries.append(series)
        return ReportData(report.name, d.get("metadata"), ends, queries)

    def _resolved_or_none(self, uri: str) -> tuple[str, ...] | None:
        """A resource's services now (None: the site); one deleted since the report was made
        counts nothing."""
        try:
            return self.resolve(uri)
        except NotFound:
            return ()


def metric_value(metric: str, rows: list[Ended]) -> float | int | None:
    """One metric of one slice from its rows (every service and status the resource has)."""
    if metric == "RequestCount":
        return sum(r.count for r in rows)
    if metric == "RequestsFailed":
        return sum(r.count for r in rows if r.status in FAILED_STATUSES)
    if metric == "RequestsTimedOut":
        return sum(r.count for r in rows if r.status is Status.TIMED_OUT)
    ran = [r for r in rows if r.ran]
    if not ran:
        return None
    if metric == "RequestMaxResponseTime":
        return max(r.run_max for r in ran if r.run_max is not None)
    if metric == "RequestAvgResponseTime":
        return sum(r.run_total for r in ran) / sum(r.ran for r in ran)
    if metric == "RequestAvgWaitTime":
        return sum(r.wait_total for r in ran) / sum(r.ran for r in ran)
    if metric == "RequestMaxWaitTime":
        return max(r.wait_max for r in ran if r.wait_max is not None)
    if metric == "RequestMinWaitTime":
        return min(r.wait_min for r in ran if r.wait_min is not None)
    raise ValueError(metric)


def _span(definition: dict[str, Any], now: float) -> tuple[float, int]:
    """``(seconds the report covers, its interval in minutes)``."""
    since = definition["since"]
    span = (definition["to"] - definition["from"]) / 1000 if since == "CUSTOM" else SPANS[since]
    return span, definition.get("aggregationInterval") or default_interval(since, span)


def _millis(value: Any, field: str, problems: list[str]) -> int | None:
    """A CUSTOM report's ``from`` or ``to``: epoch milliseconds from 1970 to the year 9999 (past
    it, a span would not fit a float)."""
    try:
        ms = int(str(value))
        if ms < 0 or not within_dates(ms // 1000):
            raise ValueError
        return ms
    except ValueError:
        problems.append(f"'{field}' must be a time in milliseconds since the epoch, from 1970 to the year "
                        f"9999, when 'since' is CUSTOM, not {str(value)[:40]!r}.")
        return None


def _names(value: Any) -> list[str]:
    """A list of names, or one comma-separated string of them, as the clients send either."""
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return [n.strip() for item in items if isinstance(item, str) for n in item.split(",") if n.strip()]


def _canonical(uri: str) -> str:
    """``services/...`` as ArcGIS writes it: ``/services/Folder/`` and ``Name.GPServer`` (the root
    folder's) alike."""
    path = uri.strip().strip("/")
    if path == "services":
        return SITE
    if path.startswith("services/"):
        path = path[len("services/"):]
    return SITE + path.strip("/")
