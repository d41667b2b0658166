"""Load generators: an asyncio/aiohttp client for the chained job flow, and wrk for GETs.

Why two: the job flow (submit -> poll -> result) chains requests whose URLs depend on the
previous answer, which wrk cannot do; a fixed-URL GET is best hammered by wrk, a C client
that needs a fraction of a core, leaving the rest of the 2 cores to the server under test.

Every loop here is bounded by a duration and/or a job count, and every request has a
timeout, so a run always ends by itself.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import aiohttp

try:
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson comes with opengp
    loads = json.loads

TIMEOUT = aiohttp.ClientTimeout(total=30)


class FlowError(RuntimeError):
    """The server answered something the flow cannot go on with (reported, not hidden)."""


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


# --------------------------------------------------------------------------- flows

class OpengpFlow:
    """ArcGIS REST GPServer job flow (spec arcgis-rest.md sections 7-8)."""

    name = "opengp"
    TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}
    SUCCESS = "esriJobSucceeded"

    def __init__(self, base_url: str, service: str = "Bench/Noop", task: str = "Noop"):
        self.task_url = f"{base_url}/arcgis/rest/services/{service}/GPServer/{task}"

    def status_url(self, job_id: str) -> str:
        return f"{self.task_url}/jobs/{job_id}?f=json"

    def submit_request(self, value: str = "x") -> tuple[str, bytes, dict[str, str]]:
        """(url, body, headers) of one submitJob, for wrk."""
        return (f"{self.task_url}/submitJob", f"f=json&value={value}".encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})

    async def submit(self, session: aiohttp.ClientSession, value: str = "x") -> str:
        async with session.post(f"{self.task_url}/submitJob", data={"f": "json", "value": value}) as r:
            body = await r.read()
        if r.status != 200:
            raise FlowError(f"submitJob HTTP {r.status}: {body[:200]!r}")
        doc = loads(body)
        if "jobId" not in doc:
            raise FlowError(f"submitJob without jobId: {body[:200]!r}")
        return doc["jobId"]

    async def status(self, session: aiohttp.ClientSession, job_id: str) -> str:
        async with session.get(self.status_url(job_id)) as r:
            body = await r.read()
        if r.status != 200:
            raise FlowError(f"job status HTTP {r.status}: {body[:200]!r}")
        return loads(body)["jobStatus"]

    async def result(self, session: aiohttp.ClientSession, job_id: str):
        async with session.get(f"{self.task_url}/jobs/{job_id}/results/result?f=json") as r:
            body = await r.read()
        if r.status != 200:
            raise FlowError(f"result HTTP {r.status}: {body[:200]!r}")
        return loads(body)["value"]


class PygeoapiFlow:
    """OGC API - Processes async flow against pygeoapi's hello-world process."""

    name = "pygeoapi"
    TERMINAL = {"successful", "failed", "dismissed"}
    SUCCESS = "successful"

    def __init__(self, base_url: str, process: str = "hello-world", input_name: str = "name"):
        self.base = base_url
        self.process = process
        self.input_name = input_name

    def status_url(self, job_id: str) -> str:
        return f"{self.base}/jobs/{job_id}?f=json"

    async def submit(self, session: aiohttp.ClientSession, value: str = "x") -> str:
        async with session.post(f"{self.base}/processes/{self.process}/execution",
                                json={"inputs": {self.input_name: value}},
                                headers={"Prefer": "respond-async"}) as r:
            body = await r.read()
            location = r.headers.get("Location", "")
        if r.status not in (200, 201):
            raise FlowError(f"execution HTTP {r.status}: {body[:200]!r}")
        if location:
            return location.rstrip("/").rsplit("/", 1)[-1]
        doc = loads(body) if body else {}
        if "jobID" in doc:
            return doc["jobID"]
        raise FlowError(f"async execution gave no Location nor jobID: {body[:200]!r}")

    async def status(self, session: aiohttp.ClientSession, job_id: str) -> str:
        async with session.get(self.status_url(job_id)) as r:
            body = await r.read()
        if r.status != 200:
            raise FlowError(f"job status HTTP {r.status}: {body[:200]!r}")
        return loads(body)["status"]

    async def result(self, session: aiohttp.ClientSession, job_id: str):
        async with session.get(f"{self.base}/jobs/{job_id}/results?f=json") as r:
            body = await r.read()
        if r.status != 200:
            raise FlowError(f"results HTTP {r.status}: {body[:200]!r}")
        return loads(body)


