"""Every HTTP request's id: the client's (or proxy's) ``X-Request-Id`` when it is sane, else a
new one; set as the request's logging context (``system/logcontext.py``), so every line logged
while serving it, and the job it submits, carry it; echoed in the answer's ``X-Request-Id``.

A pure ASGI middleware outside everything else (the fast paths too): a header scan, a context
variable and one extra ``send`` hop; no Request object.
"""
from __future__ import annotations

from typing import Any

from ..system.logcontext import REQUEST_ID, new_request_id, sane_request_id

HEADER = b"x-request-id"


class RequestIds:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == HEADER:      # (ASGI servers give header names in lower case)
                given = sane_request_id(value.decode("latin-1"))
                break
        request_id = given or new_request_id()
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
