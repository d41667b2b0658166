"""A webhook receiver for tests: a small HTTP server on 127.0.0.1 that records every POST
(headers and raw body) and answers ``status``; it can go down and come back on the same port
(tests/api/test_webhooks.py, tests/browser/test_webhook_pages.py)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from conftest import free_port


class Receiver:
    """Records every POST; answers ``status``; can go down and come back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.status = 200
        self.got: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:      # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.got.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(g["body"]) for g in self.got]

    def wait_for(self, n: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Until ``n`` POSTs have come (or ``timeout``); what came."""
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.got)
