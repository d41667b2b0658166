"""What every admin resource shares: who is calling, the admin error shape,
and answering in ``f=json``, ``pjson`` or ``html``.

Admin errors are ``{"status": "error", "messages": [...], "code": n}``
(ArcGIS's administrator dialect), never the REST ``{"error": ...}`` shape.
"""
from __future__ import annotations

import html
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...auth import Claims, Scope
from ...auth.access import FORBIDDEN, may_administer
from ...core import Forbidden, OpenGPError, TokenRequired
from ..arcgis.errors import CODES
from ..arcgis.routes import respond
from ..auth import caller

log = logging.getLogger("opengp.admin")
ADMIN_SCOPES = (Scope.SERVICES_ADMIN, Scope.SERVICES_ADMIN_OWN)


def admin_error(exc: Exception, params: dict[str, str]) -> Response:
    if isinstance(exc, OpenGPError):
        code = next(c for cls, c in CODES if isinstance(exc, cls))
        messages = [exc.message, *exc.details]
    else:
        log.error("unexpected error in the admin API", exc_info=exc)
        code, messages = 500, ["An unexpected error occurred; see the server log."]
    return admin_respond({"status": "error", "messages": messages, "code": code}, params, "Error")


def admin_caller(request: Request, params: dict[str, str]) -> Claims:
    """The caller, who must hold an admin scope (administrator, or publisher for their own services)."""
    claims = caller(request, params, request.app.state.auth)
    if claims is None:
        raise TokenRequired("Unauthorized access. Token not found. You can generate a token using the "
                            "'generateToken' operation.")
    if not any(s in claims.scopes for s in ADMIN_SCOPES):
        raise Forbidden(f"User '{claims.user.name}' is not authorized to administer services.")
    return claims


def require_administer(owner: str | None, claims: Claims) -> None:
    if not may_administer(owner, claims):
        raise Forbidden(FORBIDDEN)


def is_administrator(claims: Claims) -> bool:
    return Scope.SERVICES_ADMIN in claims.scopes


def as_admin_form_answer(params: dict[str, str]) -> Response | None:
    """After a console action (a POST with ``f=html`` and ``next``), go back to the console."""
    from ..web.pages import safe_next

    if params.get("f") == "html" and params.get("next"):
        return RedirectResponse(safe_next(params["next"]), status_code=303)
    return None


def admin_respond(data: Any, params: dict[str, str], title: str = "") -> Response:
    if params.get("f") == "html":
        return HTMLResponse(page(title, data))
    return respond(data, params)


def page(title: str, data: Any) -> str:
    """A plain page showing ``data`` as nested tables, with a link to its JSON."""
    t = html.escape(title or "opengp administration")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{t}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px;text-align:left;"
            "vertical-align:top}</style></head><body>"
            f"<h1>{t}</h1><p><a href='?f=pjson'>JSON</a></p>{_html(data)}</body></html>")


def _html(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(f"<tr><th scope='row'>{html.escape(str(k))}</th><td>{_html(v)}</td></tr>"
                       for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        return "<ol>" + "".join(f"<li>{_html(v)}</li>" for v in value) + "</ol>" if value else "(none)"
    if value is None:
        return ""
    text = html.escape(str(value))
    if isinstance(value, str) and value.startswith(("http://", "https://", "/arcgis/")):
        return f"<a href='{text}'>{text}</a>"
    return text
