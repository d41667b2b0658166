"""The outbound-URL guard: refused schemes and addresses, and redirects checked at every hop.

Every address here is private (there is no public network in CI), so the
redirect test treats ``localhost`` as if it were public: the one stand-in,
for the one thing that cannot run here.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opengp.system import urls


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/data")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://", 42,
                                 "http://127.0.0.1/", "http://10.1.2.3/", "http://169.254.169.254/latest"])
def test_refused_urls(url: object) -> None:
    assert urls.url_problem(url, allow_private=False)


def test_private_addresses_pass_when_allowed() -> None:
    assert urls.url_problem("http://127.0.0.1:8000/x", allow_private=True) is None


def test_a_redirect_to_a_private_address_is_refused(remote: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "is_private_host", lambda host: host != "localhost")
    with pytest.raises(ValueError, match="redirects to http://127.0.0.1"):
        urls.fetch(f"http://localhost:{remote}/hop", allow_private=False, max_bytes=1000)


def test_a_redirect_within_what_is_allowed_is_followed(remote: int) -> None:
    body, kind = urls.fetch(f"http://127.0.0.1:{remote}/hop", allow_private=True, max_bytes=1000)
    assert body == b'{"ok": true}' and kind == "application/json"


def test_a_body_over_the_limit_is_refused(remote: int) -> None:
    with pytest.raises(ValueError, match="larger than 5 bytes"):
        urls.fetch(f"http://127.0.0.1:{remote}/data", allow_private=True, max_bytes=5)


def test_a_tools_file_input_by_url_is_fetched_under_the_policy(remote: int) -> None:
    """``DataFile.read_bytes`` (what tools call) goes through the guard with the process's policy."""
    from opengp.tools.values import DataFile

    data = DataFile(url=f"http://127.0.0.1:{remote}/data")
    try:
        urls.set_policy(allow_private=False, max_bytes=1000)
        with pytest.raises(ValueError, match="private network"):
            data.read_bytes()
        urls.set_policy(allow_private=True, max_bytes=1000)
        assert data.read_bytes() == b'{"ok": true}'
        urls.set_policy(allow_private=True, max_bytes=3)
        with pytest.raises(ValueError, match="larger than"):
            data.read_bytes()
    finally:
        urls.set_policy(allow_private=False, max_bytes=1024 * 1024 * 1024)
