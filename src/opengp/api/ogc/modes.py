"""Which way an execution request is answered: with the results, or at once with its job.

Every process offers both modes (``jobControlOptions``: ``sync-execute`` and
``async-execute``), whatever its service's execution type, which only the GP face
keeps (ArcGIS ``execute`` or ``submitJob``).  OGC API - Processes 1.0 §7.11.2 has the
client choose with the RFC 7240 ``Prefer`` header:

- ``respond-async``: the job, at once (``201``, ``Location``, its statusInfo, and
  ``Preference-Applied: respond-async``);
- anything else: the results, once the job ends (``200``);
- ``wait=N`` (either way): wait at most N seconds for the results ("respond
  asynchronously if it takes longer", RFC 7240 §4.3).

A job that outlasts its wait is answered as an asynchronous execution is (``201``
and the job to follow), the answer the standard's table gives a job: it goes on, and
its results are read at ``/jobs/{id}/results``.  The server's own bound: a
synchronous service's jobs are waited for as its ArcGIS ``execute`` waits (its
maxUsageTime and 5 s), an asynchronous service's for ``ogc_sync_wait``.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers

from ...config import Settings
from ...tools.registry import Service

RESPOND_ASYNC = "respond-async"


@dataclass(frozen=True)
class Preferences:
    """What the client's ``Prefer`` headers ask of an execution (unknown ones are ignored)."""

    respond_async: bool = False
    wait: int | None = None         # seconds, RFC 7240 ``wait``


def preferences(headers: Headers) -> Preferences:
    """The ``Prefer`` headers (RFC 7240: comma-separated tokens, each ``name[=value]`` with
    ``;`` parameters; names are case-insensitive, a value may be quoted).  A preference this
    server does not know, or a ``wait`` that is not a number of seconds, is ignored, as the
    RFC asks (OWSLib sends ``respond-sync``, no RFC token)."""
    respond_async, wait = False, None
    for header in headers.getlist("prefer"):
        for token in header.split(","):
            name, _, value = token.split(";", 1)[0].partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == RESPOND_ASYNC:
                respond_async = True
            elif name == "wait" and value.isascii() and value.isdigit() and len(value) < 10:
                wait = int(value)
    return Preferences(respond_async, wait)


def wait_bound(prefs: Preferences, service: Service, settings: Settings) -> float:
    """Seconds to wait for the job's end before answering with the job itself (0: at once)."""
    if prefs.respond_async and prefs.wait is None:
        return 0.0
    bound = service.execute_wait if service.synchronous else settings.ogc_sync_wait
    return bound if prefs.wait is None else min(bound, prefs.wait)
