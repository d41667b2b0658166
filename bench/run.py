#!/usr/bin/env python3
"""opengp benchmark driver: opengp, pygeoapi and a bare Starlette app, same machine, one run.

    .venv/bin/python bench/run.py [--quick] [--only opengp|pygeoapi|hello] [--duration S] [--dialect gp|ogc]

Measures (see bench/README.md for what each number means and the targets):
  1. e2e async throughput: jobs/s for submit -> poll to terminal -> fetch result,
     fixed concurrency, opengp vs pygeoapi (TinyDB and PostgreSQL managers);
  2. job-status GET req/s and latency at 64 connections (wrk), vs bench/hello_app.py;
  3. opengp job-status GET with 1,000 vs 1,000,000 stored jobs;
  4. idle latencies: submit-to-executing, and submit-to-result polled every 2 ms.
Servers run as subprocesses on free ports with data in a temp dir, and are always stopped.
Writes bench/results/<date>-<host>.json and prints a table plus markdown rows for
docs/performance.md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import fill  # noqa: E402
import load  # noqa: E402
import pygeoapi_side  # noqa: E402
import servers  # noqa: E402
from servers import Server, free_port  # noqa: E402

OPENGP_VENV = Path(os.environ.get("OPENGP_VENV", REPO / ".venv"))
TARGETS = {
    "e2e_jobs_per_s": 1500, "e2e_vs_pygeoapi": 10.0, "status_vs_hello": 0.30, "status_p99_ms": 10.0,
    "stored_ratio_max": 1.5, "submit_to_executing_p50_ms": 5.0, "submit_to_result_p50_ms": 10.0,
}

PROFILES = {
    # e2e and wrk seconds per measurement, idle-latency samples, warm-up seconds
    "quick": {"e2e_s": 5, "wrk_s": 5, "samples": 50, "warmup_s": 1},
    "full": {"e2e_s": 20, "wrk_s": 15, "samples": 300, "warmup_s": 2},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- machine

def machine_info() -> dict:
    """The machine (servers.machine_info), and the load generator's aiohttp."""
    import aiohttp
    return {**servers.machine_info(), "aiohttp": aiohttp.__version__}


# --------------------------------------------------------------------------- helpers

def measure_e2e(flow, srv: Server, cfg: dict, args) -> dict:
    """Warm up, then the measured e2e run; adds the server's CPU seconds during it."""
    policy = load.PollPolicy(args.poll_initial, 1.5, args.poll_max)
    asyncio.run(load.e2e_throughput(flow, cfg["warmup_s"], args.concurrency, policy))
    cpu0 = srv.cpu_seconds()
    res = asyncio.run(load.e2e_throughput(flow, cfg["e2e_s"], args.concurrency, policy))
    res["server_cpu_s"] = round(srv.cpu_seconds() - cpu0, 2)
    return res


def measure_wrk(url: str, srv: Server, cfg: dict, args) -> dict:
    """Short warm-up wrk run, then the measured one."""
    load.run_wrk(url, args.connections, cfg["warmup_s"])
    cpu0 = srv.cpu_seconds()
    res = load.run_wrk(url, args.connections, cfg["wrk_s"])
    res["server_cpu_s"] = round(srv.cpu_seconds() - cpu0, 2)
    res["url"] = url
    return res


def guarded(results: dict, key: str, fn, *a, **kw):
    """Run one measurement; on failure record the error and go on with the others."""
    try:
        results[key] = fn(*a, **kw)
        log(f"  {key}: {_short(results[key])}")
    except Exception as exc:  # noqa: BLE001 - reported, not swallowed
        results[key] = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"  {key}: FAILED {type(exc).__name__}: {exc}")
        traceback.print_exc(limit=3)


