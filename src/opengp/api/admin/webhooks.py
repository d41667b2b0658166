"""``/arcgis/admin/services/<Svc>.GPServer/webhooks``: a GP service's webhooks, as ArcGIS
Enterprise (11.1+) lays them out: list, ``create``, ``deleteAll``, ``activateAll``,
``deactivateAll``; ``<id>``, ``<id>/edit``, ``<id>/delete`` and ``<id>/notificationStatus``
(the deliveries of the webhook and each attempt, from the outbox).

A webhook fires when a job of the service ends: succeeded, failed, timed out or cancelled
(the outbox row is written with the end: store/outbox.py; jobs/deliveries.py delivers).
What a webhook must be is ``jobs/webhooks.WebhookManager``'s; this face reads the requests
and words the answers.  The signature key is never shown
again once set (``signed`` says whether there is one), and an edit that leaves it out keeps
it: the ``arcgis`` package edits by posting back what it read.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ...config import Settings
from ...core import InvalidInput, NotFound, Status
from ...jobs.deliveries import Outgoing, Policy, encode
from ...jobs.webhooks import INVALID, WebhookManager
from ...store.outbox import Delivery
from ...store.webhooks import FORM, JSON, Webhook
from ...tools.gptypes import flag
from ..kit.esrijob import JOB_STATUS
from ..kit.paths import ADMIN_BASE
from .dialect import epoch_ms
from .jobs import whole_number

CHANGE_TYPES = ("*", "JobCompleted")      # a GP webhook has one event: a job ended
CONTENT_TYPES = (JSON, FORM)
PAYLOAD_FORMATS = ("json", "pjson")
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

    def __init__(self, webhooks: WebhookManager, settings: Settings) -> None:
        self.webhooks, self.settings = webhooks, settings
        self.policy = Policy(settings.webhook_retry_base, settings.webhook_retry_cap, settings.webhook_max_attempts)

    async def render(self, delivery: Delivery) -> Outgoing | str:
        hook = await self.webhooks.find(delivery.target)
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


def _changes(params: dict[str, str], creating: bool) -> dict[str, Any]:
    """What the request sets (``Webhook``'s fields), each read and checked for its form; the
    rules a webhook must meet are the job layer's (jobs/webhooks.py).  Creating, an empty
    ``name`` or ``hookUrl`` is left out (so it is "required")."""
    changes: dict[str, Any] = {}
    if "name" in params and (params["name"].strip() or not creating):
        name = params["name"].strip()
        if not name or len(name) > 255:
            raise InvalidInput(INVALID, ["'name' must be 1 to 255 characters."])
        changes["name"] = name
    if "hookUrl" in params and (params["hookUrl"].strip() or not creating):
        changes["hook_url"] = params["hookUrl"].strip()
    if params.get("signatureKey"):         # empty or left out: unchanged (see the module's docstring)
        changes["signature_key"] = params["signatureKey"]
    if (params.get("active") or "").strip():
        active = flag(params["active"], True)
        if active is None:
            raise InvalidInput(INVALID, [f"'active' must be true or false, not {params['active']!r}."])
        changes["active"] = active
    content_type = (params.get("contentType") or params.get("content_type") or "").strip()
    if content_type:
        if content_type not in CONTENT_TYPES:
            raise InvalidInput(INVALID, [f"'contentType' must be {JSON} or {FORM}."])
        changes["content_type"] = content_type
    payload_format = (params.get("payloadFormat") or "").strip().lower()
    if payload_format:
        if payload_format not in PAYLOAD_FORMATS:
            raise InvalidInput(INVALID, ["'payloadFormat' must be json or pjson."])
        changes["payload_format"] = payload_format
    if params.get("changeTypes", "").strip():
        types = tuple(t.strip() for t in params["changeTypes"].strip("[]").replace('"', "").split(",") if t.strip())
        unknown = [t for t in types if t not in CHANGE_TYPES]
        if unknown or not types:
            raise InvalidInput(INVALID, [
                f"A GP service's webhooks fire when a job ends: 'changeTypes' is * or JobCompleted, not "
                f"{', '.join(unknown) or 'nothing'}."])
        changes["change_types"] = types
    return changes


def _paging(start: int, total: int, shown: int) -> dict[str, Any]:
    """The paging fields of a page from ``start`` (1-based) showing ``shown`` of ``total``."""
    following = start + shown
    return {"total": total, "start": start, "num": PAGE, "nextStart": following if following <= total else -1}


async def dispatch(request: Request, key: str, rest: list[str], params: dict[str, str], who: str) -> Any:
    """The answer to ``webhooks/<rest>`` of service ``key`` (the caller may administer it)."""
    webhooks: WebhookManager = request.app.state.webhooks
    if not rest:
        listed = await webhooks.list(key)
        start = whole_number(params, "start", 1, 1, 2**31 - 1, "Unable to list webhooks.")
        shown = listed[start - 1:start - 1 + PAGE]
        return {"webhooks": [webhook_json(h) for h in shown], **_paging(start, len(listed), len(shown))}
    if request.method != "POST" and rest[-1] in ("create", "deleteAll", "activateAll", "deactivateAll",
                                                 "edit", "delete"):
        raise InvalidInput(f"'{rest[-1]}' changes the server: send it as a POST.")
    if rest == ["create"]:
        return webhook_json(await webhooks.create(key, _changes(params, creating=True), who))
    if rest == ["deleteAll"]:
        await webhooks.remove_all(key)
        return {"status": "success"}
    if rest in (["activateAll"], ["deactivateAll"]):
        await webhooks.activate_all(key, rest == ["activateAll"], who)
        return {"status": "success"}
    if len(rest) == 1:
        return webhook_json(await webhooks.get(key, rest[0]))
    if rest[1:] == ["edit"]:
        return webhook_json(await webhooks.edit(key, rest[0], _changes(params, creating=False), who))
    if rest[1:] == ["delete"]:
        await webhooks.remove(key, rest[0])
        return {"status": "success"}
    if rest[1:] == ["notificationStatus"]:
        start = whole_number(params, "start", 1, 1, 2**31 - 1, "Unable to read notifications.")
        total, shown = await webhooks.notifications(key, rest[0], start - 1, PAGE)
        return {"notificationStatus": [_delivery_json(d) for d in shown], **_paging(start, total, len(shown))}
    raise NotFound(f"Resource 'webhooks/{'/'.join(rest)}' not found.")


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {"deliveryId": d.id, "jobId": d.job_id, "taskName": d.task, "jobStatus": JOB_STATUS[Status(d.status)],
            "eventTime": epoch_ms(d.event_time), "state": d.state, "attempts": d.attempts,
            "nextAttempt": epoch_ms(d.next_attempt) if d.state == "pending" else None,
            "history": [{"time": epoch_ms(a.time), "httpStatusCode": a.code, "error": a.error} for a in d.history]}
