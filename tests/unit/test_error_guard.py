"""ErrorGuard (api/errors.py): an exception a handler did not expect is answered in the face's
dialect and the keep-alive connection stays up.  uvicorn closes the connection when an exception
escapes the application, even after Starlette's ServerErrorMiddleware sent its 500, so the
client's next request on that connection failed with a reset."""
from __future__ import annotations

import json
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI
from starlette.routing import Route

from opengp.api.errors import ErrorGuard

from api.helpers import on_one_connection


async def boom(request):
    raise RuntimeError("a bug in a handler")


def _serve(app) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                           loop="asyncio", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def test_an_unexpected_error_is_answered_and_the_connection_kept():
    app = FastAPI()
    app.router.routes.extend([Route("/arcgis/rest/boom", boom), Route("/ogcapi/boom", boom),
                              Route("/arcgis/admin/boom", boom), Route("/ok", lambda r: None)])
    app.add_middleware(ErrorGuard)      # as create_app does: inside ServerErrorMiddleware
    server, url = _serve(app)
    try:
        answers = on_one_connection(url, ("GET", "/arcgis/rest/boom?f=json"), ("GET", "/ogcapi/boom"),
                                    ("GET", "/arcgis/admin/boom?f=json"), ("GET", "/arcgis/rest/boom?f=json"))
    finally:
        server.should_exit = True
    rest, ogc, admin, again = [(status, json.loads(body)) for status, body in answers]
    assert rest == again and rest[0] == 200 and rest[1]["error"]["code"] == 500
    assert "bug" not in json.dumps(rest[1])         # the traceback goes to the log, not the client
    assert ogc[0] == 500 and ogc[1]["type"].endswith("/server-error")
    assert admin[1]["status"] == "error" and admin[1]["code"] == 500


async def breaks_off(request):
    from starlette.responses import StreamingResponse

    async def body():
        yield b"the first part"
        raise RuntimeError("a bug half-way through a body")

    return StreamingResponse(body(), media_type="text/plain")


def test_a_body_that_breaks_off_closes_the_connection():
    """Nothing else can tell the client the body is incomplete: no second answer is tried."""
    app = FastAPI()
    app.router.routes.append(Route("/arcgis/rest/half", breaks_off))
    app.add_middleware(ErrorGuard)
    server, url = _serve(ErrorGuard(app))
    try:
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"GET /arcgis/rest/half HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    finally:
        server.should_exit = True
    assert received.startswith(b"HTTP/1.1 200") and b"the first part" in received
    assert received.count(b"HTTP/1.1") == 1 and not received.endswith(b"0\r\n\r\n")     # cut, not ended
