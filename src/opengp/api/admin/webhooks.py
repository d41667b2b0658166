"""``/arcgis/admin/services/<Svc>.GPServer/webhooks``: a GP service's webhooks, as ArcGIS
Enterprise (11.1+) lays them out: list, ``create``, ``deleteAll``, ``activateAll``,
``deactivateAll``; ``<id>``, ``<id>/edit``, ``<id>/delete`` and ``<id>/notificationStatus``
(the deliveries of the webhook and each attempt, from the outbox).

A webhook fires when a job of the service ends: succeeded, failed, timed out or cancelled
(the outbox row is written with the end: store/outbox.py; jobs/deliveries.py delivers).
Only asynchronous services take webhooks, as in ArcGIS.  The signature key is never shown
again once set (``signed`` says whether there is one), and an edit that leaves it out keeps
it: the ``arcgis`` package edits by posting back what it read.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from starlette.requests import Request

from ...config import Settings
from ...jobs.deliveries import Outgoing, Policy, encode
from ...core import InvalidInput, NotFound, Status
from ...store.outbox import Delivery, OutboxStore
from ...store.webhooks import FORM, JSON, Webhook, WebhookStore
from ...system.urls import url_problem
from ...tools.gptypes import flag
from ..kit.esrijob import JOB_STATUS
from ..kit.paths import ADMIN_BASE
from .dialect import epoch_ms
from .jobs import whole_number

CHANGE_TYPES = ("*", "JobCompleted")      # a GP webhook has one event: a job ended
PAGE = 25


def webhook_json(hook: Webhook) -> dict[str, Any]:
    folder, _, name = hook.service.rpartition("/")
    return {"id": hook.id, "name": hook.name, "folderName": folder or "/", "serviceName": name,
            "serviceType": "GPServer", "hookUrl": hook.hook_url, "signed": bool(hook.signature_key),
            "active": hook.active, "contentType": hook.content_type, "payloadFormat": hook.payload_format,
            "changeTypes": list(hook.change_types), "created": epoch_ms(hook.created), "modified": epoch_ms(hook.modified),
            "ownerId": hook.owner, "modifiedId": hook.modified_by,
            "url": f"{ADMIN_BASE}/services/{hook.service}.GPServer/webhooks/{hook.id}"}


class WebhookChannel:
    """The webhooks' ``Channel`` (jobs/deliveries.py): the job that ended, for the receiver to
    fetch (``jobUrl`` when ``public_url`` says where the server is), signed with the webhook's
    key; a delivery whose webhook was deleted or deactivated meanwhile is dropped."""

    def __init__(self, hooks: WebhookStore, jobs: Any, settings: Settings) -> None:
        self.hooks, self.jobs, self.settings = hooks, jobs, settings
        self.policy = Policy(settings.webhook_retry_base, settings.webhook_retry_cap, settings.webhook_max_attempts)

    async def render(self, delivery: Delivery) -> Outgoing | str:
        hook = await self.jobs.io(self.hooks.get, delivery.target)
        if hook is None or not hook.active:
            return "the webhook was deleted" if hook is None else "the webhook was deactivated"
        body, headers = encode(hook, {**self.payload(delivery, hook), "deliveryId": delivery.id})
        return Outgoing(hook.hook_url, body, headers)

    def payload(self, delivery: Delivery, hook: Webhook) -> dict[str, Any]:
        folder, _, name = delivery.service.rpartition("/")
        body: dict[str, Any] = {
            "changeType": "JobCompleted", "webhookId": hook.id, "webhookName": hook.name,
            "folderName": folder or "/", "serviceName": name, "serviceType": "GPServer",
            "taskName": delivery.task, "jobId": delivery.job_id,
            "jobStatus": JOB_STATUS[Status(delivery.status)], "time": epoch_ms(delivery.event_time)}
        if self.settings.public_url:
            body["jobUrl"] = (f"{self.settings.public_url.rstrip('/')}/arcgis/rest/services/{delivery.service}"
                              f"/GPServer/{delivery.task}/jobs/{delivery.job_id}")
        return body

    async def given_up(self, delivery: Delivery, why: str) -> None:
        """Nothing more: the webhook's ``notificationStatus`` shows it, and it was logged."""