def _short(res) -> str:
    if not isinstance(res, dict):
        return str(res)
    keys = ("jobs_per_s", "requests_per_s", "p50_ms", "p99_ms", "job_latency_p50_ms", "errors",
            "non_2xx", "rows", "first_error")
    return ", ".join(f"{k}={res[k]}" for k in keys if k in res and res[k] is not None)


# --------------------------------------------------------------------------- sides

def run_hello(cfg: dict, args, tmp: Path) -> dict:
    port = free_port()
    out: dict = {}
    cmd = [str(OPENGP_VENV / "bin" / "python"), str(HERE / "hello_app.py"), "--port", str(port)]
    log("hello: bare uvicorn + Starlette")
    with Server("hello", cmd, f"http://127.0.0.1:{port}/hello", tmp / "hello.log") as srv:
        guarded(out, "status_get", measure_wrk, f"http://127.0.0.1:{port}/hello", srv, cfg, args)
    return out


def run_pygeoapi(cfg: dict, args, tmp: Path) -> dict:
    pygeoapi_side.ensure_setup()
    out: dict = {"version": pygeoapi_side.version(), "workers": args.pygeoapi_workers,
                 "server": "gunicorn pygeoapi.starlette_app:APP -k uvicorn.workers.UvicornWorker"}
    for manager in ("TinyDB", "PostgreSQL"):
        log(f"pygeoapi {out['version']} with {manager} manager, {args.pygeoapi_workers} gunicorn workers")
        res: dict = {}
        out[manager] = res
        port = free_port()
        try:
            srv = pygeoapi_side.make_server(manager, tmp / f"pygeoapi-{manager}", port, args.pygeoapi_workers)
            with srv:
                flow = load.PygeoapiFlow(f"http://127.0.0.1:{port}")
                guarded(res, "submit_to_result", lambda: asyncio.run(
                    load.submit_to_result(flow, max(10, cfg["samples"] // 3), 0.002)))
                guarded(res, "e2e", measure_e2e, flow, srv, cfg, args)
                ids = asyncio.run(load.submit_many(flow, 1))
                guarded(res, "status_get", measure_wrk, flow.status_url(ids[0]), srv, cfg, args)
        except Exception as exc:  # noqa: BLE001
            res["error"] = f"{type(exc).__name__}: {exc}"
            log(f"  pygeoapi {manager} FAILED: {exc}")
    return out


def opengp_server(tmp: Path, data_dir: Path, name: str) -> Server:
    """``opengp serve`` on a free port with a generated config (absolute toolbox path)."""
    exe = OPENGP_VENV / "bin" / "opengp"
    if not exe.exists():
        raise RuntimeError(f"{exe} missing: pip install -e {REPO} into {OPENGP_VENV}")
    config = tmp / "opengp.toml"
    config.write_text(
        "[[services]]\n"
        'folder = "Bench"\n'
        'name = "Noop"\n'
        f'toolbox = "{HERE / "noop_toolbox.py"}"\n'
        'execution_type = "asynchronous"\n'
        "max_instances = 64\n"
        "public = true\n")
    port = free_port()
    cmd = [str(exe), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), "--log-level", "warning"]
    srv = Server(name, cmd, f"http://127.0.0.1:{port}/arcgis/rest/info?f=json", tmp / f"{name}.log",
                 cwd=str(REPO), env={"OPENGP_ADMIN_PASSWORD": "bench-admin-password"})  # a server needs one
    srv.base_url = f"http://127.0.0.1:{port}"
    return srv


def run_opengp(cfg: dict, args, tmp: Path) -> dict:
    out: dict = {}
    log(f"opengp ({args.dialect} face): throughput, idle latency, status GET")
    with opengp_server(tmp, tmp / "opengp-data", "opengp") as srv:
        flow = load.flow_for(args.dialect, srv.base_url)
        stamp = load.flow_for(args.dialect, srv.base_url, task="Stamp")
        guarded(out, "submit_to_executing", lambda: asyncio.run(load.submit_to_executing(stamp, cfg["samples"])))
        guarded(out, "submit_to_result", lambda: asyncio.run(load.submit_to_result(flow, cfg["samples"], 0.002)))
        guarded(out, "e2e", measure_e2e, flow, srv, cfg, args)
        ids = asyncio.run(load.submit_many(flow, 1))
        guarded(out, "status_get", measure_wrk, flow.status_url(ids[0]), srv, cfg, args)
    if args.stored_jobs:
        guarded(out, "stored_jobs", run_opengp_stored, cfg, args, tmp)
    return out


def run_opengp_stored(cfg: dict, args, tmp: Path) -> dict:
    """Target 3: status GET of one real job with 1,000 stored jobs, then with 1,000,000."""
    small, big = 1000, args.stored_jobs
    data_dir = tmp / "opengp-stored"
    res: dict = {"small_jobs": small, "big_jobs": big}
    with opengp_server(tmp, data_dir, "opengp-stored") as srv:
        flow = load.flow_for(args.dialect, srv.base_url)
        log(f"  submitting {small} real jobs")
        ids = asyncio.run(load.submit_many(flow, small))
        url_path = flow.status_url(ids[len(ids) // 2])[len(srv.base_url):]
        res["small"] = measure_wrk(srv.base_url + url_path, srv, cfg, args)
        log(f"  {small} jobs: {_short(res['small'])}")
    log(f"  copying rows to {big} jobs in {data_dir / 'opengp.db'}")
    res["fill"] = fill.fill_jobs(data_dir / "opengp.db", big)
    log(f"  filled: {res['fill']['rows']} rows in {res['fill']['seconds']} s")
    with opengp_server(tmp, data_dir, "opengp-stored") as srv:
        res["big"] = measure_wrk(srv.base_url + url_path, srv, cfg, args)
        log(f"  {big} jobs: {_short(res['big'])}")
    s, b = res["small"], res["big"]
    res["rps_ratio_small_over_big"] = round(s["requests_per_s"] / b["requests_per_s"], 3)
    res["p99_ratio_big_over_small"] = round(b["p99_ms"] / s["p99_ms"], 3)
    return res


# --------------------------------------------------------------------------- report

def _get(d: dict, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _fmt(v, nd=1) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ok(cond) -> str:
    return "n/a" if cond is None else ("PASS" if cond else "FAIL")


def report_rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(measure, system, value, target/verdict) rows shared by the console and markdown."""
    rows = []
    og, pg, hello = r.get("opengp", {}), r.get("pygeoapi", {}), r.get("hello", {})
    conc = r["settings"]["concurrency"]
    pv = pg.get("version", "?")

    # 1. e2e throughput
    og_e2e = _get(og, "e2e", "jobs_per_s")
    pg_best = None
    for m in ("TinyDB", "PostgreSQL"):
        v = _get(pg, m, "e2e", "jobs_per_s")
        if v is not None:
            pg_best = max(pg_best or 0, v)
    if og:
        rows.append((f"1. e2e jobs/s ({conc} in flight)", "opengp", _fmt(og_e2e),
                     f">= {TARGETS['e2e_jobs_per_s']:,}: {_ok(None if og_e2e is None else og_e2e >= TARGETS['e2e_jobs_per_s'])}"))
    for m in ("TinyDB", "PostgreSQL"):
        if _get(pg, m) is not None:
            rows.append((f"1. e2e jobs/s ({conc} in flight)", f"pygeoapi {pv} {m}",
                         _fmt(_get(pg, m, "e2e", "jobs_per_s")), ""))
    if og_e2e and pg_best:
        ratio = og_e2e / pg_best
        rows.append(("1. e2e opengp / best pygeoapi", "ratio", f"{ratio:.1f}x",
                     f">= {TARGETS['e2e_vs_pygeoapi']:.0f}x: {_ok(ratio >= TARGETS['e2e_vs_pygeoapi'])}"))

    # 2. status GET at 64 connections
    hello_rps = _get(hello, "status_get", "requests_per_s")
    if hello:
        rows.append(("2. GET req/s @64 conns", "hello (uvicorn+Starlette)", _fmt(hello_rps),
                     f"p50 {_fmt(_get(hello, 'status_get', 'p50_ms'), 2)} ms, p99 {_fmt(_get(hello, 'status_get', 'p99_ms'), 2)} ms"))
    og_rps, og_p99 = _get(og, "status_get", "requests_per_s"), _get(og, "status_get", "p99_ms")
    if og:
        rows.append(("2. GET req/s @64 conns", "opengp job status", _fmt(og_rps),
                     f"p50 {_fmt(_get(og, 'status_get', 'p50_ms'), 2)} ms, p99 {_fmt(og_p99, 2)} ms "
                     f"(< {TARGETS['status_p99_ms']:.0f} ms: {_ok(None if og_p99 is None else og_p99 < TARGETS['status_p99_ms'])})"))
    if og_rps and hello_rps:
        ratio = og_rps / hello_rps
        rows.append(("2. opengp status / hello", "ratio", f"{ratio:.0%}",
                     f">= {TARGETS['status_vs_hello']:.0%}: {_ok(ratio >= TARGETS['status_vs_hello'])}"))
    for m in ("TinyDB", "PostgreSQL"):
        st = _get(pg, m, "status_get")
        if st is not None:
            rows.append(("2. GET req/s @64 conns", f"pygeoapi {pv} {m} job status", _fmt(st.get("requests_per_s")),
                         f"p50 {_fmt(st.get('p50_ms'), 2)} ms, p99 {_fmt(st.get('p99_ms'), 2)} ms"))

    # 3. stored jobs
    sj = _get(og, "stored_jobs")
    if sj and "small" in sj:
        for k in ("small", "big"):
            rows.append((f"3. status GET, {sj[k + '_jobs']:,} stored jobs", "opengp",
                         _fmt(_get(sj, k, "requests_per_s")),
                         f"p50 {_fmt(_get(sj, k, 'p50_ms'), 2)} ms, p99 {_fmt(_get(sj, k, 'p99_ms'), 2)} ms"))
        worst = max(sj["rps_ratio_small_over_big"], sj["p99_ratio_big_over_small"])
        rows.append(("3. slowdown 1M vs 1k (req/s; p99)", "ratio",
                     f"{sj['rps_ratio_small_over_big']:.2f}x; {sj['p99_ratio_big_over_small']:.2f}x",
                     f"<= {TARGETS['stored_ratio_max']}x: {_ok(worst <= TARGETS['stored_ratio_max'])}"))

    # 4. idle latency
    ste = _get(og, "submit_to_executing", "p50_ms")
    if og:
        rows.append(("4. submit-to-executing p50 (idle)", "opengp", f"{_fmt(ste, 2)} ms",
                     f"< {TARGETS['submit_to_executing_p50_ms']:.0f} ms: {_ok(None if ste is None else ste < TARGETS['submit_to_executing_p50_ms'])}"
                     f" (p99 {_fmt(_get(og, 'submit_to_executing', 'p99_ms'), 2)} ms)"))
        str50 = _get(og, "submit_to_result", "p50_ms")
        rows.append(("4. submit-to-result p50, 2 ms polls", "opengp", f"{_fmt(str50, 2)} ms",
                     f"< {TARGETS['submit_to_result_p50_ms']:.0f} ms: {_ok(None if str50 is None else str50 < TARGETS['submit_to_result_p50_ms'])}"
                     f" (p99 {_fmt(_get(og, 'submit_to_result', 'p99_ms'), 2)} ms)"))
    for m in ("TinyDB", "PostgreSQL"):
        v = _get(pg, m, "submit_to_result")
        if v is not None:
            rows.append(("4. submit-to-result p50, 2 ms polls", f"pygeoapi {pv} {m}",
                         f"{_fmt(v.get('p50_ms'), 2)} ms", f"p99 {_fmt(v.get('p99_ms'), 2)} ms"))
    return rows


def print_report(r: dict, json_path: Path) -> None:
    rows = report_rows(r)
    widths = [max(len(row[i]) for row in rows + [("measure", "system", "value", "target")]) for i in range(4)]
    print()
    header = ("measure", "system", "value", "target / detail")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    errors = _collect_errors(r)
    if errors:
        print("\nErrors:")
        for path, err in errors:
            print(f"  {path}: {err}")
    m = r["machine"]
    print(f"\nResults written to {json_path}")
    print("\nMarkdown rows for docs/performance.md:\n")
    print(f"Run {r['started']} on {m['host']}: {m['nproc']} x {m['cpu_model']}, {m['ram_gib']} GiB, "
          f"{m['os']}, Python {m['python']}; `{r['command']}`\n")
    print("| measure | system | value | target / detail |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(c.replace("|", "/") for c in row) + " |")


def _collect_errors(d, path="") -> list:
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            if k in ("error", "first_error") and v:
                out.append((path or "/", v))
            else:
                out.extend(_collect_errors(v, f"{path}/{k}"))
    return out


# --------------------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser(description="opengp vs pygeoapi vs bare Starlette, one run.")
    ap.add_argument("--quick", action="store_true", help="short runs (~2 minutes in all)")
    ap.add_argument("--only", choices=["opengp", "pygeoapi", "hello"], action="append",
                    help="run only these sides (repeatable)")
    ap.add_argument("--duration", type=float, help="seconds per e2e and wrk measurement")
    ap.add_argument("--concurrency", type=int, default=64, help="jobs in flight for e2e (default 64)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--poll-initial", type=float, default=0.005, help="e2e first poll delay, s")
    ap.add_argument("--poll-max", type=float, default=0.1, help="e2e poll backoff cap, s")
    ap.add_argument("--pygeoapi-workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--stored-jobs", type=int, default=1_000_000,
                    help="jobs for the large-store case of target 3 (0 skips it)")
    ap.add_argument("--dialect", choices=["gp", "ogc"], default="gp",
                    help="opengp's face: gp (GPServer submitJob, the default) or ogc (/ogcapi execution)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = ap.parse_args()

    cfg = dict(PROFILES["quick" if args.quick else "full"])
    if args.duration:
        cfg["e2e_s"] = cfg["wrk_s"] = args.duration
    sides = args.only or ["hello", "pygeoapi", "opengp"]
    load.wrk_path()

    tmp = Path(tempfile.mkdtemp(prefix="opengp-bench-"))
    results: dict = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "settings": {**cfg, "concurrency": args.concurrency, "connections": args.connections,
                     "poll_initial_s": args.poll_initial, "poll_max_s": args.poll_max,
                     "pygeoapi_workers": args.pygeoapi_workers, "stored_jobs": args.stored_jobs,
                     "dialect": args.dialect,
                     "sides": sides},
        "targets": TARGETS,
    }
    log(f"temp dir {tmp}; profile {cfg}")
    t0 = time.perf_counter()
    try:
        for side, fn in (("hello", run_hello), ("pygeoapi", run_pygeoapi), ("opengp", run_opengp)):
            if side in sides:
                try:
                    results[side] = fn(cfg, args, tmp)
                except Exception as exc:  # noqa: BLE001 - one side failing must not lose the others
                    results[side] = {"error": f"{type(exc).__name__}: {exc}"}
                    log(f"{side} FAILED: {exc}")
                    traceback.print_exc(limit=5)
    finally:
        results["elapsed_s"] = round(time.perf_counter() - t0, 1)
        out_dir = HERE / "results"
        out_dir.mkdir(exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M%S")
        json_path = out_dir / f"{stamp}-{socket.gethostname()}.json"
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_report(results, json_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