class OgcFlow(PygeoapiFlow):
    """The same opengp jobs through its OGC API - Processes face (``/ogcapi``): async execution
    (201, Location and statusInfo), statusInfo polls, the raw result (one output: the value)."""

    name = "opengp-ogc"

    def __init__(self, base_url: str, service: str = "Bench/Noop", task: str = "Noop"):
        super().__init__(f"{base_url}/ogcapi", f"{service.replace('/', '.')}.{task}", "value")

    def status_url(self, job_id: str) -> str:
        return f"{self.base}/jobs/{job_id}"

    def submit_request(self, value: str = "x") -> tuple[str, bytes, dict[str, str]]:
        """(url, body, headers) of one execution request, for wrk."""
        return (f"{self.base}/processes/{self.process}/execution",
                json.dumps({"inputs": {"value": value}}).encode(),
                {"Content-Type": "application/json", "Prefer": "respond-async"})

    async def result(self, session: aiohttp.ClientSession, job_id: str):
        async with session.get(f"{self.base}/jobs/{job_id}/results") as r:
            body = await r.read()
        if r.status != 200:
            raise FlowError(f"results HTTP {r.status}: {body[:200]!r}")
        return body.decode()


def flow_for(dialect: str, base_url: str, task: str = "Noop"):
    """The opengp flow of a dialect: ``gp`` (GPServer submitJob) or ``ogc`` (/ogcapi)."""
    if dialect == "ogc":
        return OgcFlow(base_url, task=task)
    return OpengpFlow(base_url, task=task)


# --------------------------------------------------------------------------- e2e

@dataclass
class PollPolicy:
    """When to poll: first after ``initial`` s, then each wait x``factor`` up to ``maximum``.

    Backoff keeps polling from swamping a slow server (pygeoapi jobs take 100s of ms under
    load) while a fast one is still caught within a few ms; both servers get the same policy."""
    initial: float = 0.005
    factor: float = 1.5
    maximum: float = 0.1


@dataclass
class E2EResult:
    jobs: int = 0
    failed: int = 0
    errors: int = 0
    requests: int = 0
    seconds: float = 0.0
    latencies: list = field(default_factory=list)
    first_error: str | None = None
    client_cpu_s: float = 0.0

    def summary(self) -> dict:
        return {
            "jobs": self.jobs, "failed_jobs": self.failed, "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "jobs_per_s": round(self.jobs / self.seconds, 1) if self.seconds else 0.0,
            "requests_per_job": round(self.requests / max(1, self.jobs + self.failed), 2),
            "job_latency_p50_ms": _ms(percentile(self.latencies, 50)),
            "job_latency_p99_ms": _ms(percentile(self.latencies, 99)),
            "client_cpu_s": round(self.client_cpu_s, 2),
            "first_error": self.first_error,
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


async def one_job(flow, session, policy: PollPolicy, stats: E2EResult, deadline: float) -> None:
    """submit -> poll (backoff) until terminal -> fetch result; records latency and counts."""
    t0 = time.perf_counter()
    job_id = await flow.submit(session)
    stats.requests += 1
    delay = policy.initial
    while True:
        await asyncio.sleep(delay)
        status = await flow.status(session, job_id)
        stats.requests += 1
        if status in flow.TERMINAL:
            break
        if time.perf_counter() > deadline + 30:  # a job stuck well past the run: give up on it
            raise FlowError(f"job {job_id} still {status} 30 s after the run ended")
        delay = min(delay * policy.factor, policy.maximum)
    if status != flow.SUCCESS:
        stats.failed += 1
        if stats.first_error is None:
            stats.first_error = f"job {job_id} ended {status}"
        return
    await flow.result(session, job_id)
    stats.requests += 1
    stats.jobs += 1
    stats.latencies.append(time.perf_counter() - t0)


async def e2e_throughput(flow, duration: float, concurrency: int, policy: PollPolicy,
                         max_jobs: int = 10_000_000) -> dict:
    """Keep ``concurrency`` jobs in flight for ``duration`` s (or ``max_jobs``), count jobs done.

    Jobs started before the deadline are finished and counted; the elapsed time includes
    that tail, so jobs/s is completed jobs over wall time. Errors stop a worker after 20."""
    stats = E2EResult()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    started = [0]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        t0 = time.perf_counter()
        deadline = t0 + duration

        async def worker() -> None:
            errors = 0
            while time.perf_counter() < deadline and started[0] < max_jobs and errors < 20:
                started[0] += 1
                try:
                    await one_job(flow, session, policy, stats, deadline)
                except (FlowError, aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError) as exc:
                    errors += 1
                    stats.errors += 1
                    if stats.first_error is None:
                        stats.first_error = f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats.seconds = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    stats.client_cpu_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out = stats.summary()
    out.update(concurrency=concurrency, duration_s=duration, poll=vars(policy).copy())
    return out


async def submit_many(flow, count: int, concurrency: int = 32) -> list[str]:
    """Submit ``count`` jobs and wait until all are terminal; returns their ids.

    Used to give the store a known number of real, finished jobs (target 3)."""
    ids: list[str] = []
    policy = PollPolicy(initial=0.01, maximum=0.2)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                job_id = await flow.submit(session)
                delay = policy.initial
                for _ in range(200):
                    await asyncio.sleep(delay)
                    if await flow.status(session, job_id) in flow.TERMINAL:
                        ids.append(job_id)
                        return
                    delay = min(delay * policy.factor, policy.maximum)
                raise FlowError(f"job {job_id} not terminal after ~40 s")

        await asyncio.gather(*(one() for _ in range(count)))
    return ids


# --------------------------------------------------------------------------- idle latency

async def submit_to_result(flow, samples: int, poll_every: float = 0.002) -> dict:
    """One job at a time on an idle server: submit, poll every ``poll_every`` s, fetch result.

    Reports the wall time from sending submit to having the result (target 4b)."""
    lat: list[float] = []
    polls: list[int] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=TIMEOUT) as session:
        await flow.submit(session)  # warm the connection
        for _ in range(samples):
            t0 = time.perf_counter()
            job_id = await flow.submit(session)
            n = 0
            while True:
                await asyncio.sleep(poll_every)
                n += 1
                status = await flow.status(session, job_id)
                if status in flow.TERMINAL:
                    break
                if n > 20_000:
                    raise FlowError(f"job {job_id} not terminal after {n} polls")
            if status != flow.SUCCESS:
                raise FlowError(f"job {job_id} ended {status}")
            await flow.result(session, job_id)
            lat.append(time.perf_counter() - t0)
            polls.append(n)
            await asyncio.sleep(0.01)  # let the server settle: this measures an idle server
    return {"samples": samples, "poll_every_ms": poll_every * 1000,
            "p50_ms": _ms(percentile(lat, 50)), "p90_ms": _ms(percentile(lat, 90)),
            "p99_ms": _ms(percentile(lat, 99)), "polls_p50": percentile(polls, 50)}