async def _settings_from(params: dict[str, str], hook: Webhook, allow_private: bool) -> Webhook:
    """``hook`` with what the request sets, each checked (create: every field; edit: those given)."""
    changes: dict[str, Any] = {}
    if "name" in params:
        name = params["name"].strip()
        if not name or len(name) > 255:
            raise InvalidInput("Invalid webhook.", ["'name' must be 1 to 255 characters."])
        changes["name"] = name
    if "hookUrl" in params:
        # it resolves the host name: off the event loop
        problem = await asyncio.to_thread(url_problem, params["hookUrl"].strip(), allow_private)
        if problem:
            raise InvalidInput("Invalid webhook.", [f"'hookUrl' {problem}."])
        changes["hook_url"] = params["hookUrl"].strip()
    if params.get("signatureKey"):         # empty or left out: unchanged (see the module's docstring)
        changes["signature_key"] = params["signatureKey"]
    if (params.get("active") or "").strip():
        active = flag(params["active"], True)
        if active is None:
            raise InvalidInput("Invalid webhook.", [f"'active' must be true or false, not {params['active']!r}."])
        changes["active"] = active
    content_type = (params.get("contentType") or params.get("content_type") or "").strip()
    if content_type:
        if content_type not in (JSON, FORM):
            raise InvalidInput("Invalid webhook.", [f"'contentType' must be {JSON} or {FORM}."])
        changes["content_type"] = content_type
    payload_format = (params.get("payloadFormat") or "").strip().lower()
    if payload_format:
        if payload_format not in ("json", "pjson"):
            raise InvalidInput("Invalid webhook.", ["'payloadFormat' must be json or pjson."])
        changes["payload_format"] = payload_format
    if params.get("changeTypes", "").strip():
        types = tuple(t.strip() for t in params["changeTypes"].strip("[]").replace('"', "").split(",") if t.strip())
        unknown = [t for t in types if t not in CHANGE_TYPES]
        if unknown or not types:
            raise InvalidInput("Invalid webhook.", [
                f"A GP service's webhooks fire when a job ends: 'changeTypes' is * or JobCompleted, not "
                f"{', '.join(unknown) or 'nothing'}."])
        changes["change_types"] = types
    return hook.evolve(**changes)


async def dispatch(request: Request, key: str, rest: list[str], params: dict[str, str], who: str) -> Any:
    """The answer to ``webhooks/<rest>`` of service ``key`` (the caller may administer it)."""
    state = request.app.state
    hooks: WebhookStore = state.webhooks
    jobs = state.jobs
    settings: Settings = state.settings
    service = jobs.registry.services.get(key)
    if not rest:
        listed = await jobs.io(hooks.list, key)
        start = whole_number(params, "start", 1, 1, 2**31 - 1, "Unable to list webhooks.")
        page = listed[start - 1:start - 1 + PAGE]
        following = start + len(page)
        return {"webhooks": [webhook_json(h) for h in page], "total": len(listed), "start": start, "num": PAGE,
                "nextStart": following if following <= len(listed) else -1}
    if request.method != "POST" and rest[-1] in ("create", "deleteAll", "activateAll", "deactivateAll",
                                                 "edit", "delete"):
        raise InvalidInput(f"'{rest[-1]}' changes the server: send it as a POST.")
    if rest == ["create"]:
        if service is not None and service.synchronous:
            raise InvalidInput("Invalid webhook.", [
                "Only asynchronous services take webhooks: a synchronous one answers with its results."])
        for required in ("name", "hookUrl"):
            if not (params.get(required) or "").strip():
                raise InvalidInput("Invalid webhook.", [f"'{required}' is required."])
        now = time.time()
        blank = Webhook(uuid.uuid4().hex, key, "", "", owner=who, modified_by=who, created=now, modified=now)
        hook = await _settings_from(params, blank, settings.allow_private_urls)
        await jobs.io(hooks.add, hook)
        return webhook_json(hook)
    if rest in (["deleteAll"], ["activateAll"], ["deactivateAll"]):
        for hook in await jobs.io(hooks.list, key):
            if rest == ["deleteAll"]:
                await jobs.io(hooks.remove, hook.id)
            else:
                await jobs.io(hooks.replace, hook.evolve(active=rest == ["activateAll"], modified=time.time(),
                                                         modified_by=who))
        return {"status": "success"}
    hook = await jobs.io(hooks.get, rest[0])
    if hook is None or hook.service != key:
        raise NotFound(f"Webhook '{rest[0]}' not found on '{key}.GPServer'.")
    if len(rest) == 1:
        return webhook_json(hook)
    if rest[1:] == ["edit"]:
        changed = (await _settings_from(params, hook, settings.allow_private_urls)).evolve(
            modified=time.time(), modified_by=who)
        await jobs.io(hooks.replace, changed)
        return webhook_json(changed)
    if rest[1:] == ["delete"]:
        await jobs.io(hooks.remove, hook.id)
        return {"status": "success"}
    if rest[1:] == ["notificationStatus"]:
        outbox: OutboxStore = state.outbox
        start = whole_number(params, "start", 1, 1, 2**31 - 1, "Unable to read notifications.")
        total, page = await jobs.io(outbox.history, hook.id, start - 1, PAGE)
        following = start + len(page)
        return {"notificationStatus": [_delivery_json(d) for d in page], "total": total, "start": start,
                "num": PAGE, "nextStart": following if following <= total else -1}
    raise NotFound(f"Resource 'webhooks/{'/'.join(rest)}' not found.")


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {"deliveryId": d.id, "jobId": d.job_id, "taskName": d.task, "jobStatus": JOB_STATUS[Status(d.status)],
            "eventTime": epoch_ms(d.event_time), "state": d.state, "attempts": d.attempts,
            "nextAttempt": epoch_ms(d.next_attempt) if d.state == "pending" else None,
            "history": [{"time": epoch_ms(a.time), "httpStatusCode": a.code, "error": a.error} for a in d.history]}
