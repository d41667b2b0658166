"""ArcGIS error bodies: ``{"error": {"code", "message", "details"}}`` over HTTP 200.

ArcGIS Server answers errors with HTTP 200, and the ``arcgis`` client retries
POSTs on HTTP 5xx (duplicating jobs), so we do the same.  One table maps each
opengp error class to its ArcGIS code.
"""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from ...core import (
    Conflict, Forbidden, InvalidInput, InvalidToken, MethodNotAllowed, NotAllowed, NotFound, OpenGPError, RequestTooLarge, StoreError,
    TokenRequired, TooManyAttempts, Unavailable,
)

CODES: list[tuple[type[OpenGPError], int]] = [
    (RequestTooLarge, 413),
    (InvalidInput, 400),
    (NotFound, 404),
    (MethodNotAllowed, 405),
    (NotAllowed, 400),
    (Conflict, 400),
    (TokenRequired, 499),
    (InvalidToken, 498),
    (Forbidden, 403),
    (TooManyAttempts, 429),
    (Unavailable, 503),
    (StoreError, 500),
    (OpenGPError, 500),
]


def error_body(code: int, message: str, details: list[str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(exc: Exception, pretty: bool = False) -> Response:
    if isinstance(exc, OpenGPError):
        code = next(c for cls, c in CODES if isinstance(exc, cls))
        body = error_body(code, exc.message, exc.details)
    else:
        body = error_body(500, "Error performing operation.", ["An unexpected error occurred; see the server log."])
    option = orjson.OPT_INDENT_2 if pretty else 0
    return Response(orjson.dumps(body, option=option), media_type="application/json")
