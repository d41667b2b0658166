"""The outermost ASGI layer: what every HTTP request gets, whoever answers it (the fast paths,
the error guard, FastAPI).

- An id: the client's (or a proxy's) ``X-Request-Id`` when it is sane, else a new one
  (system/logcontext.py), set as the logging context while the request is served (so every
  line logged, and the job it submits, carry it) and echoed in the answer's ``X-Request-Id``.
- Its count and time in the metrics, by route class and status (api/metrics.py
  ``request_done``); ``/metrics`` itself, and the private metrics listener, are answered by
  ``MetricsEndpoint``.

One layer with one ``send`` hop for both: a status poll costs about 40 us, and each ASGI
layer's own hop showed in it (docs/performance.md, "Metrics and request ids").
"""
from __future__ import annotations

import time
from typing import Any

from ..system.logcontext import REQUEST_ID, new_request_id, sane_request_id
from .metrics import PATH, MetricsEndpoint, request_done, route_class

HEADER = b"x-request-id"


class Envelope:
    def __init__(self, app: Any, metrics: MetricsEndpoint) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.metrics.private(scope):     # the private metrics listener: nothing else is served there
            await self.metrics(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:      # (ASGI servers give header names in lower case)
                request_id = sane_request_id(value.decode("latin-1"))
                break
        if request_id is None:
            request_id = new_request_id()
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())
        path = scope["path"]
        status = 500        # unless the app says otherwise before it fails
        start = time.perf_counter()

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await (self.metrics if path == PATH else self.app)(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)
            request_done(route_class(path), status, time.perf_counter() - start)
