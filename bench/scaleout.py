#!/usr/bin/env python3
"""Issue 6's targets on a real scale-out deployment (PostgreSQL + Celery on RabbitMQ).

    .venv/bin/python bench/scaleout.py [--only cpu|trivial|reads] [--rounds 3] [--stored-jobs 100000]

Each run makes a scratch PostgreSQL database (``opengp_b_<pid>``) and a unique queue prefix
(``opengp-b<pid>``), starts ``opengp serve`` and ``opengp worker`` processes on it, and
removes all of it at the end (processes, database, queues and their exchanges).

  cpu      e2e jobs/s of ``Bench/Noop`` ``Burn`` (200 ms of one core's CPU time per job) with
           one worker ``-c 1``, one worker ``-c 2`` and two workers ``-c 1``, rounds
           alternating; target: 2 processes >= 1.6x one.
  trivial  e2e jobs/s of ``Noop`` (submit, poll, fetch; ``--concurrency`` in flight, as
           run.py) on 1 API server + workers; CPU seconds of every party (API server,
           workers, PostgreSQL, RabbitMQ, load generator); target >= 500 jobs/s.
  reads    job status GET (wrk, 64 connections) and admin ``jobs/query`` (first page and a
           filtered page, as jobs_query.py) with the same ``--stored-jobs`` finished jobs on
           SQLite (local mode) and on PostgreSQL, with and without the API server's cache of
           finished jobs (``job_cache = 0``); target PG within 2x of SQLite.

Writes ``bench/results/<date>-<time>-<host>-scaleout.json``. Needs PostgreSQL (``PGURL``,
default postgresql://postgres@127.0.0.1:5432/postgres, trust auth) and RabbitMQ
(``OPENGP_BENCH_BROKER``, default amqp://guest:guest@127.0.0.1:5672//).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import jobs_query  # noqa: E402
import load  # noqa: E402
from run import OPENGP_VENV, machine_info  # noqa: E402
from servers import CLK_TCK, Server, ServerError, free_port  # noqa: E402

PG_ADMIN = os.environ.get("PGURL", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER = os.environ.get("OPENGP_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
SERVICE_QUEUES = ("Bench/Noop",)
TARGETS = {"cpu_ratio_min": 1.6, "trivial_jobs_per_s": 500, "reads_ratio_max": 2.0}

CONFIG = f"""
[[services]]
folder = "Bench"
name = "Noop"
toolbox = "{HERE / 'noop_toolbox.py'}"
execution_type = "asynchronous"
max_usage_time = 120
public = true
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


