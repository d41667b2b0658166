#!/usr/bin/env python3
"""What one request costs opengp's application, without the network: each request is
sent straight into the ASGI app ``opengp serve`` runs (fast paths, FastAPI, the job
service, a real SQLite store and worker pool), and timed.  Less noisy than HTTP load on a
shared machine, since no other process's CPU is counted, and it can profile.

    .venv/bin/python bench/asgi_costs.py [--n 3000] [--profile ogc-status]

Cases: ``gp-submit`` / ``ogc-submit`` (a Noop job, queued; the workers run it meanwhile),
``gp-status`` / ``ogc-status`` (a finished job), ``gp-result`` / ``ogc-result``.
Prints CPU microseconds per request (median of interleaved batches) and OGC/GP ratios;
``--profile CASE`` prints the cProfile of that case's requests instead.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# OPENGP_SRC: another checkout's src/ (e.g. a `git archive` of an older commit), for before/after
sys.path.insert(0, os.environ.get("OPENGP_SRC", str(HERE.parent / "src")))

from opengp.api.app import asgi_app  # noqa: E402
from opengp.config import load_settings  # noqa: E402

GP = "/arcgis/rest/services/Bench/Noop/GPServer/Noop"
OGC = "/ogcapi"


def requests(job_id: str) -> dict[str, tuple[str, str, bytes, list[tuple[bytes, bytes]]]]:
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    js = [(b"content-type", b"application/json"), (b"prefer", b"respond-async")]
    return {
        "gp-submit": ("POST", f"{GP}/submitJob", b"f=json&value=x", form),
        "ogc-submit": ("POST", f"{OGC}/processes/Bench.Noop.Noop/execution", b'{"inputs": {"value": "x"}}', js),
        "gp-status": ("GET", f"{GP}/jobs/{job_id}", b"", []),
        "ogc-status": ("GET", f"{OGC}/jobs/{job_id}", b"", []),
        "gp-result": ("GET", f"{GP}/jobs/{job_id}/results/result", b"", []),
        "ogc-result": ("GET", f"{OGC}/jobs/{job_id}/results", b"", []),
    }


class Client:
    """Sends one request into the ASGI app and returns (status, headers, body)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, method: str, path: str, body: bytes = b"",
                       headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict, bytes]:
        path, _, query = path.partition("?")
        hdrs = [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")] + list(headers or [])
        if body:
            hdrs.append((b"content-length", str(len(body)).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": query.encode(), "headers": hdrs, "client": ("127.0.0.1", 50000),
                 "server": ("127.0.0.1", 8000), "state": self.state}
        sent = False
        out: dict = {"body": b""}

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                out["status"], out["headers"] = message["status"], dict(message.get("headers", []))
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out["status"], out["headers"], out["body"]


async def drain(client: Client) -> None:
    """Wait until every queued job has run (the queue is FIFO: a marker job's end says so)."""
    _, _, body = await client("POST", f"{GP}/submitJob", b"f=json&value=x",
                              [(b"content-type", b"application/x-www-form-urlencoded")])
    marker = json.loads(body)["jobId"]
    for _ in range(6000):
        await asyncio.sleep(0.01)
        if json.loads((await client("GET", f"{GP}/jobs/{marker}?f=json"))[2])["jobStatus"] == "esriJobSucceeded":
            break
    await asyncio.sleep(0.05)


async def run(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="opengp-asgi-"))
    config = tmp / "opengp.toml"
    config.write_text(f'[[services]]\nfolder = "Bench"\nname = "Noop"\ntoolbox = "{HERE / "noop_toolbox.py"}"\n'
                      'execution_type = "asynchronous"\nmax_instances = 64\npublic = true\n')
    settings = load_settings(config, data_dir=tmp / "data")
    app = asgi_app(settings)
    inner = app
    while not hasattr(inner, "router"):      # the FastAPI app, under the middleware asgi_app puts around it
        inner = inner.app
    async with inner.router.lifespan_context(inner) as state:
        client = Client(app)
        client.state = dict(state or {})
        status, _, body = await client("POST", f"{GP}/submitJob", b"f=json&value=x",
                                       [(b"content-type", b"application/x-www-form-urlencoded")])
        job_id = json.loads(body)["jobId"]
        for _ in range(3000):
            await asyncio.sleep(0.01)
            if json.loads((await client("GET", f"{GP}/jobs/{job_id}?f=json"))[2])["jobStatus"] == "esriJobSucceeded":
                break
        cases = requests(job_id)
        for name, (method, path, body, headers) in cases.items():
            status, _, answer = await client(method, path, body, headers)
            assert status in (200, 201), (name, status, answer[:300])
        if args.profile:
            method, path, body, headers = cases[args.profile]
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.n):
                await client(method, path, body, headers)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
            return
        # batches interleaved (gp, ogc, gp, ogc...): a shared machine's drift falls on both faces
        batches: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.batches):
            for name, (method, path, body, headers) in cases.items():
                t0 = time.process_time()
                for _ in range(args.n // args.batches):
                    await client(method, path, body, headers)
                batches[name].append((time.process_time() - t0) / (args.n // args.batches) * 1e6)
                if name.endswith("submit"):
                    await drain(client)     # the queued jobs' completions are paid now, not by the next case
        for name, values in batches.items():
            print(f"{name:12s} {statistics.median(values):8.1f} us/request "
                  f"(batches: {', '.join(f'{b:.0f}' for b in values)})")
        for what in ("submit", "status", "result"):
            ratios = [o / g for g, o in zip(batches["gp-" + what], batches["ogc-" + what])]
            print(f"ogc/gp {what:7s} {statistics.median(ratios):.2f}x (per batch: "
                  f"{', '.join(f'{r:.2f}' for r in ratios)})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="requests per case")
    ap.add_argument("--batches", type=int, default=10, help="interleaved batches per case")
    ap.add_argument("--profile", help="profile one case (e.g. ogc-status) instead of timing all")
    ap.add_argument("--sort", default="cumulative")
    ap.add_argument("--lines", type=int, default=45)
    asyncio.run(run(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
