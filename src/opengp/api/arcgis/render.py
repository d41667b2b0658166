"""Canonical job -> GP job JSON (the esriJob dialect)."""
from __future__ import annotations

from typing import Any, Mapping

from ...core import Job, Level, Status
from ...tools.gptypes import flag

JOB_STATUS = {
    Status.NEW: "esriJobNew",
    Status.SUBMITTED: "esriJobSubmitted",
    Status.WAITING: "esriJobWaiting",
    Status.EXECUTING: "esriJobExecuting",
    Status.SUCCEEDED: "esriJobSucceeded",
    Status.FAILED: "esriJobFailed",
    Status.TIMED_OUT: "esriJobTimedOut",
    Status.CANCELLING: "esriJobCancelling",
    Status.CANCELLED: "esriJobCancelled",
}
MESSAGE_TYPE = {
    Level.INFO: "esriJobMessageTypeInformative",
    Level.WARNING: "esriJobMessageTypeWarning",
    Level.ERROR: "esriJobMessageTypeError",
}


def messages_json(job: Job) -> list[dict[str, str]]:
    return [{"type": MESSAGE_TYPE[m.level], "description": m.text} for m in job.messages]


def return_messages(params: Mapping[str, str]) -> bool:
    """``returnMessages`` of a job request: true unless it says false (a value that is neither
    is ignored, as ArcGIS ignores what it does not understand)."""
    return flag(params.get("returnMessages"), True) is not False


def job_json(job: Job, *, return_messages: bool = True) -> dict[str, Any]:
    """The job resource.  ``results`` only once succeeded (as ArcGIS);
    ``progress`` only while executing."""
    out: dict[str, Any] = {"jobId": job.id, "jobStatus": JOB_STATUS[job.status]}
    if job.status is Status.SUCCEEDED and job.results is not None:
        out["results"] = {name: {"paramUrl": f"results/{name}"} for name in job.results}
    out["inputs"] = {name: {"paramUrl": f"inputs/{name}"} for name in job.inputs}
    if job.status is Status.EXECUTING:
        p = job.progress
        progress: dict[str, Any] = {"type": "default", "message": p.message or p.stage or ""}
        if p.percent is not None:
            progress["type"] = "step"
            progress["percent"] = p.percent
        out["progress"] = progress
    if return_messages:
        out["messages"] = messages_json(job)
    return out