def cpu_of(names: tuple[str, ...]) -> float:
    """CPU seconds so far of every process whose command name is in ``names`` (e.g. postgres:
    all its backends, this deployment's and anyone else's on the machine)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm in names:
            fields = raw.rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:13])
    return total / CLK_TCK


# --------------------------------------------------------------------------- deployment

class Worker(Server):
    """``opengp worker``: ready when its log says so (it has no HTTP port)."""

    def start(self) -> None:
        import subprocess

        self._log = open(self.log_path, "ab")
        start_size = self.log_path.stat().st_size
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}")
            with open(self.log_path, "rb") as fh:
                fh.seek(start_size)
                if b"opengp worker ready" in fh.read():
                    return
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready after {self.start_timeout}s:\n{self.log_tail()}")


class Deployment:
    """A scratch database + queue prefix; API servers and workers started on demand."""

    def __init__(self, tmp: Path, max_instances: int | None = None):
        self.tmp = tmp
        self.database = f"opengp_b_{os.getpid()}"
        self.prefix = f"opengp-b{os.getpid()}"
        self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.database
        self.config = tmp / "opengp.toml"
        # no max_instances by default (the default service: limited only by workers); a limit
        # makes every finished job ring its service again (a second doorbell per job)
        self.config.write_text(CONFIG + (f"max_instances = {max_instances}\n" if max_instances else ""))
        self.servers: list[Server] = []
        self.workers: list[Worker] = []
        self.created = False

    @property
    def env(self) -> dict[str, str]:
        return {"OPENGP_DATABASE_URL": self.url.replace("postgresql://", "postgresql+psycopg://"),
                "OPENGP_BROKER_URL": BROKER, "OPENGP_QUEUE_PREFIX": self.prefix,
                "OPENGP_SECRET_KEY": "bench-scaleout-secret-key-0123456789",
                "OPENGP_ADMIN_PASSWORD": jobs_query.ADMIN_PASSWORD,
                "OPENGP_DATA_DIR": str(self.tmp / "data")}

    def create(self, async_commit: bool = False) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database}"')
            if async_commit:    # what pg_fast_commit would do (design §6.4), for this database only
                conn.execute(f'ALTER DATABASE "{self.database}" SET synchronous_commit = off')
        self.created = True

    def start_server(self, env: dict[str, str] | None = None, processes: int = 1) -> Server:
        """An ``opengp serve`` (``--processes``: API processes behind one port)."""
        port = free_port()
        i = len(self.servers)
        srv = Server(f"api{i}", [str(OPENGP_VENV / "bin" / "opengp"), "serve", "--config", str(self.config),
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                 "--processes", str(processes)],
                     f"http://127.0.0.1:{port}/arcgis/rest/info?f=json", self.tmp / f"api{i}.log",
                     env={**self.env, **(env or {})}, cwd=str(self.tmp))
        srv.base_url = f"http://127.0.0.1:{port}"
        srv.start()
        self.servers.append(srv)
        return srv

    def start_workers(self, counts: list[int], env: dict[str, str] | None = None) -> None:
        """One ``opengp worker -c n`` per entry of ``counts``."""
        for n in counts:
            i = len(self.workers)
            w = Worker(f"worker{i}", [str(OPENGP_VENV / "bin" / "opengp"), "worker", "--config", str(self.config),
                                      "-c", str(n), "--log-level", "warning"],
                       "", self.tmp / f"worker{i}.log", env={**self.env, **(env or {})}, cwd=str(self.tmp))
            w.start()
            self.workers.append(w)

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []

    def workers_cpu(self) -> float:
        return sum(w.cpu_seconds() for w in self.workers)

    def stop(self) -> None:
        self.stop_workers()
        for s in self.servers:
            s.stop()
        self.servers = []
        self._delete_queues()
        if self.created:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.created = False

    def _delete_queues(self) -> None:
        from kombu import Connection

        try:
            with Connection(BROKER, connect_timeout=5) as conn:
                channel = conn.channel()
                for name in [self.prefix] + [f"{self.prefix}.{s}" for s in SERVICE_QUEUES]:
                    for delete in (channel.queue_delete, channel.exchange_delete):
                        try:
                            delete(name)
                        except Exception:  # noqa: BLE001 - absent: fine
                            channel = conn.channel()
        except Exception as exc:  # noqa: BLE001
            log(f"could not delete queues {self.prefix}.*: {exc}")


# --------------------------------------------------------------------------- e2e

def e2e(srv: Server, dep: Deployment | None, task: str, duration: float, concurrency: int,
        warmup: float, policy: load.PollPolicy) -> dict:
    """Warm-up, then one e2e run; with every party's CPU seconds during the measured run."""
    flow = load.OpengpFlow(srv.base_url, task=task)
    if warmup:
        asyncio.run(load.e2e_throughput(flow, warmup, concurrency, policy))
    la0 = loadavg()
    c0 = {"api": srv.cpu_seconds(), "workers": dep.workers_cpu() if dep else 0.0,
          "postgres": cpu_of(("postgres",)), "rabbitmq": cpu_of(("beam.smp",))}
    t0 = time.perf_counter()
    res = asyncio.run(load.e2e_throughput(flow, duration, concurrency, policy))
    wall = time.perf_counter() - t0
    c1 = {"api": srv.cpu_seconds(), "workers": dep.workers_cpu() if dep else 0.0,
          "postgres": cpu_of(("postgres",)), "rabbitmq": cpu_of(("beam.smp",))}
    cpu = {k: round(c1[k] - c0[k], 2) for k in c0}
    cpu["client"] = res["client_cpu_s"]
    res["cpu_s"] = cpu
    res["cpu_ms_per_job"] = {k: round(1000 * v / max(1, res["jobs"]), 3) for k, v in cpu.items()}
    res["cores_busy"] = round(sum(cpu.values()) / wall, 2)
    res["loadavg_before"] = la0
    return res


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "values": [round(v, 2) for v in values]}


