"""The admin console's webhook pages: a service's webhooks
(``/arcgis/admin/console/webhooks?service=<key>``) with their last delivery and a form to
create one; and each webhook (``.../webhooks/<id>?service=<key>``) with its edit form,
activate or deactivate, delete (after a confirmation) and its notification status: every
delivery and each attempt with the receiver's answer.

A form posts to ``/arcgis/admin/console/webhooks/<the admin API's operation>`` (``create``,
``activateAll``, ``deactivateAll``, ``deleteAll``, ``<id>/edit``, ``<id>/delete``), which runs
the admin API's own handler (``webhooks.dispatch``: the same parameters, the same
``WebhookManager`` rules), then goes back to its page.  A refusal (a private URL, a name
taken, a synchronous service) is shown on the page the form was on, with what was typed
kept, never as the API's JSON.  Who may see the pages is the console's rule
(``console.console_caller``).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ...auth import Claims
from ...core import NotFound, OpenGPError, Status
from ...jobs.webhooks import WebhookManager
from ...store.outbox import DELIVERED, DROPPED, FAILED, PENDING, Delivery
from ...store.webhooks import JSON, Webhook
from ..kit.errors import answer_for
from ..kit.esrijob import LABELS
from ..kit.html import error_page, frame, render, stamp
from ..kit.params import read_params, safe_next
from .common import require_administer
from .console import administered, console_caller
from .jobs import whole_number
from .webhooks import CHANGE_TYPES, CONTENT_TYPES, PAGE, PAYLOAD_FORMATS, dispatch

PAGES = "/arcgis/admin/console/webhooks"
_ALL = ("create", "activateAll", "deactivateAll", "deleteAll")     # the operations on the whole list
# A GP webhook has one event, a job's end (ArcGIS: "completed, canceled, or fails to complete")
EVENTS = {"*": "every event: a job ended (succeeded, failed, timed out or cancelled)",
          "JobCompleted": "JobCompleted: a job ended (succeeded, failed, timed out or cancelled)"}
_STATE = {DELIVERED: ("delivered", "succeeded"), PENDING: ("pending", "executing"),
          FAILED: ("gave up", "failed"), DROPPED: ("dropped", "cancelled")}


def list_url(key: str, **more: str) -> str:
    return f"{PAGES}?{urlencode({'service': key, **more})}"


def hook_url(key: str, hook_id: str, **more: str) -> str:
    return f"{PAGES}/{hook_id}?{urlencode({'service': key, **more})}"


async def list_page(request: Request) -> Response:
    params = dict(request.query_params)
    claims = console_caller(request, params)
    if isinstance(claims, Response):
        return claims
    keys = administered(request, claims)
    key = params.get("service") or (keys[0] if keys else "")
    try:
        if key:
            _check(request, key, claims)
        return await _list(request, claims, keys, key, confirm=params.get("confirm") == "deleteAll")
    except OpenGPError as exc:
        return error_page(request, exc)


async def hook_page(request: Request) -> Response:
    params = dict(request.query_params)
    claims = console_caller(request, params)
    if isinstance(claims, Response):
        return claims
    key = params.get("service", "")
    try:
        _check(request, key, claims)
        return await _hook(request, claims, key, request.path_params["hook_id"], params,
                           confirm=params.get("confirm") == "delete")
    except OpenGPError as exc:
        return error_page(request, exc)


async def act(request: Request) -> Response:
    """A form's POST: the admin API's operation ``path`` on the service's webhooks, then back
    to the page (``next``, else the page of what it acted on)."""
    params = await read_params(request)
    key = params.get("service", "")
    rest = [p for p in request.path_params["path"].split("/") if p]
    on_hook = bool(rest) and rest[0] not in _ALL
    back = hook_url(key, rest[0]) if on_hook and rest[1:] != ["delete"] else list_url(key)
    claims = console_caller(request, params, back=back)     # no token: sign in, then see the page again
    if isinstance(claims, Response):
        return claims
    try:
        _check(request, key, claims)
    except OpenGPError as exc:
        return error_page(request, exc)
    try:
        await dispatch(request, key, rest, params, claims.user.name)
    except OpenGPError as exc:
        return await _refused(request, claims, key, rest, params, exc)
    return RedirectResponse(safe_next(params["next"]) if params.get("next") else back, status_code=303)


async def _refused(request: Request, claims: Claims, key: str, rest: list[str], params: dict[str, str],
                   exc: OpenGPError) -> Response:
    """The page the refused form was on, saying why, with what was typed (never a key)."""
    typed = {k: v for k, v in params.items() if k != "signatureKey"}
    error = {"message": exc.message, "details": exc.details}
    status = answer_for(exc).page or 400
    try:
        if rest and rest[0] not in _ALL:
            return await _hook(request, claims, key, rest[0], {}, error=error, typed=typed, status=status)
        return await _list(request, claims, administered(request, claims), key, error=error,
                           typed=typed if rest == ["create"] else None, status=status)
    except OpenGPError as again:        # the page itself is gone too (a webhook deleted meanwhile)
        return error_page(request, again)


def _check(request: Request, key: str, claims: Claims) -> None:
    """The service exists and the caller administers it (NotFound, Forbidden)."""
    if not key:
        raise NotFound("No service given: pick one in the admin console.")
    require_administer(request.app.state.services.record(key).owner, claims)


def _crumbs(key: str, last: str | None = None) -> list[tuple[str, str | None]]:
    crumbs: list[tuple[str, str | None]] = [
        ("Services", "/arcgis/rest/services?f=html"),
        ("Admin console", "/arcgis/admin/console" + (f"?{urlencode({'service': key})}" if key else "")),
        ("Webhooks", list_url(key) if last else None)]
    return crumbs + ([(last, None)] if last else [])


async def _list(request: Request, claims: Claims, keys: list[str], key: str, *, confirm: bool = False,
                error: dict[str, Any] | None = None, typed: dict[str, str] | None = None,
                status: int = 200) -> Response:
    webhooks: WebhookManager = request.app.state.webhooks
    hooks = await webhooks.list(key) if key else []
    rows = []
    for hook in hooks:
        _, last = await webhooks.notifications(key, hook.id, 0, 1)
        rows.append({**_hook_view(key, hook), "last": _delivery_view(last[0]) if last else None})
    published = request.app.state.services.registry.services.get(key)
    form = {"active": "true", "contentType": JSON, "payloadFormat": "json", "changeTypes": "*", **(typed or {})}
    ctx = frame(request, claims, f"Webhooks of {key}" if key else "Webhooks", _crumbs(key))
    return render("webhooks.html", {
        **ctx, **_choices(), "services": keys, "service": key, "rows": rows, "error": error, "form": form,
        "confirm": confirm, "synchronous": bool(published and published.synchronous),
        "pages": PAGES, "list_url": list_url(key)}, status_code=status)


async def _hook(request: Request, claims: Claims, key: str, hook_id: str, params: dict[str, str], *,
                confirm: bool = False, error: dict[str, Any] | None = None, typed: dict[str, str] | None = None,
                status: int = 200) -> Response:
    webhooks: WebhookManager = request.app.state.webhooks
    hook = await webhooks.get(key, hook_id)
    view = _hook_view(key, hook)
    start = whole_number(params, "start", 1, 1, 2**31 - 1, "Unable to read notifications.")
    total, shown = await webhooks.notifications(key, hook.id, start - 1, PAGE)
    form = {"name": hook.name, "hookUrl": hook.hook_url, "active": "true" if hook.active else "false",
            "contentType": hook.content_type, "payloadFormat": hook.payload_format,
            "changeTypes": ",".join(hook.change_types), **(typed or {})}
    ctx = frame(request, claims, f"Webhook {hook.name}", _crumbs(key, hook.name),
                json_url=f"/arcgis/admin/services/{key}.GPServer/webhooks/{hook.id}?f=json")
    return render("webhook.html", {
        **ctx, **_choices(), "service": key, "hook": view, "form": form, "error": error, "confirm": confirm,
        "deliveries": [_delivery_view(d) for d in shown], "total": total, "start": start,
        "newer_url": hook_url(key, hook.id, start=str(max(1, start - PAGE))) if start > 1 else None,
        "older_url": hook_url(key, hook.id, start=str(start + PAGE)) if start - 1 + PAGE < total else None,
        "pages": PAGES, "list_url": list_url(key)}, status_code=status)


def _choices() -> dict[str, Any]:
    """What the forms offer: the values the admin API's ``create`` takes."""
    return {"content_types": CONTENT_TYPES, "payload_formats": PAYLOAD_FORMATS,
            "events": [(t, EVENTS[t]) for t in CHANGE_TYPES]}


