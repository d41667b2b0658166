"""What a log line is about: the HTTP request being served and the job being run.

Two context variables, set by the HTTP layer (``api/envelope.py``: every request's id) and
by whoever runs a job (``runtime.run_job``, the executors: :func:`job_scope`).  The logging
set-up (``logsetup.py``) stamps them on every record as it is made, so any logger's line (a
tool's own, the runtime's, a library's) carries ``job_id`` and ``request_id`` without the
caller passing them.
"""
from __future__ import annotations

import contextlib
import itertools
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


class _Ids:
    """Request ids: 16 random hex digits drawn once per process, then a counter in 16 more (made
    on every request: half the cost of ``os.urandom(16).hex()``, a twelfth of ``uuid4``'s;
    unique across processes and restarts by the random half)."""

    def __init__(self) -> None:
        self._fresh()
        os.register_at_fork(after_in_child=self._fresh)      # a forked child draws its own

    def _fresh(self) -> None:
        self.prefix, self.count = os.urandom(8).hex(), itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


_IDS = _Ids()


def new_request_id() -> str:
    """32 hex digits, unique (see :class:`_Ids`)."""
    return _IDS.next()


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
