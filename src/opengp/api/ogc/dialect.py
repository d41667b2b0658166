"""The OGC face's words: a job's status in OGC API - Processes, the link relations, and the
problem (RFC 7807) it answers with; which problem each opengp error becomes is the kit's table
(``kit/errors.py``)."""
from __future__ import annotations

from starlette.responses import Response

from ...core import Status
from ..kit.errors import ogc_problem, problem

REL = "http://www.opengis.net/def/rel/ogc/1.0/"
OGC_STATUS = {
    Status.NEW: "accepted", Status.SUBMITTED: "accepted", Status.WAITING: "accepted",
    Status.EXECUTING: "running", Status.CANCELLING: "running", Status.SUCCEEDED: "successful",
    Status.FAILED: "failed", Status.TIMED_OUT: "failed", Status.CANCELLED: "dismissed",
}


class Problem(Exception):
    """An error answered as a problem body: HTTP ``status``, OGC exception ``kind``
    (the last part of its type URI, or a whole URI), ``title`` and ``detail``."""

    def __init__(self, status: int, kind: str, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


def problem_response(exc: Exception, instance: str) -> Response:
    """``exc`` (a ``Problem``, an opengp error, or a bug) as a problem body."""
    if isinstance(exc, Problem):
        return problem(exc.status, exc.kind, exc.title, exc.detail, instance)
    return ogc_problem(exc, instance)