def run_cpu(dep: Deployment, srv: Server, args) -> dict:
    """Burn jobs/s: -c1 vs -c2 vs 2 x -c1, alternating rounds."""
    layouts = {"1x-c1": [1], "1x-c2": [2], "2x-c1": [1, 1]}
    policy = load.PollPolicy(0.05, 1.5, 0.1)
    out: dict = {k: [] for k in layouts}
    for r in range(args.rounds):
        order = list(layouts) if r % 2 == 0 else list(reversed(layouts))
        for name in order:
            dep.start_workers(layouts[name])
            try:
                res = e2e(srv, dep, "Burn", args.cpu_duration, args.cpu_concurrency, 1.0, policy)
            finally:
                dep.stop_workers()
            out[name].append(res)
            log(f"  cpu round {r + 1} {name}: {res['jobs_per_s']} jobs/s ({res['jobs']} jobs, "
                f"{res['failed_jobs']} failed, {res['errors']} errors), cpu {res['cpu_s']}, load {res['loadavg_before']}")
    summary = {k: _spread([x["jobs_per_s"] for x in v]) for k, v in out.items()}
    one = summary["1x-c1"]["median"]
    summary["ratio_1x-c2"] = round(summary["1x-c2"]["median"] / one, 2) if one else None
    summary["ratio_2x-c1"] = round(summary["2x-c1"]["median"] / one, 2) if one else None
    rounds_ratio = {k: [round(b["jobs_per_s"] / a["jobs_per_s"], 2) for a, b in zip(out["1x-c1"], out[k])]
                    for k in ("1x-c2", "2x-c1")}
    return {"runs": out, "summary": summary, "per_round_ratio": rounds_ratio}


def run_trivial(dep: Deployment, srv: Server, args) -> dict:
    if args.base_src:
        return run_trivial_ab(dep, srv, args)
    policy = load.PollPolicy(args.poll_initial, 1.5, args.poll_max)
    out: dict = {}
    for layout in args.trivial_layouts:
        counts = [int(x) for x in layout.split(",")]
        name = "+".join(f"c{n}" for n in counts)
        dep.start_workers(counts)
        runs = []
        try:
            c0 = {"api": srv.cpu_seconds(), "workers": dep.workers_cpu(), "postgres": cpu_of(("postgres",)),
                  "rabbitmq": cpu_of(("beam.smp",))}
            time.sleep(5)
            idle = {"api": srv.cpu_seconds(), "workers": dep.workers_cpu(), "postgres": cpu_of(("postgres",)),
                    "rabbitmq": cpu_of(("beam.smp",))}
            idle = {k: round((idle[k] - c0[k]) / 5, 3) for k in idle}
            log(f"  trivial {name}: idle CPU (cores) {idle}")
            for r in range(args.rounds):
                res = e2e(srv, dep, "Noop", args.duration, args.concurrency, 2.0 if r == 0 else 0.5, policy)
                runs.append(res)
                log(f"  trivial {name} round {r + 1}: {res['jobs_per_s']} jobs/s, {res['requests_per_job']} req/job, "
                    f"cpu ms/job {res['cpu_ms_per_job']}, cores busy {res['cores_busy']}, errors {res['errors']}"
                    f"{' ' + str(res['first_error']) if res['first_error'] else ''}, load {res['loadavg_before']}")
        finally:
            dep.stop_workers()
        out[name] = {"runs": runs, "idle_cores": idle, "jobs_per_s": _spread([x["jobs_per_s"] for x in runs])}
    return out


def run_trivial_ab(dep: Deployment, srv: Server, args) -> dict:
    """``--base-src``: this tree ("new") against another ("base"), API server and workers both,
    in the same rounds, the side that goes first alternating; per-round ratios new/base."""
    policy = load.PollPolicy(args.poll_initial, 1.5, args.poll_max)
    srv.stop()
    dep.servers.remove(srv)
    sides = {"new": {}, "base": {"PYTHONPATH": str(args.base_src)}}
    out: dict = {}
    for layout in args.trivial_layouts:
        counts = [int(x) for x in layout.split(",")]
        name = "+".join(f"c{n}" for n in counts)
        runs: dict = {side: [] for side in sides}
        for r in range(args.rounds):
            for side in (list(sides) if r % 2 == 0 else list(reversed(sides))):
                server = dep.start_server(env=sides[side], processes=args.api_processes)
                dep.start_workers(counts, env=sides[side])
                try:
                    res = e2e(server, dep, "Noop", args.duration, args.concurrency, 2.0, policy)
                finally:
                    dep.stop_workers()
                    server.stop()
                    dep.servers.remove(server)
                runs[side].append(res)
                log(f"  trivial {name} round {r + 1} {side}: {res['jobs_per_s']} jobs/s, cpu ms/job {res['cpu_ms_per_job']}, "
                    f"cores busy {res['cores_busy']}, errors {res['errors']}, load {res['loadavg_before']}")
        ratios = [round(a["jobs_per_s"] / b["jobs_per_s"], 3) for a, b in zip(runs["new"], runs["base"])]
        out[name] = {"runs": runs, "jobs_per_s": {side: _spread([x["jobs_per_s"] for x in v]) for side, v in runs.items()},
                     "ratio_new_base": _spread(ratios)}
    return out


