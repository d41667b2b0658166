#!/usr/bin/env python3
"""A job with a big result must not slow the server down (issue 16, defect 1).

    .venv/bin/python bench/big_results.py [--points 20000] [--rounds 3] [--seconds 10]
                                          [--pollers 3] [--interval 1.0] [--base-src DIR]

One ``opengp serve --demo`` (SQLite, local workers) per side: this tree ("new") and, with
``--base-src``, another source tree ("base", e.g. main before the change, run with
``PYTHONPATH``).  On each: a small Echo job (the "other job"), then ``BufferFeatures`` of
``--points`` random points (20,000 make a ~50 MB result).  While the big job runs, a prober
reads the other job's status every 10 ms (how long the big job's end holds the server up).

Then rounds, alternating sides and, on each side, two phases of ``--seconds`` each, in which
one client reads the other job's status back to back:

- idle: nothing else happens;
- loaded: ``--pollers`` clients poll the big job's status every ``--interval`` seconds.

Target (issue 16): the other job's status GET p99 when loaded within 2x of idle.  Also
recorded per side: the big job's status GET, its HTML page (time, bytes), its result fetch
and its deletion.  Writes ``bench/results/<date>-<time>-<host>-big-results.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from servers import Server, free_port, machine_info  # noqa: E402

TOOLS = "/arcgis/rest/services/Demo/Tools/GPServer"
TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def points(n: int) -> dict:
    rnd = random.Random(16)
    return {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
            "features": [{"geometry": {"x": rnd.uniform(5, 6), "y": rnd.uniform(50, 51)}, "attributes": {"id": i}}
                         for i in range(n)]}


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"n": len(ordered), "p50_ms": round(pick(0.50), 3), "p99_ms": round(pick(0.99), 3),
            "max_ms": round(ordered[-1] * 1000, 3), "mean_ms": round(statistics.fmean(ordered) * 1000, 3)}


def timed(c: httpx.Client, method: str, url: str, **kw) -> tuple[float, httpx.Response]:
    t = time.perf_counter()
    r = c.request(method, url, **kw)
    return time.perf_counter() - t, r


class Side:
    """One server with its other job and its big job."""

    def __init__(self, name: str, tmp: Path, env: dict[str, str]) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data = tmp / name
        self.server = Server(name, [sys.executable, "-m", "opengp", "serve", "--demo", "--port", str(self.port),
                                    "--data-dir", str(data), "--log-level", "warning"],
                             f"{self.url}/arcgis/rest/info?f=json", tmp / f"{name}.log", env=env, cwd=str(tmp))
        self.client = httpx.Client(base_url=self.url, timeout=300)
        self.other = self.big = ""
        self.facts: dict = {}

    def wait(self, task: str, job_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                body = self.client.get(f"{TOOLS}/{task}/jobs/{job_id}", params={"f": "json"}).json()
            except httpx.TransportError:    # a server stalled past its keep-alive timeout resets the connection
                self.facts["resets"] = self.facts.get("resets", 0) + 1
                continue
            if body["jobStatus"] in TERMINAL:
                return body
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: job {job_id} stuck: {body}")
            time.sleep(0.2)

    def prepare(self, n: int) -> None:
        c = self.client
        self.other = c.post(f"{TOOLS}/Echo/submitJob", data={"f": "json", "text": "other"}).json()["jobId"]
        self.wait("Echo", self.other)
        body = {"f": "json", "input_features": json.dumps(points(n)),
                "distance": json.dumps({"distance": 500, "units": "esriMeters"})}
        probe, stop = [], threading.Event()

        def prober() -> None:       # the other job's status every 10 ms while the big job runs and ends
            with httpx.Client(base_url=self.url, timeout=300) as pc:
                while not stop.is_set():
                    try:
                        probe.append(timed(pc, "GET", f"{TOOLS}/Echo/jobs/{self.other}", params={"f": "json"})[0])
                    except httpx.TransportError:    # counted: the connection was reset by a stalled server
                        self.facts["resets"] = self.facts.get("resets", 0) + 1
                    time.sleep(0.01)

        thread = threading.Thread(target=prober)
        thread.start()
        t = time.perf_counter()
        self.big = c.post(f"{TOOLS}/BufferFeatures/submitJob", data=body).json()["jobId"]
        done = self.wait("BufferFeatures", self.big)
        run_s = time.perf_counter() - t
        stop.set()
        thread.join()
        assert done["jobStatus"] == "esriJobSucceeded", done
        self.facts["big_job_s"] = round(run_s, 2)
        self.facts["other_status_while_big_job_runs"] = summary(probe)
        status = [timed(c, "GET", f"{TOOLS}/BufferFeatures/jobs/{self.big}", params={"f": "json"})[0] for _ in range(5)]
        self.facts["big_status_get_ms"] = round(statistics.median(status) * 1000, 2)
        took, page = timed(c, "GET", f"{TOOLS}/BufferFeatures/jobs/{self.big}", params={"f": "html"})
        self.facts["page"] = {"ms": round(took * 1000, 1), "bytes": len(page.content)}
        took, result = timed(c, "GET", f"{TOOLS}/BufferFeatures/jobs/{self.big}/results/result", params={"f": "json"})
        self.facts["result_fetch"] = {"ms": round(took * 1000, 1), "bytes": len(result.content)}

    def phase(self, seconds: float, pollers: int, interval: float) -> dict:
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client(base_url=self.url, timeout=300) as pc:
                while not stop.is_set():
                    pc.get(f"{TOOLS}/BufferFeatures/jobs/{self.big}", params={"f": "json"})
                    stop.wait(interval)

        threads = [threading.Thread(target=poll) for _ in range(pollers)]
        for thread in threads:
            thread.start()
        samples, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append(timed(self.client, "GET", f"{TOOLS}/Echo/jobs/{self.other}", params={"f": "json"})[0])
        stop.set()
        for thread in threads:
            thread.join()
        return summary(samples)

    def delete(self) -> None:
        took, r = timed(self.client, "DELETE", f"/ogcapi/jobs/{self.big}")
        assert r.status_code == 200, r.text
        self.facts["delete_ms"] = round(took * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pollers", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--base-src", type=Path, help="another source tree to compare (PYTHONPATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opengp-big-"))
    sides = [("new", {})] + ([("base", {"PYTHONPATH": str(args.base_src.resolve())})] if args.base_src else [])
    running = [Side(name, tmp, env) for name, env in sides]
    rounds: list[dict] = []
    try:
        for side in running:
            side.server.start()
            log(f"{side.name}: submitting {args.points} points to BufferFeatures")
            side.prepare(args.points)
            log(f"{side.name}: {side.facts}")
        for i in range(args.rounds):
            for side in (running if i % 2 == 0 else running[::-1]):
                idle = side.phase(args.seconds, 0, args.interval)
                loaded = side.phase(args.seconds, args.pollers, args.interval)
                ratio = round(loaded["p99_ms"] / idle["p99_ms"], 2)
                rounds.append({"side": side.name, "round": i + 1, "idle": idle, "loaded": loaded, "p99_ratio": ratio})
                log(f"round {i + 1} {side.name}: idle p99 {idle['p99_ms']} ms, loaded p99 {loaded['p99_ms']} ms "
                    f"(x{ratio}); p50 {idle['p50_ms']} / {loaded['p50_ms']} ms")
        for side in running:
            side.delete()
    finally:
        for side in running:
            side.client.close()
            side.server.stop()
    out = {"when": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(),
           "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
           "sides": {side.name: side.facts for side in running}, "rounds": rounds}
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    path = HERE / "results" / f"{stamp}-{socket.gethostname()}-big-results.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    log(f"wrote {path}")
    print("\n| side | round | idle p99 ms | loaded p99 ms | ratio (target <= 2) |\n|---|---|---|---|---|")
    for r in rounds:
        print(f"| {r['side']} | {r['round']} | {r['idle']['p99_ms']} | {r['loaded']['p99_ms']} | {r['p99_ratio']} |")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    worst = max((r["p99_ratio"] for r in rounds if r["side"] == "new"), default=0)
    return 0 if worst <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
