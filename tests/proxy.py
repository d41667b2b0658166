"""A small round-robin HTTP reverse proxy for the scale-out test deployment.

``python tests/proxy.py --port P --upstream http://127.0.0.1:A --upstream http://127.0.0.1:B``

Each request goes to the next upstream in turn (no stickiness), so the consecutive
requests of one test really alternate API servers: submit on A, status on B, results
on A.  Bodies are streamed both ways (uploads, large downloads, server-sent events),
and the client's ``Host`` is passed through, so the links a server writes point at the
proxy.  Hop-by-hop headers are dropped, as any proxy does.  ``X-Opengp-Upstream`` on a
response says which server answered (for debugging a failure).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
from http.cookiejar import CookieJar, DefaultCookiePolicy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
              b"transfer-encoding", b"upgrade"}


class RoundRobin:
    """The ASGI app: forwards each request to the next upstream."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = itertools.cycle(upstreams)
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    # no timeouts: a synchronous execute or an event stream lasts as long as it lasts;
                    # no cookie jar: one client's Set-Cookie must never ride along on another's request
                    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
                    self.client = httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_connections=None),
                                                    cookies=no_cookies)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.client is not None:
                        await self.client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await self.forward(scope, receive, send)

    async def forward(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self.client is not None
        upstream = next(self.upstreams)
        url = upstream + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        body_done = asyncio.Event()
        disconnected = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    break
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    break
            body_done.set()

        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        if not has_body:
            body_done.set()
        request = self.client.build_request(scope["method"], url, headers=headers,
                                            content=body() if has_body else None)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"proxy: {upstream}: {exc!r}".encode()})
            return

        async def watch() -> None:
            # a client that goes away (an event stream closed by the browser) ends the upstream request
            await body_done.wait()
            while not disconnected.is_set():
                if (await receive())["type"] == "http.disconnect":
                    disconnected.set()

        watcher = asyncio.create_task(watch())
        try:
            out = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            out.append((b"x-opengp-upstream", upstream.encode()))
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            chunks = response.aiter_raw().__aiter__()
            while True:
                next_chunk = asyncio.ensure_future(chunks.__anext__())
                gone = asyncio.ensure_future(disconnected.wait())
                done, _ = await asyncio.wait({next_chunk, gone}, return_when=asyncio.FIRST_COMPLETED)
                if next_chunk not in done:
                    next_chunk.cancel()
                    return
                gone.cancel()
                try:
                    chunk = next_chunk.result()
                except StopAsyncIteration:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            await response.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", action="append", required=True)
    args = parser.parse_args()
    uvicorn.run(RoundRobin(args.upstream), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