# --------------------------------------------------------------------------- reads

def copy_sqlite_to_pg(db: Path, pg_url: str, store_url: str) -> dict:
    """Copy every row of the SQLite ``jobs`` table into PostgreSQL's (schema already migrated),
    then fold the count deltas the copy made and ``VACUUM ANALYZE``: the state autovacuum
    would leave (it is off on the test machine's PostgreSQL; without it, the folded deltas'
    dead rows made every ``jobs/query`` scan ~900 empty pages, ~3 ms)."""
    import psycopg

    from opengp.store.sql import SqlStore

    t0 = time.perf_counter()
    src = sqlite3.connect(db)
    cols = [r[1] for r in src.execute("PRAGMA table_info(jobs)")]
    with psycopg.connect(pg_url) as conn:
        pg_cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs'")]
        cols = [c for c in cols if c in pg_cols]
        # jobs of earlier parts of the run, and their counts (TRUNCATE fires no trigger): same rows on both sides
        conn.execute("TRUNCATE jobs, job_counts, job_count_deltas")
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'jobs'").fetchall())
        bools = [i for i, c in enumerate(cols) if types[c] == "boolean"]
        with conn.cursor() as cur:
            with cur.copy(f"COPY jobs ({', '.join(cols)}) FROM STDIN") as cp:
                for row in src.execute(f"SELECT {', '.join(cols)} FROM jobs"):
                    if bools:
                        row = list(row)
                        for i in bools:
                            row[i] = None if row[i] is None else bool(row[i])
                    cp.write_row(row)
        conn.commit()
        SqlStore(store_url).close()         # folds the deltas the copy's inserts made
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        n = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]
    src.close()
    return {"rows": n, "seconds": round(time.perf_counter() - t0, 1), "autovacuum": autovacuum}


