"""The esriJob words of a job: its status and its messages' types.

Shared by the REST face (``jobStatus``), the admin API's per-service job queries and the pages
(their status labels), so they belong to no face.
"""
from __future__ import annotations

from ...core import Job, Level, ShowMessages, Status

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
LABELS = {s: name.removeprefix("esriJob") for s, name in JOB_STATUS.items()}    # "Succeeded", for people
MESSAGE_TYPE = {
    Level.INFO: "esriJobMessageTypeInformative",
    Level.WARNING: "esriJobMessageTypeWarning",
    Level.ERROR: "esriJobMessageTypeError",
}


def messages_json(job: Job, show: ShowMessages) -> list[dict[str, str]]:
    """The job's messages that ``show`` (its service's message level) lets through."""
    return [{"type": MESSAGE_TYPE[m.level], "description": m.text} for m in show.messages(job)]
