"""How much of a request body the server reads: the one body-size limit, for every face.

Every body is held to ``max_request_bytes`` (10 MB by default) unless its handler raises
the request's allowance: ``uploads/upload`` does so to ``max_upload_bytes`` (1 GiB), and
only once it has checked that the caller may use the service, so an anonymous caller of a
private service cannot make the server read (and spool to disk) a gigabyte before being
told "Token Required".

- A body whose ``Content-Length`` is over the most its path could ever be allowed is
  refused before anything is read (413).
- Any other body is counted as it arrives (a chunked or lying one too): reading stops with
  ``RequestTooLarge`` (413) at the allowance in force, before anything is spooled or parsed.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ..core import RequestTooLarge

UPLOAD_SUFFIX = "/uploads/upload"
UPLOAD_FRAMING = 1 << 16        # bytes of multipart framing allowed around an upload's file
_KEY = "opengp.allowance"
_BODIES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


def upload_allowance(settings: Any) -> int:
    """The most an upload request may carry: the file and its framing."""
    return settings.max_upload_bytes + UPLOAD_FRAMING


class Allowance:
    """The bytes this request's body may have; a handler may raise it (``raise_to``)."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def raise_to(self, limit: int) -> None:
        self.limit = max(self.limit, limit)


def allowance(request: Request) -> Allowance:
    """The request's allowance (BodyLimit put it in the scope; a request it never saw: none)."""
    found = request.scope.get(_KEY)
    if found is None:
        found = request.scope[_KEY] = Allowance(request.app.state.settings.max_request_bytes)
    return found


def too_large(limit: int) -> RequestTooLarge:
    """The error for a body over ``limit`` bytes (413 in every dialect)."""
    return RequestTooLarge("Request too large.", [f"The request body exceeds the {limit}-byte limit."])


class BodyLimit:
    """ASGI middleware: the module docstring's rules.  ``settings`` is read per request
    (``max_request_bytes``, ``max_upload_bytes``)."""

    def __init__(self, app: Any, settings: Any) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # a GET may carry a body too (a multipart one is parsed for f=html submits): held to the
        # same rules; one with neither header has none, and status polls stay unwrapped
        if scope["type"] != "http" or (scope["method"] not in _BODIES and
                                       not any(name in _BODY_HEADERS for name, _ in scope["headers"])):
            await self.app(scope, receive, send)
            return
        upload = scope["path"].endswith(UPLOAD_SUFFIX)
        ceiling = upload_allowance(self.settings) if upload else self.settings.max_request_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > ceiling:
                raise too_large(ceiling)       # answered in the face's dialect by ErrorGuard, unread
        given = scope[_KEY] = Allowance(self.settings.max_request_bytes)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > given.limit:
                raise too_large(given.limit)
            return message

        await self.app(scope, counted, send)
