"""What every page (``text/html`` answer) carries: it may not be framed by another page.

A signed-in user's pages hold buttons that change things (cancel, delete, submit); a page
of another origin that framed one could trick a click onto them (clickjacking).  Both
spellings are sent: ``Content-Security-Policy: frame-ancestors 'none'`` for current
browsers, ``X-Frame-Options: DENY`` for older ones.
"""
from __future__ import annotations

from typing import Any

_NO_FRAMES = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'")]


class PageHeaders:
    """ASGI middleware: the anti-framing headers on every ``text/html`` response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        await self.app(scope, receive, self.marking(send))

    @staticmethod
    def marking(send: Any) -> Any:
        """``send``, adding the headers to a ``text/html`` response (for whoever answers
        outside this middleware: the fast paths)."""
        async def framed(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    message = {**message, "headers": [*headers, *_NO_FRAMES]}
            await send(message)

        return framed