async def submit_to_executing(stamp_flow: OpengpFlow, samples: int) -> dict:
    """Idle server: time from sending submitJob to the task function starting.

    The Stamp task returns time.time() read as its body starts; the client notes
    time.time() just before sending. Same machine, same clock, so the difference is the
    server's accept + store + dispatch + worker start-up path, without polling error."""
    lat: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), timeout=TIMEOUT) as session:
        await stamp_flow.submit(session)
        for _ in range(samples):
            t_send = time.time()
            job_id = await stamp_flow.submit(session)
            for _ in range(20_000):
                await asyncio.sleep(0.002)
                status = await stamp_flow.status(session, job_id)
                if status in stamp_flow.TERMINAL:
                    break
            if status != stamp_flow.SUCCESS:
                raise FlowError(f"Stamp job {job_id} ended {status}")
            started = float(await stamp_flow.result(session, job_id))
            lat.append(started - t_send)
            await asyncio.sleep(0.01)
    return {"samples": samples, "p50_ms": _ms(percentile(lat, 50)),
            "p90_ms": _ms(percentile(lat, 90)), "p99_ms": _ms(percentile(lat, 99))}


# --------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    """Requests/s, latency percentiles and error counts from ``wrk --latency`` output."""
    res: dict = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["requests_per_s"] = float(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = round(_to_ms(m.group(1)), 3) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return res


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk not found: apt-get install wrk")
    return path


def run_wrk(url: str, connections: int, duration: float, threads: int = 1,
            post: tuple[bytes, dict[str, str]] | None = None) -> dict:
    """``wrk -t<threads> -c<connections> -d<duration> --latency URL``, parsed.

    One wrk thread by default: it drives ~10^5 req/s, far more than a Python server
    does here, and leaves the second core to the server. ``post`` = (body, headers)
    makes every request that POST (through a generated wrk Lua script)."""
    cmd = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, int(duration))}s",
           "--latency", "--timeout", "5s", url]
    script = None
    if post is not None:
        body, headers = post
        lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body.decode())}"]
        lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write("\n".join(lines) + "\n")
        script = fh.name
        cmd[1:1] = ["-s", script]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    finally:
        if script:
            os.unlink(script)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    res = parse_wrk(proc.stdout)
    res.update(connections=connections, duration_s=int(duration), threads=threads)
    return res


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