def pick_status_url(db: Path, base_url: str) -> str:
    """An anonymous succeeded GP job in the middle of the table (same id in both stores)."""
    conn = sqlite3.connect(db)
    n = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    job_id = conn.execute("SELECT id FROM jobs WHERE kind = 'gp' AND status = 'succeeded' AND owner IS NULL "
                          "ORDER BY rowid LIMIT 1 OFFSET ?", (n // 20,)).fetchone()[0]
    conn.close()
    return f"{base_url}/arcgis/rest/services/Bench/Noop/GPServer/Noop/jobs/{job_id}?f=json"


def measure_reads(srv: Server, status_path: str, now: float, args) -> dict:
    url = srv.base_url + status_path
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc = json.loads(resp.read())
        if doc.get("jobStatus") != "esriJobSucceeded":
            raise RuntimeError(f"{url}: {doc}")
    load.run_wrk(url, args.connections, 2)
    c0 = srv.cpu_seconds()
    st = load.run_wrk(url, args.connections, args.wrk_duration)
    st["server_cpu_s"] = round(srv.cpu_seconds() - c0, 2)
    st["loadavg_after"] = loadavg()
    q = jobs_query.time_http(srv.base_url, now, args.query_requests)
    return {"status_get": st, "status_get_running": measure_running_status(srv, args), "jobs_query": q}


def measure_running_status(srv: Server, args) -> dict:
    """wrk on the status of a job that is running (a Sleep that outlasts the measurement, on a
    real worker): the poll of a client waiting for its job.  Cancelled afterwards."""
    base = f"{srv.base_url}/arcgis/rest/services/Bench/Noop/GPServer/Sleep"
    body = urllib.parse.urlencode({"seconds": 110, "f": "json"}).encode()     # under max_usage_time (120)
    with urllib.request.urlopen(f"{base}/submitJob", body, timeout=10) as resp:
        job_id = json.loads(resp.read())["jobId"]
    url = f"{base}/jobs/{job_id}?f=json"
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(url, timeout=10) as resp:
            status = json.loads(resp.read())["jobStatus"]
        if status == "esriJobExecuting":
            break
        if time.monotonic() > deadline or status not in ("esriJobNew", "esriJobSubmitted", "esriJobWaiting"):
            raise RuntimeError(f"{url}: {status} (a worker should be running it)")
        time.sleep(0.05)
    load.run_wrk(url, args.connections, 2)
    c0 = srv.cpu_seconds()
    st = load.run_wrk(url, args.connections, args.wrk_duration)
    st["server_cpu_s"] = round(srv.cpu_seconds() - c0, 2)
    with urllib.request.urlopen(url, timeout=10) as resp:
        st["status_after"] = json.loads(resp.read())["jobStatus"]    # still running: what was measured
    urllib.request.urlopen(f"{base}/jobs/{job_id}/cancel", b"f=json", timeout=10).read()
    return st


def run_reads(dep: Deployment, tmp: Path, args) -> dict:
    from opengp.store.sql import SqlStore

    now = time.time()
    data_dir = tmp / "sqlite-data"
    log(f"  filling SQLite with {args.stored_jobs} jobs (+1% admin jobs)")
    fill = jobs_query.make_store(data_dir, args.stored_jobs, now)
    db = data_dir / "opengp.db"
    out: dict = {"fill": fill, "sqlite": [], "postgres": []}
    SqlStore(dep.env["OPENGP_DATABASE_URL"]).close()      # PG schema by opengp's migrations
    out["pg_copy"] = copy_sqlite_to_pg(db, dep.url, dep.env["OPENGP_DATABASE_URL"])
    log(f"  copied to PostgreSQL: {out['pg_copy']}")
    status_path = pick_status_url(db, "")

    def sqlite_server() -> Server:
        port = free_port()
        s = Server("sqlite", [str(OPENGP_VENV / "bin" / "opengp"), "serve", "--config", str(dep.config),
                              "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
                              "--log-level", "warning"],
                   f"http://127.0.0.1:{port}/arcgis/rest/info?f=json", tmp / "sqlite.log",
                   env={"OPENGP_ADMIN_PASSWORD": jobs_query.ADMIN_PASSWORD}, cwd=str(tmp))
        s.base_url = f"http://127.0.0.1:{port}"
        return s

    sides = ["sqlite", "postgres", "postgres_nocache"] + (["postgres_base"] if args.base_src else [])
    for side in sides[2:]:
        out[side] = []
    # postgres_nocache: without the API server's cache of finished jobs (store/cache.py);
    # postgres_base: the API server runs the code of --base-src (e.g. main's src), for before/after
    side_env = {"postgres": None, "postgres_nocache": {"OPENGP_JOB_CACHE": "0"},
                "postgres_base": {"PYTHONPATH": str(args.base_src)}}
    dep.start_workers([1])      # runs the PostgreSQL sides' Sleep job (measure_running_status)
    for r in range(args.rounds):
        order = sides[r % len(sides):] + sides[:r % len(sides)]
        for side in order:
            if side == "sqlite":
                with sqlite_server() as s:
                    res = measure_reads(s, status_path, now, args)
            else:
                s = dep.start_server(side_env[side])
                try:
                    res = measure_reads(s, status_path, now, args)
                finally:
                    s.stop()
                    dep.servers.remove(s)
            out[side].append(res)
            st, sr = res["status_get"], res["status_get_running"]
            log(f"  reads {side} round {r + 1}: status {st['requests_per_s']} req/s p50 {st['p50_ms']} "
                f"p99 {st['p99_ms']} ms; running job's status {sr['requests_per_s']} req/s p50 {sr['p50_ms']} "
                f"ms ({sr['status_after']}); query first {res['jobs_query']['first_page']['p50_ms']} ms, "
                f"filtered {res['jobs_query']['filtered']['p50_ms']} ms p50")
    s_, p_ = out["sqlite"], out["postgres"]

    def med(runs, *path):
        vals = []
        for x in runs:
            for k in path:
                x = x[k]
            vals.append(x)
        return _spread(vals)

    summ = {}
    for side in sides:
        runs = out[side]
        summ[side] = {"status_rps": med(runs, "status_get", "requests_per_s"),
                      "status_p50_ms": med(runs, "status_get", "p50_ms"),
                      "status_p99_ms": med(runs, "status_get", "p99_ms"),
                      "running_status_rps": med(runs, "status_get_running", "requests_per_s"),
                      "running_status_p50_ms": med(runs, "status_get_running", "p50_ms"),
                      "running_status_p99_ms": med(runs, "status_get_running", "p99_ms"),
                      "query_first_p50_ms": med(runs, "jobs_query", "first_page", "p50_ms"),
                      "query_first_p99_ms": med(runs, "jobs_query", "first_page", "p99_ms"),
                      "query_filtered_p50_ms": med(runs, "jobs_query", "filtered", "p50_ms"),
                      "query_filtered_p99_ms": med(runs, "jobs_query", "filtered", "p99_ms")}
    S, P = summ["sqlite"], summ["postgres"]
    summ["ratios_pg_over_sqlite"] = {
        "status_rps (sqlite/pg)": round(S["status_rps"]["median"] / P["status_rps"]["median"], 2),
        "status_p50": round(P["status_p50_ms"]["median"] / S["status_p50_ms"]["median"], 2),
        "status_p99": round(P["status_p99_ms"]["median"] / S["status_p99_ms"]["median"], 2),
        "running_status_rps (sqlite/pg)": round(S["running_status_rps"]["median"] / P["running_status_rps"]["median"], 2),
        "running_status_p50": round(P["running_status_p50_ms"]["median"] / S["running_status_p50_ms"]["median"], 2),
        "query_first_p50": round(P["query_first_p50_ms"]["median"] / S["query_first_p50_ms"]["median"], 2),
        "query_filtered_p50": round(P["query_filtered_p50_ms"]["median"] / S["query_filtered_p50_ms"]["median"], 2),
    }
    N = summ["postgres_nocache"]
    summ["ratios_pg_nocache_over_sqlite"] = {
        "status_rps (sqlite/pg)": round(S["status_rps"]["median"] / N["status_rps"]["median"], 2),
        "status_p50": round(N["status_p50_ms"]["median"] / S["status_p50_ms"]["median"], 2),
        "running_status_rps (sqlite/pg)": round(S["running_status_rps"]["median"] / N["running_status_rps"]["median"], 2),
        "query_first_p50": round(N["query_first_p50_ms"]["median"] / S["query_first_p50_ms"]["median"], 2),
        "query_filtered_p50": round(N["query_filtered_p50_ms"]["median"] / S["query_filtered_p50_ms"]["median"], 2),
    }
    # the same ratios round by round (each round measures the sides back to back)
    summ["per_round"] = [{
        "status_rps sqlite/pg": round(a["status_get"]["requests_per_s"] / b["status_get"]["requests_per_s"], 2),
        "status_rps sqlite/pg_nocache": round(a["status_get"]["requests_per_s"] / c["status_get"]["requests_per_s"], 2),
        "running_status_rps sqlite/pg": round(a["status_get_running"]["requests_per_s"]
                                              / b["status_get_running"]["requests_per_s"], 2),
        "running_status_rps sqlite/pg_nocache": round(a["status_get_running"]["requests_per_s"]
                                                      / c["status_get_running"]["requests_per_s"], 2),
        "query_first pg/sqlite": round(b["jobs_query"]["first_page"]["p50_ms"] / a["jobs_query"]["first_page"]["p50_ms"], 2),
        "query_filtered pg/sqlite": round(b["jobs_query"]["filtered"]["p50_ms"] / a["jobs_query"]["filtered"]["p50_ms"], 2),
    } for a, b, c in zip(s_, p_, out["postgres_nocache"])]
    if args.base_src:
        B = summ["postgres_base"]
        summ["ratios_pg_base_over_sqlite"] = {
            "status_rps (sqlite/pg)": round(S["status_rps"]["median"] / B["status_rps"]["median"], 2),
            "query_first_p50": round(B["query_first_p50_ms"]["median"] / S["query_first_p50_ms"]["median"], 2),
            "query_filtered_p50": round(B["query_filtered_p50_ms"]["median"] / S["query_filtered_p50_ms"]["median"], 2),
        }
        for row, a, b in zip(summ["per_round"], s_, out["postgres_base"]):
            row["status_rps sqlite/pg_base"] = round(a["status_get"]["requests_per_s"] / b["status_get"]["requests_per_s"], 2)
            row["running_status_rps sqlite/pg_base"] = round(a["status_get_running"]["requests_per_s"]
                                                             / b["status_get_running"]["requests_per_s"], 2)
            row["query_first pg_base/sqlite"] = round(b["jobs_query"]["first_page"]["p50_ms"]
                                                      / a["jobs_query"]["first_page"]["p50_ms"], 2)
            row["query_filtered pg_base/sqlite"] = round(b["jobs_query"]["filtered"]["p50_ms"]
                                                         / a["jobs_query"]["filtered"]["p50_ms"], 2)
    out["summary"] = summ
    return out


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["cpu", "trivial", "reads"], action="append")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu-duration", type=float, default=12.0, help="s per Burn run (~60 jobs at 1 worker)")
    ap.add_argument("--cpu-concurrency", type=int, default=8, help="Burn jobs in flight")
    ap.add_argument("--duration", type=float, default=10.0, help="s per trivial e2e run")
    ap.add_argument("--concurrency", type=int, default=64, help="trivial jobs in flight (as run.py)")
    ap.add_argument("--poll-initial", type=float, default=0.005)
    ap.add_argument("--poll-max", type=float, default=0.1)
    ap.add_argument("--trivial-layouts", nargs="+", default=["2", "1,1"],
                    help="worker layouts for the trivial run: '2' = one worker -c 2, '1,1' = two -c 1")
    ap.add_argument("--stored-jobs", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-duration", type=float, default=10.0)
    ap.add_argument("--query-requests", type=int, default=200)
    ap.add_argument("--base-src", type=Path,
                    help="reads: also measure a PostgreSQL API server running this src tree (before/after); "
                         "trivial: run it against this tree, round by round")
    ap.add_argument("--max-instances", type=int, help="the service's max_instances (default: none)")
    ap.add_argument("--pg-async-commit", action="store_true",
                    help="ALTER DATABASE ... SET synchronous_commit = off on the scratch database")
    ap.add_argument("--api-processes", type=int, default=1,
                    help="cpu/trivial: the API server's processes (opengp serve --processes)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = ap.parse_args()
    parts = args.only or ["cpu", "trivial", "reads"]
    load.wrk_path()

    tmp = Path(tempfile.mkdtemp(prefix="opengp-scaleout-"))
    results: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"),
                     "command": "python bench/scaleout.py " + " ".join(sys.argv[1:]),
                     "machine": machine_info(), "loadavg_start": loadavg(), "targets": TARGETS,
                     "settings": {k: v for k, v in vars(args).items()}, "broker": BROKER.split("@")[-1]}
    log(f"temp dir {tmp}; load {results['loadavg_start']}")
    dep = Deployment(tmp, args.max_instances)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    try:
        dep.create(args.pg_async_commit)
        if "cpu" in parts or "trivial" in parts:
            srv = dep.start_server(processes=args.api_processes)
            for part, fn in (("cpu", run_cpu), ("trivial", run_trivial)):
                if part in parts:
                    log(f"{part}:")
                    results[part] = fn(dep, srv, args)
            for server in dep.servers:      # (run_trivial_ab stopped srv already)
                server.stop()
            dep.servers = []
        if "reads" in parts:
            log("reads:")
            results["reads"] = run_reads(dep, tmp, args)
    finally:
        dep.stop()
        results["loadavg_end"] = loadavg()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        results["driver_cpu_s"] = round(ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime, 1)
        out_dir = HERE / "results"
        out_dir.mkdir(exist_ok=True)
        path = out_dir / f"{dt.datetime.now():%Y-%m-%d-%H%M}-{socket.gethostname()}-scaleout.json"
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"results: {path}")
        if args.keep:
            log(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    for part in ("cpu", "trivial"):
        if part in results:
            r = results[part]
            print(part, json.dumps(r["summary"] if part == "cpu" else {k: v["jobs_per_s"] for k, v in r.items()}))
    if "reads" in results:
        print("reads", json.dumps(results["reads"]["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
