"""ONE table: each opengp error type and its answer in each dialect, and the error bodies.

A handler raises (``opengp.core.errors``); ``api/errors.py`` picks the dialect a request speaks
by its path and answers with one of the bodies below.  They live here, not in their faces, so
that the error handling of the whole server depends on no face.

- ``arcgis``  the code of the REST ``{"error": {"code", "message", "details"}}`` body.  It is
  sent over HTTP 200, as ArcGIS Server does (the ``arcgis`` client retries POSTs on HTTP 5xx,
  which would duplicate jobs).
- ``admin``   the code of the admin API's ``{"status": "error", "messages", "code"}`` body.
- ``ogc``     the HTTP status and OGC exception type of an RFC 7807 problem body.
- ``page``    the HTTP status of the error page a person sees; None: the page asks them to sign
  in instead.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import orjson
from starlette.responses import HTMLResponse, Response

from ...core import (
    Conflict, Forbidden, InvalidInput, InvalidToken, MethodNotAllowed, NotAllowed, NotFound, OpenGPError,
    RequestTooLarge, StoreError, TokenRequired, TooManyAttempts, Unavailable,
)
from .answers import respond, table_page

OGC_EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
UNEXPECTED_TEXT = "An unexpected error occurred; see the server log."


@dataclass(frozen=True)
class Answer:
    """How each dialect answers one error type (module docstring)."""

    error: type[Exception]
    arcgis: int
    admin: int
    ogc: tuple[int, str]
    page: int | None


# first match wins: a subclass comes before its base
ERRORS: list[Answer] = [
    Answer(RequestTooLarge, 413, 413, (413, "payload-too-large"), 413),
    Answer(InvalidInput, 400, 400, (400, "invalid-parameter-value"), 400),
    Answer(NotFound, 404, 404, (404, "not-found"), 404),
    Answer(MethodNotAllowed, 405, 405, (405, "method-not-allowed"), 405),
    Answer(NotAllowed, 400, 400, (400, "invalid-parameter-value"), 400),
    Answer(Conflict, 400, 400, (400, "invalid-parameter-value"), 400),
    Answer(TokenRequired, 499, 499, (401, "unauthorized"), None),
    Answer(InvalidToken, 498, 498, (401, "unauthorized"), None),
    Answer(Forbidden, 403, 403, (403, "forbidden"), 403),
    Answer(TooManyAttempts, 429, 429, (429, "too-many-requests"), 429),
    Answer(Unavailable, 503, 503, (503, "unavailable"), 500),
    Answer(StoreError, 500, 500, (500, "server-error"), 500),
    Answer(OpenGPError, 500, 500, (500, "server-error"), 500),
]
UNEXPECTED = Answer(Exception, 500, 500, (500, "server-error"), 500)     # not raised on purpose: a bug


def answer_for(exc: BaseException) -> Answer:
    """The table's row for ``exc`` (``UNEXPECTED`` for anything not an OpenGPError)."""
    return next((row for row in ERRORS if isinstance(exc, row.error)), UNEXPECTED)


# -- ArcGIS REST -------------------------------------------------------------

def rest_error_body(code: int, message: str, details: list[str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def rest_error(exc: Exception, pretty: bool = False) -> Response:
    """``exc`` as the REST error body (HTTP 200)."""
    if isinstance(exc, OpenGPError):
        body = rest_error_body(answer_for(exc).arcgis, exc.message, exc.details)
    else:
        body = rest_error_body(500, "Error performing operation.", [UNEXPECTED_TEXT])
    return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0), media_type="application/json")


# -- the admin API -------------------------------------------------------------

def admin_error_body(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, OpenGPError):
        return {"status": "error", "messages": [exc.message, *exc.details], "code": answer_for(exc).admin}
    return {"status": "error", "messages": [UNEXPECTED_TEXT], "code": 500}


def admin_error(exc: Exception, params: Mapping[str, str]) -> Response:
    """``exc`` as the admin error body, or as a page of it for ``f=html``."""
    if not isinstance(exc, OpenGPError):
        logging.getLogger("opengp.admin").error("unexpected error in the admin API", exc_info=exc)
    body = admin_error_body(exc)
    return HTMLResponse(table_page("Error", body)) if params.get("f") == "html" else respond(body, params)


# -- OGC API - Processes ---------------------------------------------------------

def problem(status: int, kind: str, title: str, detail: str, instance: str) -> Response:
    """An RFC 7807 problem body; ``kind`` is an OGC exception type's last part, or a whole URI."""
    body = {"type": OGC_EXCEPTIONS + kind if "/" not in kind else kind, "title": title, "status": status,
            "detail": detail, "instance": instance}
    headers = {"WWW-Authenticate": 'Bearer realm="opengp"'} if status == 401 else None
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json", headers=headers)


def ogc_problem(exc: Exception, instance: str) -> Response:
    """``exc`` as a problem body."""
    status, kind = answer_for(exc).ogc
    if isinstance(exc, OpenGPError):
        return problem(status, kind, exc.message, " ".join(exc.details), instance)
    return problem(status, kind, UNEXPECTED_TEXT, "", instance)
