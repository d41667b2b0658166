"""What every admin resource shares: who may administer what, and answering in ``f=json``,
``pjson`` or ``html``.

Admin errors are ``{"status": "error", "messages": [...], "code": n}`` (ArcGIS's
administrator dialect, ``kit/errors.admin_error``), never the REST ``{"error": ...}`` shape.
The caller's admin scope is checked by ``api/auth.admin_caller``.
"""
from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...auth import Claims
from ...auth.access import FORBIDDEN, may_administer
from ...core import Forbidden
from ..kit.answers import respond, table_page
from ..kit.params import safe_next


def require_administer(owner: str | None, claims: Claims) -> None:
    if not may_administer(owner, claims):
        raise Forbidden(FORBIDDEN)


def as_admin_form_answer(params: dict[str, str]) -> Response | None:
    """After a console action (a POST with ``f=html`` and ``next``), go back to the console."""
    if params.get("f") == "html" and params.get("next"):
        return RedirectResponse(safe_next(params["next"]), status_code=303)
    return None


def admin_respond(data: Any, params: dict[str, str], title: str = "") -> Response:
    if params.get("f") == "html":
        return HTMLResponse(table_page(title, data))
    return respond(data, params)
