"""Every error answered in its face's own dialect, and the connection kept.

Handlers raise; this module answers.  Which dialect a request speaks follows from its
path: OGC API - Processes (``/ogcapi``) answers problem bodies, the admin API
(``/arcgis/admin``) its ``{"status": "error"}`` shape, a page request (``f=html`` or a
browser's Accept, the admin API's too) an error page, and everything else the ArcGIS REST
``{"error": ...}`` body.
The bodies and the table of which code each error gets in each dialect are the kit's
(``kit/errors.py``): this module depends on no face.

``ErrorGuard`` catches what a handler did not: uvicorn closes the keep-alive connection
after an exception escapes the application (even when a 500 was sent first, as
Starlette's ServerErrorMiddleware does), so the client's *next* request on that
connection (perhaps a submit) would fail with a reset.  The guard answers the error
instead, logged with its traceback, and the connection stays up.  Only a response that
broke off after it started cannot be mended: the connection must close then, as nothing
else can tell the client the body is incomplete.
"""
from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core import InvalidInput, MethodNotAllowed, NotFound, OpenGPError
from .kit.errors import ogc_problem, rest_error
from .kit.html import admin_error_answer, error_page
from .kit.params import wants_html
from .kit.paths import ADMIN_BASE as ADMIN, OGC_BASE as OGC

log = logging.getLogger("opengp.api")


def error_answer(request: Request, exc: Exception) -> Response:
    """``exc`` as the face of ``request`` phrases errors (module docstring)."""
    path = request.scope.get("path", "")
    try:
        params = dict(request.query_params)
    except Exception:       # a query string that cannot even be parsed: answer without it
        params = {}
    if path == OGC or path.startswith(OGC + "/"):
        return ogc_problem(exc, path)
    if (path == ADMIN or path.startswith(ADMIN + "/")) and not path.startswith(ADMIN + "/console"):
        return admin_error_answer(request, exc, params)
    if isinstance(exc, OpenGPError) and wants_html(request, params):
        return error_page(request, exc)
    return rest_error(exc, params.get("f") == "pjson")


def http_error(request: Request, exc: HTTPException) -> Response:
    """The router's own refusals (no such path, a method the path does not take) in the
    face's dialect, keeping their HTTP status (and ``Allow``)."""
    method, path = request.scope.get("method", ""), request.scope.get("path", "")
    if exc.status_code == 404:
        error: Exception = NotFound(f"Resource '{path}' not found.")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"Method {method} is not allowed on '{path}'.")
    else:
        error = InvalidInput(str(exc.detail))
    response = error_answer(request, error)
    response.status_code = exc.status_code
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


class ErrorGuard:
    """ASGI middleware: an exception that escapes ``app`` is answered (``error_answer``),
    never left to the server, which would drop the connection (module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        try:        # (no wrapper around send on the way: this runs for every status poll)
            await self.app(scope, receive, send)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            if not isinstance(exc, OpenGPError):
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            try:
                await error_answer(Request(scope, receive), exc)(scope, receive, send)
            except Exception:       # its response had begun: only closing the connection can say
                raise exc from None  # the body broke off (the server refuses a second start)
