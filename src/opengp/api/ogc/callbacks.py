"""Callbacks (the ``subscriber`` of an execute request): the server POSTs to the
client's URIs as the job moves — ``inProgressUri`` once when it starts running,
``successUri`` with the results document when it succeeds, ``failedUri`` with
its status when it fails or is dismissed.

They go through the outbox, as webhooks do (store/outbox.py): written with the job, woken
by the move that is their event (the end's in its own transaction), delivered by any API
server (jobs/deliveries.py), so a restart loses none.  A few tries with a timeout, then
it gives up, logs why and notes it on the job.  Callback URIs must be http(s); addresses
on this machine or a private network are refused unless ``allow_private_urls`` allows
them (system.urls, the one outbound guard).
"""
from __future__ import annotations

from typing import Any

import orjson

from ...core import InvalidInput, Level, Message, Status
from ...jobs.deliveries import DELIVERY_HEADER, Outgoing, Policy
from ...store.outbox import FAILED_EVENT, STARTED, SUCCEEDED_EVENT, Delivery
from ...system.urls import url_problem
from .common import BASE, status_info
from .results import results_document

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


EVENTS = {"inProgressUri": STARTED, "successUri": SUCCEEDED_EVENT, "failedUri": FAILED_EVENT}
URI_OF = {event: name for name, event in EVENTS.items()}


def job_callbacks(uris: dict[str, str] | None) -> dict[str, str]:
    """The job's ``options["callbacks"]`` (store/outbox.py's events) of a checked subscriber."""
    return {EVENTS[name]: uri for name, uri in (uris or {}).items()}


class CallbackChannel:
    """The callbacks' ``Channel`` (jobs/deliveries.py): a few quick tries, as a client's own
    endpoint is either listening or not; the last failure is noted on the job."""

    policy = Policy(base=1.0, cap=4.0, max_attempts=3)

    def __init__(self, jobs: Any) -> None:
        self.jobs = jobs

    async def render(self, delivery: Delivery) -> Outgoing | str:
        jobs = self.jobs
        job = await jobs.io(jobs.find, delivery.job_id)
        assert delivery.url is not None
        if job is None and delivery.target != FAILED_EVENT:
            return "the job was dismissed"
        if job is None:                     # dismissed: what a client polling it would learn
            body = orjson.dumps({"jobID": delivery.job_id, "status": "dismissed", "type": "process"})
        elif delivery.target == SUCCEEDED_EVENT:
            service = jobs.registry.services.get(job.service)
            task = service.tools.get(job.task) if service is not None else None
            if task is None:
                return "its process is no longer published"
            body = await results_document(jobs, job, task)
        else:
            if delivery.target == STARTED:      # as it was when it started, whatever it is now
                job = job.evolve(status=Status.EXECUTING, finished=None, results=None, error=None)
            base = str((job.options or {}).get("base_url", "")).rstrip("/") + BASE
            body = orjson.dumps(status_info(job, base, jobs.registry.show_messages(job.service)))
        return Outgoing(delivery.url, body, {"Content-Type": "application/json", "User-Agent": "opengp-callbacks",
                                             DELIVERY_HEADER: delivery.id})

    async def given_up(self, delivery: Delivery, why: str) -> None:
        name = URI_OF.get(delivery.target, delivery.target)
        await self.jobs.note(delivery.job_id, Message.now(Level.WARNING, (
            f"The {name} callback to {delivery.url} failed after {self.policy.max_attempts} tries: {why}")))
