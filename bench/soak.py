#!/usr/bin/env python3
"""Soak: a bounded mixed load for a long time, watching every process for leaks (issue 16).

    .venv/bin/python bench/soak.py [--minutes 60] [--warmup 5] [--scale 48] [--sample 30] [--out DIR]

Starts ``opengp serve --demo`` (SQLite, local workers; its own data folder) in a process group
of its own and drives it, every second, with a fixed mix of what clients do, times ``--scale``
(default 48: server and load generator together keep about one of this 2-core machine's cores
busy, half of it; 8, what CI runs, about a sixth):

- 2 GP jobs (Echo), each polled to its end and its result fetched (1 in 10 cancelled at
  once instead), and 0.5 through OGC API - Processes (status, then results);
- 0.125 upload, and a job writing a file (WriteReport), the file downloaded;
- 0.25 rounds of lists and pages: the OGC job list and the admin jobs/query (as the demo's
  administrator), a task page and a feature query; and 0.125 job pages;
- and, whatever the scale, a product job every 10 s (a PDF of the demo's topographic sheet),
  its file downloaded.

Every ``--sample`` seconds it records, for every process of the server's group, its RSS,
open files and threads (``/proc``).  Any failure is an error: an HTTP 5xx or a dropped
connection, an ArcGIS or OGC error body where none was due, a job that ends otherwise than
expected or does not end within 60 s, a missing result.

Goals (issue 16): 0 errors; after ``--warmup`` minutes, the group's RSS grows under 10%
and open files and threads stay level.  Writes ``<out>/<date>-<time>-<host>-soak.json``
(``--out`` defaults to bench/results) and exits 1 when a goal is missed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from servers import Server, free_port, machine_info  # noqa: E402

TOOLS = "/arcgis/rest/services/Demo/Tools/GPServer"
PRODUCTS = "/arcgis/rest/services/Demo/Topographic/TopographicProductionServer"
LAYER = "/arcgis/rest/services/Demo/Topo/FeatureServer/0"
TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}
POINTS = json.dumps({"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326}, "features": [
    {"geometry": {"x": 5 + i / 100, "y": 50 + i / 100}, "attributes": {"n": i}} for i in range(10)]})


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Errors:
    """Every failure, counted by kind, with the first few described."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []
        self._lock = threading.Lock()

    def add(self, kind: str, detail: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            if len(self.examples) < 20:
                self.examples.append(f"{kind}: {detail[:300]}")


class Load:
    """The mix (module docstring); each action checks its answers and reports failures."""

    def __init__(self, url: str, admin_password: str, errors: Errors) -> None:
        self.url, self.errors = url, errors
        self.local = threading.local()
        token = httpx.post(f"{url}/arcgis/tokens/generateToken", data={
            "username": "admin", "password": admin_password, "client": "requestip", "f": "json"}).json()["token"]
        self.admin_headers = {"X-Esri-Authorization": f"Bearer {token}"}
        self.done = Counter()
        self.last_job = ""          # a finished job, for the job pages

    @property
    def http(self) -> httpx.Client:      # one keep-alive client per thread, as real clients hold
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(base_url=self.url, timeout=60)
        return client

    def _get(self, path: str, **kw) -> httpx.Response | None:
        return self._call("GET", path, **kw)

    def _call(self, method: str, path: str, **kw) -> httpx.Response | None:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.errors.add("connection", f"{method} {path}: {type(exc).__name__}: {exc}")
            return None
        if r.status_code >= 500:
            self.errors.add("http-5xx", f"{method} {path}: {r.status_code} {r.text}")
            return None
        return r

    def _json(self, r: httpx.Response | None, what: str) -> dict | None:
        if r is None:
            return None
        try:
            body = r.json()
        except ValueError:
            self.errors.add("not-json", f"{what}: {r.status_code} {r.text}")
            return None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            self.errors.add("error-body", f"{what}: {body}")
            return None
        return body

    def _wait(self, task: str, job_id: str) -> dict | None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = self._json(self._get(f"{TOOLS}/{task}/jobs/{job_id}", params={"f": "json"}), "status")
            if body is None:
                return None
            if body["jobStatus"] in TERMINAL:
                return body
            time.sleep(0.05)
        self.errors.add("stuck", f"{task} job {job_id} did not end within 60 s")
        return None

    # -- the actions
    def gp_job(self, n: int) -> None:
        submitted = self._json(self._call("POST", f"{TOOLS}/Echo/submitJob", data={
            "f": "json", "text": f"soak {n}", "number": str(n)}), "submit")
        if submitted is None:
            return
        job_id = submitted["jobId"]
        if n % 10 == 0:      # cancelled at once: it may have run already, either end is right
            self._json(self._call("POST", f"{TOOLS}/Echo/jobs/{job_id}/cancel", data={"f": "json"}), "cancel")
            if (body := self._wait("Echo", job_id)) is not None and body["jobStatus"] not in (
                    "esriJobCancelled", "esriJobSucceeded"):
                self.errors.add("job", f"cancelled Echo ended {body['jobStatus']}")
            self.done["cancelled"] += 1
            return
        body = self._wait("Echo", job_id)
        if body is None:
            return
        if body["jobStatus"] != "esriJobSucceeded":
            self.errors.add("job", f"Echo {job_id} ended {body['jobStatus']}: {body.get('messages')}")
            return
        result = self._json(self._get(f"{TOOLS}/Echo/jobs/{job_id}/results/out_text", params={"f": "json"}), "result")
        if result is not None and result.get("value") != f"soak {n}":
            self.errors.add("result", f"Echo {job_id}: {result}")
        self.done["gp"] += 1
        self.last_job = job_id

    def ogc_job(self, n: int) -> None:
        r = self._call("POST", "/ogcapi/processes/Demo.Tools.Echo/execution", json={"inputs": {"text": f"ogc {n}"}},
                       headers={"Prefer": "respond-async"})
        if r is None:
            return
        if r.status_code != 201:
            self.errors.add("ogc", f"execute: {r.status_code} {r.text}")
            return
        job_id = r.json()["jobID"]
        deadline = time.monotonic() + 60
        while (s := self._get(f"/ogcapi/jobs/{job_id}")) is not None and s.json().get("status") in ("accepted", "running"):
            if time.monotonic() > deadline:
                self.errors.add("stuck", f"OGC job {job_id}")
                return
            time.sleep(0.05)
        results = self._get(f"/ogcapi/jobs/{job_id}/results")
        if results is not None and (results.status_code != 200 or b"ogc" not in results.content):
            self.errors.add("ogc", f"results of {job_id}: {results.status_code} {results.text}")
        self.done["ogc"] += 1

    def upload_and_report(self, n: int) -> None:
        up = self._json(self._call("POST", f"{TOOLS}/uploads/upload", data={"f": "json"},
                                   files={"file": (f"soak{n}.txt", b"x" * 2048)}), "upload")
        job = self._json(self._call("POST", f"{TOOLS}/WriteReport/submitJob", data={
            "f": "json", "input_features": POINTS, "title": f"soak {n}"}), "submit WriteReport")
        if up is None or job is None:
            return
        body = self._wait("WriteReport", job["jobId"])
        if body is None or body["jobStatus"] != "esriJobSucceeded":
            self.errors.add("job", f"WriteReport: {body}")
            return
        result = self._json(self._get(f"{TOOLS}/WriteReport/jobs/{job['jobId']}/results/result",
                                      params={"f": "json"}), "WriteReport result")
        if result is not None:
            file = self._get(httpx.URL(result["value"]["url"]).path)
            if file is None or b"soak" not in file.content:
                self.errors.add("file", f"report of {job['jobId']}")
        self.done["upload"] += 1

    def lists_and_pages(self, n: int) -> None:
        self._json(self._get("/ogcapi/jobs", params={"limit": 50}, headers=self.admin_headers), "OGC job list")
        self._json(self._get("/arcgis/admin/services/Demo/Tools.GPServer/jobs/query",
                             params={"f": "json", "number": 50}, headers=self.admin_headers), "admin jobs/query")
        page = self._get(f"{TOOLS}/Echo", params={"f": "html"})
        if page is not None and page.status_code != 200:
            self.errors.add("page", f"task page: {page.status_code}")
        self._json(self._get(f"{LAYER}/query", params={"where": "1=1", "outFields": "*", "f": "json",
                                                        "resultRecordCount": 20}), "feature query")
        self.done["lists"] += 1

    def job_page(self, n: int) -> None:
        if not self.last_job:
            return
        page = self._get(f"{TOOLS}/Echo/jobs/{self.last_job}", params={"f": "html"})
        if page is not None and page.status_code != 200:
            self.errors.add("page", f"job page: {page.status_code}")

    def product(self, n: int) -> None:
        answer = self._json(self._get(f"{PRODUCTS}/generateProduct", params={
            "productName": "Topographic", "productVersion": "Standard", "outputType": "pdf",
            "aoiLayer": f"{self.url}{LAYER}", "aoiFeatureId": str(1 + n % 2), "f": "json"}), "generateProduct")
        if answer is None:
            return
        deadline = time.monotonic() + 120
        while True:
            job = self._json(self._get(f"{PRODUCTS}/jobs/{answer['jobId']}", params={"f": "json"}), "product job")
            if job is None:
                return
            if job["statusCode"] >= 4:
                break
            if time.monotonic() > deadline:
                self.errors.add("stuck", f"product job {answer['jobId']}")
                return
            time.sleep(0.2)
        if job["status"] != "Succeeded" or not job.get("outputUrl"):
            self.errors.add("product", f"{job}")
            return
        pdf = self._get(httpx.URL(job["outputUrl"]).path)
        if pdf is None or not pdf.content.startswith(b"%PDF"):
            self.errors.add("product", f"the PDF of {answer['jobId']}")
        self.done["product"] += 1


def prime(load: Load) -> None:
    """Every action once, and a product job on each local worker at the same time, before the clock.

    A worker's first product job loads the map libraries (about 100 MB); left to chance, the
    second worker's first product could come after the warm-up mark and read as growth."""
    with ThreadPoolExecutor(8) as pool:
        for n, action in enumerate([load.product, load.product, load.gp_job, load.gp_job, load.ogc_job,
                                    load.upload_and_report, load.lists_and_pages]):
            pool.submit(action, n + 1)
    load.job_page(0)
    log(f"primed: {dict(load.done)}")


def group_of(pgid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def sample(pgid: int) -> dict:
    """RSS (kB), open files and threads of every process of the group."""
    out = {}
    for pid in group_of(pgid):
        try:
            status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:80]
        except OSError:
            continue
        out[str(pid)] = {"rss_kb": int(status["VmRSS"].split()[0]), "fds": fds,
                         "threads": int(status["Threads"].strip()), "cmd": cmd}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes before the growth is measured from")
    parser.add_argument("--scale", type=float, default=48.0, help="multiplies the load (module docstring)")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between process samples")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opengp-soak-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = Server("opengp", [sys.executable, "-m", "opengp", "serve", "--demo", "--port", str(port),
                               "--data-dir", str(tmp / "data"), "--log-level", "warning"],
                    f"{url}/arcgis/rest/info?f=json", tmp / "server.log", cwd=str(tmp))
    errors, samples = Errors(), []
    server.start()
    try:
        load = Load(url, (tmp / "data" / "demo-admin-password").read_text().strip(), errors)
        per_second = {"gp_job": round(2 * args.scale), "ogc_job": round(0.5 * args.scale),
                      "upload_and_report": max(1, round(args.scale / 8)), "lists_and_pages": max(1, round(args.scale / 4)),
                      "job_page": max(1, round(args.scale / 8))}
        prime(load)
        log(f"soak of {url} for {args.minutes} min at {per_second} per second (+ a product every 10 s)")
        start = time.monotonic()
        end, next_sample, n = start + args.minutes * 60, start, 0
        with ThreadPoolExecutor(64) as pool:
            while (now := time.monotonic()) < end:
                if now >= next_sample:
                    samples.append({"t": round(now - start, 1), "processes": sample(server.proc.pid),
                                    "cpu_s": round(server.cpu_seconds(), 2), "driver_cpu_s": round(time.process_time(), 2),
                                    "done": dict(load.done),
                                    "errors": sum(errors.counts.values())})
                    log(f"t={samples[-1]['t']:.0f}s done {dict(load.done)} errors {dict(errors.counts)}")
                    next_sample += args.sample
                second = int(now - start)
                for action, count in per_second.items():
                    for _ in range(count):
                        n += 1
                        pool.submit(getattr(load, action), n)
                if second % 10 == 0:
                    pool.submit(load.product, second)
                if pool._work_queue.qsize() > 500:       # noqa: SLF001: the machine cannot keep up
                    errors.add("overload", f"{pool._work_queue.qsize()} actions waiting at t={now - start:.0f}s")
                time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
            samples.append({"t": round(time.monotonic() - start, 1), "processes": sample(server.proc.pid),
                            "cpu_s": round(server.cpu_seconds(), 2), "driver_cpu_s": round(time.process_time(), 2),
                                    "done": dict(load.done),
                            "errors": sum(errors.counts.values())})
    finally:
        server.stop()
    report = summarize(samples, args.warmup * 60)
    report.update({"when": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(),
                   "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                   "errors": dict(errors.counts), "error_examples": errors.examples, "samples": samples})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{dt.datetime.now():%Y-%m-%d-%H%M}-{socket.gethostname()}-soak.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {path}")
    log(f"the server kept {report['server_cores_busy']} of {report['cores']} cores busy "
        f"(the load generator {report['driver_cores_busy']})")
    log(f"errors {dict(errors.counts)}; RSS {report['rss_mb_after_warmup']} -> {report['rss_mb_end']} MB "
        f"({report['rss_growth_pct']}%), fds {report['fds_after_warmup']} -> {report['fds_end']}, "
        f"threads {report['threads_after_warmup']} -> {report['threads_end']}")
    for example in errors.examples:
        log(f"  {example}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report["goals_met"] and not errors.counts else 1


def summarize(samples: list[dict], warmup_s: float) -> dict:
    """The group's totals at the first sample after the warm-up and at the end, and the goals."""
    after = next((s for s in samples if s["t"] >= warmup_s), samples[-1])
    last = samples[-1]

    def total(s: dict, key: str) -> int:
        return sum(p[key] for p in s["processes"].values())

    rss0, rss1 = total(after, "rss_kb") / 1024, total(last, "rss_kb") / 1024
    growth = round(100 * (rss1 - rss0) / rss0, 1) if rss0 else 0.0
    fds0, fds1 = total(after, "fds"), total(last, "fds")
    threads0, threads1 = total(after, "threads"), total(last, "threads")
    span = max(1e-9, last["t"] - samples[0]["t"])
    busy = (last["cpu_s"] - samples[0]["cpu_s"]) / span
    driver = (last["driver_cpu_s"] - samples[0]["driver_cpu_s"]) / span
    return {"server_cores_busy": round(busy, 2), "driver_cores_busy": round(driver, 2), "cores": os.cpu_count(),
            "rss_mb_after_warmup": round(rss0, 1), "rss_mb_end": round(rss1, 1), "rss_growth_pct": growth,
            "fds_after_warmup": fds0, "fds_end": fds1, "threads_after_warmup": threads0, "threads_end": threads1,
            "processes_after_warmup": len(after["processes"]), "processes_end": len(last["processes"]),
            # open files and threads: level, give or take what requests in flight hold at the sample
            "goals_met": growth < 10 and fds1 <= fds0 + 20 and threads1 <= threads0 + 8}


if __name__ == "__main__":
    sys.exit(main())
