"""The admin console's dashboard (``/arcgis/admin/console/dashboard``): jobs ended per minute by
status over the last hour, run-time percentiles per service and the latest failures (last day),
queue depth per service now.  Charts are SVG drawn here (kit/charts.py); the page re-fetches its
charts (``?part=charts``) every few seconds (web/static/dashboard.js), and ``f=json`` gives
the same figures to a program.

Who may see it, and what, is the console's rule (console.py): administrators every service,
publishers the services they administer; without a token, or with one expired, to sign in.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...jobs.activity import ENDS, PERCENTILES, Dashboard
from ..auth import is_administrator
from ..kit.answers import respond
from ..kit.charts import grouped_hbars, stacked_bars
from ..kit.esrijob import LABELS
from ..kit.html import frame, render, stamp
from .console import administered, console_caller
from .dialect import epoch_ms

REFRESH_SECONDS = 5
_P = tuple(f"p{round(q * 100)}" for q in PERCENTILES)


def _minute(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M")


def seconds(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"


def dashboard_json(d: Dashboard) -> dict[str, Any]:
    return {
        "time": epoch_ms(d.now),
        "jobsPerMinute": {"minutes": [epoch_ms(t) for t in d.minute_ends],
                          **{s.value: d.per_minute[s] for s in ENDS}},
        "durations": [{"service": x.service, "count": x.count, **dict(zip(_P, x.percentiles))} for x in d.durations],
        "queues": [{"service": q.service, "waiting": q.waiting, "running": q.running} for q in d.queues],
        "failures": [{"jobId": f.id, "service": f.service, "task": f.task, "status": f.status.value,
                      "time": epoch_ms(f.finished), "error": f.error, "url": _job_url(f.service, f.task, f.id)}
                     for f in d.failures]}


def _job_url(service: str, task: str, job_id: str) -> str:
    return f"/arcgis/rest/services/{service}/GPServer/{task}/jobs/{job_id}"


def charts(d: Dashboard) -> dict[str, Any]:
    """What the charts part of the page shows."""
    per_minute = stacked_bars("Jobs ended per minute, last hour (UTC)", [_minute(t - 60) for t in d.minute_ends],
                              {s.value: d.per_minute[s] for s in ENDS})
    durations = grouped_hbars("Run time percentiles per service, last 24 hours", [x.service for x in d.durations],
                              {p: [x.percentiles[i] for x in d.durations] for i, p in enumerate(_P)}, seconds)
    queues = grouped_hbars("Jobs waiting and running per service, now", [q.service for q in d.queues],
                           {"waiting": [float(q.waiting) for q in d.queues],
                            "running": [float(q.running) for q in d.queues]}, lambda v: f"{v:g}")
    return {"per_minute": per_minute, "durations": durations, "queues": queues,
            "ended": sum(sum(v) for v in d.per_minute.values()), "updated": stamp(d.now),
            "duration_rows": d.durations, "queue_rows": d.queues,
            "failures": [{"id": f.id, "service": f.service, "task": f.task, "label": LABELS[f.status],
                          "status": f.status.value, "time": stamp(f.finished), "error": f.error or "",
                          "url": _job_url(f.service, f.task, f.id) + "?f=html"} for f in d.failures]}


async def dashboard(request: Request) -> Response:
    params = dict(request.query_params)
    claims = console_caller(request, params)
    if isinstance(claims, Response):
        return claims
    services = None if is_administrator(claims) else tuple(administered(request, claims))
    d = await request.app.state.activity.dashboard(services)
    if params.get("f") in ("json", "pjson"):
        return respond(dashboard_json(d), params)
    if params.get("part") == "charts":
        return render("dashboard-charts.html", charts(d))
    ctx = frame(request, claims, "Dashboard", [("Services", "/arcgis/rest/services?f=html"),
                                               ("Admin console", "/arcgis/admin/console"), ("Dashboard", None)],
                json_url="/arcgis/admin/console/dashboard?f=json")
    return render("dashboard.html", {**ctx, **charts(d), "refresh": REFRESH_SECONDS})


routes = [Route("/arcgis/admin/console/dashboard", dashboard, methods=["GET"])]
