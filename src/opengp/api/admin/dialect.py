"""The admin API's words: an admin job's status names (``SUBMITTED`` .. ``COMPLETED``) and
its JSON.  Its per-service job queries speak esriJob (``kit/esrijob.py``); its error body and
codes are the kit's table (``kit/errors.py``).
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ...core import Job, Status

ADMIN_STATUS = {
    Status.NEW: "SUBMITTED", Status.SUBMITTED: "SUBMITTED", Status.WAITING: "SUBMITTED",
    Status.EXECUTING: "EXECUTING", Status.CANCELLING: "CANCELLING", Status.CANCELLED: "CANCELLED",
    Status.FAILED: "FAILED", Status.TIMED_OUT: "FAILED", Status.SUCCEEDED: "COMPLETED",
}
BY_ADMIN_STATUS: dict[str, set[Status]] = {}
for _status, _name in ADMIN_STATUS.items():
    BY_ADMIN_STATUS.setdefault(_name, set()).add(_status)


def epoch_ms(t: float | None) -> int:
    return 0 if t is None else int(t * 1000)


def operation_answer(job: Job) -> dict[str, Any]:
    """What an ended admin operation answers, in ArcGIS's operation-response shape: the body
    of the synchronous request, and the ``result`` of its job alike, so a client reads an
    asynchronous run as it reads a synchronous one (``{"status": "success", "service": {...}}``;
    ``{"status": "error", "messages": [...], "code": 400}`` when it failed or was cancelled, as
    ArcGIS's admin job puts a failed operation's response in it)."""
    if job.status is Status.SUCCEEDED:
        fields = (job.results or {}).get("result")
        return {"status": "success", **(fields if isinstance(fields, dict) else {})}
    if job.status is Status.CANCELLED:
        messages = ["The operation was cancelled; nothing was changed."]
    else:
        messages = [job.error or "The operation did not complete."]
    return {"status": "error", "messages": messages, "code": 400, "jobid": job.id}


def admin_job_json(request: Request, job: Job) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    out: dict[str, Any] = {
        "jobid": job.id, "requestID": job.request_id, "operationURI": job.operation_uri, "name": job.task,
        "resource": {"name": f"{job.service}.GPServer"}, "status": ADMIN_STATUS[job.status],
        "starttime": epoch_ms(job.started or job.created), "endtime": epoch_ms(job.finished),
        "updatedtime": epoch_ms(job.updated), "expires": epoch_ms(job.expires), "username": job.owner,
        "messages": [{"type": m.level.value.upper(), "time": epoch_ms(m.time), "message": m.text} for m in job.messages],
        "progress": {"percent": job.progress.percent, "stage": job.progress.stage,
                     "stages": [{"name": n, "state": s} for n, s in job.progress.stages]},
        "url": f"{base}/arcgis/admin/jobs/{job.id}",
    }
    if job.status.terminal:
        out["result"] = operation_answer(job)
    if job.error:
        out["error"] = job.error
    return out