def _hook_view(key: str, hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "name": hook.name, "hook_url": hook.hook_url, "active": hook.active,
            "signed": bool(hook.signature_key), "content_type": hook.content_type,
            "payload_format": hook.payload_format,
            "events": ", ".join(EVENTS.get(t, t).partition(":")[0] for t in hook.change_types),
            "owner": hook.owner, "modified_by": hook.modified_by, "created": stamp(hook.created),
            "modified": stamp(hook.modified), "url": hook_url(key, hook.id)}


def _delivery_view(d: Delivery) -> dict[str, Any]:
    label, css = _STATE.get(d.state, (d.state, ""))
    last = d.history[-1] if d.history else None
    return {"id": d.id, "job_id": d.job_id, "task": d.task, "job_status": LABELS[Status(d.status)],
            "job_css": d.status, "event_time": stamp(d.event_time), "state": label, "css": css,
            "attempts": d.attempts, "next_attempt": stamp(d.next_attempt) if d.state == PENDING else "",
            "code": last.code if last else None, "error": last.error if last else None,
            "when": stamp(last.time) if last else "",
            "job_url": f"/arcgis/rest/services/{d.service}/GPServer/{d.task}/jobs/{d.job_id}?f=html",
            "history": [{"time": stamp(a.time), "code": a.code, "error": a.error} for a in d.history]}


routes = [
    Route(PAGES, list_page, methods=["GET"]),
    Route(PAGES + "/{hook_id}", hook_page, methods=["GET"]),
    Route(PAGES + "/{path:path}", act, methods=["POST"]),
]
