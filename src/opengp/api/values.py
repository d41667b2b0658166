"""Sending a job's values: JSON put together around each value's own bytes, and streamed.

A large value (``store/values.py``) comes from the store as its JSON and goes out as it is:
the API server never parses it (that took seconds and stalled every other request).  An
answer holding one is sent in chunks, so the event loop serves other requests between
them.  ``f=pjson`` pretty-prints only what is small enough to parse again.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.responses import Response, StreamingResponse

CHUNK = 1 << 20             # bytes sent at a time
PRETTY_MAX = 1 << 20        # larger answers are sent compact, even for f=pjson


def param_value(name: str, data_type: str, raw: bytes) -> bytes:
    """``{"paramName", "dataType", "value"}`` around a value's JSON (a GP result or input)."""
    return b'{"paramName":%b,"dataType":%b,"value":%b}' % (orjson.dumps(name), orjson.dumps(data_type), raw)


def json_answer(body: bytes, pretty: bool = False, media_type: str = "application/json") -> Response:
    """A JSON body as a response: pretty when asked and small, streamed when large."""
    if pretty and len(body) <= PRETTY_MAX:
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    if len(body) <= CHUNK:
        return Response(body, media_type=media_type)
    return StreamingResponse(_chunks(body), media_type=media_type, headers={"Content-Length": str(len(body))})


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])
