"""What a log line is about: the HTTP request being served and the job being run.

Two context variables, set by the HTTP layer (``api/envelope.py``: every request's id) and
by whoever runs a job (``runtime.run_job``, the executors: :func:`job_scope`).  The logging
set-up (``logsetup.py``) stamps them on every record as it is made, so any logger's line (a
tool's own, the runtime's, a library's) carries ``job_id`` and ``request_id`` without the
caller passing them.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

# an incoming X-Request-Id is kept when it is this sane (a proxy's or a client's id), else replaced
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@dataclass(frozen=True, slots=True)
class JobScope:
    """The job a line is about: its id, the request that submitted it, its service and owner."""

    job_id: str
    request_id: str | None = None
    service: str | None = None
    user: str | None = None


REQUEST_ID: ContextVar[str | None] = ContextVar("opengp_request_id", default=None)
JOB: ContextVar[JobScope | None] = ContextVar("opengp_job", default=None)


def new_request_id() -> str:
    """32 random hex digits (``os.urandom``: a sixth of ``uuid4``'s cost, on every request)."""
    return os.urandom(16).hex()


def sane_request_id(raw: str | None) -> str | None:
    """``raw`` if it may stand as a request id (1-64 letters, digits and ``._:-``), else None."""
    return raw if raw is not None and _SANE.fullmatch(raw) else None


def current_request_id() -> str | None:
    """The id of the request being served here (None outside a request)."""
    return REQUEST_ID.get()


@contextlib.contextmanager
def job_scope(job_id: str, request_id: str | None = None, service: str | None = None,
              user: str | None = None) -> Iterator[JobScope]:
    """Lines logged inside are about this job (and, when given, the request that submitted it)."""
    scope = JobScope(job_id, request_id, service, user)
    token = JOB.set(scope)
    try:
        yield scope
    finally:
        JOB.reset(token)
