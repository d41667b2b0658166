"""The ArcGIS REST face's words: a canonical job as GP job JSON (the esriJob dialect), and
what ``execute`` answers when its tool did not succeed.

The esriJob status names and message types are shared with the admin API and the pages
(``kit/esrijob.py``); which error code each error type gets is the kit's table
(``kit/errors.py``).
"""
from __future__ import annotations

from typing import Any, Mapping

from ...core import Job, ShowMessages, Status
from ...tools.gptypes import flag
from ...tools.registry import Service
from ..kit.errors import rest_error_body
from ..kit.esrijob import JOB_STATUS, messages_json


def return_messages(params: Mapping[str, str]) -> bool:
    """``returnMessages`` of a job request: true unless it says false (a value that is neither
    is ignored, as ArcGIS ignores what it does not understand)."""
    return flag(params.get("returnMessages"), True) is not False


def job_json(job: Job, service: Service, *, return_messages: bool = True) -> dict[str, Any]:
    """The job resource of a job of ``service``.  ``results`` only once succeeded (as ArcGIS);
    ``progress`` only while executing; the messages the service's level shows."""
    out: dict[str, Any] = {"jobId": job.id, "jobStatus": JOB_STATUS[job.status]}
    if job.status is Status.SUCCEEDED and job.results is not None:
        out["results"] = {name: {"paramUrl": f"results/{name}"} for name in job.results}
    out["inputs"] = {name: {"paramUrl": f"inputs/{name}"} for name in input_names(job, service)}
    if job.status is Status.EXECUTING:
        p = job.progress
        progress: dict[str, Any] = {"type": "default", "message": p.message or p.stage or ""}
        if p.percent is not None:
            progress["type"] = "step"
            progress["percent"] = p.percent
        out["progress"] = progress
    if return_messages:
        out["messages"] = messages_json(job, service.config.show_messages)
    return out


def input_names(job: Job, service: Service) -> list[str]:
    """Every input parameter of the job's task, in task order, the ones the caller left unset
    too (ArcGIS lists each; its ``inputs/<name>`` answers the value the job ran with); the
    job's stored ones when its task is no longer published."""
    spec = service.tools.get(job.task)
    return [p.name for p in spec.inputs] if spec is not None else list(job.inputs)


def job_status_json(job: Job) -> dict[str, Any]:
    """What ``submitJob`` and ``cancel`` answer."""
    return {"jobId": job.id, "jobStatus": JOB_STATUS[job.status]}


def execute_timed_out() -> dict[str, Any]:
    return rest_error_body(504, "The operation timed out.", [
        "The tool did not finish within the service's maximum usage time."])


def execute_failed(job: Job, show: ShowMessages) -> dict[str, Any]:
    """``execute``'s error for a failed job: its errors as details, if its service's message
    level ``show`` lets errors through."""
    return rest_error_body(500, "Error executing tool.", show.errors(job) or ["Failed."])


def not_succeeded(job: Job) -> list[str]:
    """Why a job has no results yet."""
    return [f"Job '{job.id}' has not succeeded (status {JOB_STATUS[job.status]}); no results."]
