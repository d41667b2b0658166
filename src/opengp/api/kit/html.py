"""The pages' frame: the templates (``templates/``), the frame every page fills (title, crumbs,
the signed-in user), times as people read them, and the error page.

Each face draws its own pages with these (the REST face its resources, the admin API its
console, ``web`` signing in); ``api/errors.py`` draws the error page for any of them.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...auth import ADMIN_SCOPES, Claims
from ...core import InvalidToken, Job, OpenGPError
from ..auth import COOKIE
from .errors import admin_error, answer_for
from .params import wants_html

STATIC = "/arcgis/static"           # served by the web face (api/web/pages.py)
_ENV = Environment(loader=PackageLoader("opengp.api.kit", "templates"), autoescape=select_autoescape(),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["urlencode"] = lambda v: quote(str(v), safe="")


def frame(request: Request, claims: Claims | None, title: str, crumbs: list[tuple[str, str | None]],
          json_url: str | None = None) -> dict[str, Any]:
    """What every page's template needs: its title and crumbs, who is signed in, where it is."""
    return {"title": title, "crumbs": crumbs, "json_url": json_url, "static": STATIC,
            "user": claims.user.name if claims else None,
            "admin": bool(claims and ADMIN_SCOPES & claims.scopes),
            "here": str(request.url.path) + ("?" + request.url.query if request.url.query else "")}


def render(template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(template).render(**context), status_code=status_code)


def stamp(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(job: Job) -> str:
    if job.started is None:
        return "not started"
    seconds = (job.finished or time.time()) - job.started
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def error_page(request: Request, exc: OpenGPError, back: str | None = None) -> Response:
    """An error, for a person: sign in first when a token is needed, else say what went wrong.
    After signing in they come back to ``back`` (a page's path; by default the one asked for:
    a form's POST gives the page the form was on, as its own URL takes no GET)."""
    status = answer_for(exc).page
    if status is None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]   # never into next=
        here = back or str(request.url.path) + ("?" + urlencode(query) if query else "")
        response = RedirectResponse(f"/arcgis/login?next={quote(here, safe='')}", status_code=303)
        if isinstance(exc, InvalidToken) and COOKIE in request.cookies:
            response.delete_cookie(COOKIE, path="/arcgis")     # expired or revoked: sign in afresh
        return response
    ctx = frame(request, None, "Not found" if status == 404 else "Cannot do that",
                [("Services", "/arcgis/rest/services?f=html"), ("Error", None)])
    return render("error.html", {**ctx, "message": exc.message, "details": exc.details}, status_code=status)


def admin_error_answer(request: Request, exc: Exception, params: dict[str, str]) -> Response:
    """An admin API error: to a person's browser (``wants_html``: ``f=html``, or no ``f`` and
    ``Accept: text/html``) the page a person sees, the sign-in page when a token is needed, as
    ArcGIS's administrator directory sends a browser to its login; to a program the admin body."""
    if isinstance(exc, OpenGPError) and wants_html(request, params):
        return error_page(request, exc)
    return admin_error(exc, params)
