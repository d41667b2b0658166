"""Callbacks (the ``subscriber`` of an execute request): the server POSTs to the
client's URIs as the job moves — ``inProgressUri`` once when it starts running,
``successUri`` with the results document when it succeeds, ``failedUri`` with
its status when it fails or is dismissed.

Delivery runs beside the job, never in its way: a few tries with a timeout,
then it gives up, logs why and notes it on the job.  Callback URIs must be
http(s); addresses on this machine or a private network are refused unless
``allow_private_urls`` allows them (system.urls, the one outbound guard).
"""
from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import Awaitable
from typing import Any, Callable

import orjson

from ...core import InvalidInput, Job, Level, Message, Status
from ...core.status import RUNNING
from ...system.urls import url_problem

log = logging.getLogger("opengp.ogc.callbacks")
TRIES = (0.0, 1.0, 4.0)          # delay before each try, seconds
TIMEOUT = 10.0
URIS = ("successUri", "inProgressUri", "failedUri")


def check_subscriber(subscriber: Any, allow_private: bool) -> dict[str, str] | None:
    """The subscriber's URIs, checked (InvalidInput says which is wrong)."""
    if subscriber is None:
        return None
    if not isinstance(subscriber, dict):
        raise InvalidInput("Invalid execute request.", ["'subscriber' must be a JSON object of URIs."])
    uris = {k: v for k, v in subscriber.items() if k in URIS and v}
    for name, uri in uris.items():
        problem = url_problem(uri, allow_private)
        if problem:
            raise InvalidInput("Invalid execute request.", [f"subscriber.{name} {problem}."])
    return uris or None


def _post(uri: str, body: bytes) -> int:
    request = urllib.request.Request(uri, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:   # noqa: S310 (scheme checked)
        return response.status


async def deliver(jobs: Any, job_id: str, uris: dict[str, str], status_info: Callable[[Job], dict[str, Any]],
                  results: Callable[[Job], Awaitable[bytes]]) -> None:
    """Follow the job and POST each callback once (a background task per subscribed job)."""
    started_sent = False
    async for job in jobs.watch(job_id):
        if job.status in RUNNING and not started_sent:
            started_sent = True
            if "inProgressUri" in uris:
                await _send(jobs, job, uris["inProgressUri"], status_info(job), "inProgressUri")
        if not job.status.terminal:
            continue
        if not started_sent and job.started is not None and "inProgressUri" in uris:
            # it ran and ended between two looks: still say it started, first
            ran = job.evolve(status=Status.EXECUTING, finished=None, results=None, error=None)
            await _send(jobs, job, uris["inProgressUri"], status_info(ran), "inProgressUri")
        if job.status is Status.SUCCEEDED and "successUri" in uris:
            await _send(jobs, job, uris["successUri"], await results(job), "successUri")
        elif job.status is not Status.SUCCEEDED and "failedUri" in uris:
            await _send(jobs, job, uris["failedUri"], status_info(job), "failedUri")
        return


async def _send(jobs: Any, job: Job, uri: str, payload: dict[str, Any] | bytes, name: str) -> None:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    why = ""
    for delay in TRIES:
        await asyncio.sleep(delay)
        try:
            code = await asyncio.to_thread(_post, uri, body)
            if 200 <= code < 300:
                return
            why = f"HTTP {code}"
        except Exception as exc:      # refused, timed out, HTTP error: try again, then give up
            why = str(exc) or type(exc).__name__
    log.warning("job %s: the %s callback to %s failed after %d tries: %s", job.id, name, uri, len(TRIES), why)
    await jobs.note(job.id, Message.now(Level.WARNING,
                                        f"The {name} callback to {uri} failed after {len(TRIES)} tries: {why}"))
