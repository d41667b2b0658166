"""Canonical job -> product job JSON (the Production Mapping dialect).

Unlike the rest of ArcGIS REST: times are ISO-8601 UTC strings,
``percentComplete`` is a fraction 0..1, messages come grouped by level, and
``status`` is a word with a numeric ``statusCode`` (the esriJob order).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ...core import Job, Level, Status

STATUS = {
    Status.NEW: ("New", 0),
    Status.SUBMITTED: ("Submitted", 1),
    Status.WAITING: ("Waiting", 2),
    Status.EXECUTING: ("InProgress", 3),
    Status.SUCCEEDED: ("Succeeded", 4),
    Status.FAILED: ("Failed", 5),
    Status.TIMED_OUT: ("TimedOut", 6),
    Status.CANCELLING: ("Canceling", 7),
    Status.CANCELLED: ("Canceled", 8),
}
# statusCode -> canonical status; 9 Deleting, 10 Deleted and 100-103 (pause/resume)
# are valid codes that no opengp job ever has
BY_CODE: dict[int, Status | None] = {code: status for status, (_, code) in STATUS.items()}
BY_CODE.update({9: None, 10: None, 100: None, 101: None, 102: None, 103: None})

GROUPS = {Level.INFO: "informative", Level.WARNING: "warning", Level.ERROR: "error"}
# msgLevel -> the levels shown; errors always are
MSG_LEVELS = {
    "info": (Level.INFO, Level.WARNING, Level.ERROR),
    "warn": (Level.WARNING, Level.ERROR),
    "warning": (Level.WARNING, Level.ERROR),
    "error": (Level.ERROR,),
}
DEFAULT_MSG_LEVEL = "info"


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent_complete(job: Job) -> float:
    if job.status is Status.SUCCEEDED:
        return 1.0
    percent = job.progress.percent
    return round(min(max(percent or 0.0, 0.0), 100.0) / 100.0, 4)


def output_url(job: Job) -> str | None:
    """The product file's URL once the job succeeded."""
    if job.status is not Status.SUCCEEDED or not job.results:
        return None
    for result in job.results.values():      # {name: {"dataType", "value": {"url": ...}}}
        value = result.get("value") if isinstance(result, dict) else None
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            return value["url"]
    return None


def product_job_json(job: Job, msg_level: str = DEFAULT_MSG_LEVEL) -> dict[str, Any]:
    word, code = STATUS[job.status]
    request = job.options.get("product") or {}
    shown = MSG_LEVELS[msg_level]
    messages: dict[str, list[str]] = {GROUPS[level]: [] for level in shown}
    for m in job.messages:
        if m.level in shown:
            messages[GROUPS[m.level]].append(m.text)
    return {
        "status": word,
        "statusCode": code,
        "submissionTime": iso(job.created),
        "lastUpdatedTime": iso(job.updated),
        "percentComplete": percent_complete(job),
        "aoiLayer": request.get("aoiLayer") or "",     # a custom AOI has none: "", as ArcGIS shows it
        "aoiFeatureId": request.get("aoiFeatureId"),
        "outputUrl": output_url(job),
        "user": job.owner,
        "jobId": job.id,
        "productName": job.inputs.get("productName"),
        "productVersion": job.inputs.get("productVersion"),
        "outputType": str(job.inputs.get("outputType", "")).upper(),
        "messages": messages,
    }
