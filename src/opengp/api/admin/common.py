"""What every admin resource shares: who may administer what, and answering in ``f=json``,
``pjson`` or ``html`` (a browser's page).

Admin errors are ``{"status": "error", "messages": [...], "code": n}`` (ArcGIS's
administrator dialect, ``kit/errors.admin_error``), never the REST ``{"error": ...}`` shape;
a browser gets a page instead, the sign-in page when it has no token
(``kit/html.admin_error_answer``).
The caller's admin scope is checked by ``api/auth.admin_caller``.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...auth import Claims
from ...auth.access import FORBIDDEN, may_administer
from ...core import Forbidden
from ..kit.answers import respond, table_page
from ..kit.params import safe_next, wants_html


def require_administer(owner: str | None, claims: Claims) -> None:
    if not may_administer(owner, claims):
        raise Forbidden(FORBIDDEN)


def as_admin_form_answer(params: dict[str, str]) -> Response | None:
    """After a console action (a POST with ``f=html`` and ``next``), go back to the console."""
    if params.get("f") == "html" and params.get("next"):
        return RedirectResponse(safe_next(params["next"]), status_code=303)
    return None


def admin_respond(request: Request, data: Any, params: dict[str, str], title: str = "") -> Response:
    """``data`` as JSON, or as a page for a person (``f=html``, or a browser's ``Accept``:
    ArcGIS's administrator directory answers a browser in HTML)."""
    if wants_html(request, params):
        return HTMLResponse(table_page(title, data))
    return respond(data, params)
