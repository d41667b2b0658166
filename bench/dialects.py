#!/usr/bin/env python3
"""The same opengp server through two faces: the GP face (ArcGIS REST ``submitJob``) and
OGC API - Processes (``/ogcapi``), measured in alternating rounds on one server.

    .venv/bin/python bench/dialects.py [--rounds 3] [--duration 8] [--quick]

Per round and dialect (the order flips every round, so drift in a shared machine's load
falls on both):
  * ``submit``: wrk POSTs one small execution request (64 connections): GP ``submitJob``
    (form) vs OGC ``POST /ogcapi/processes/Bench.Noop.Noop/execution`` with
    ``Prefer: respond-async`` and a JSON body.  The queued jobs are then drained (a marker
    job is submitted and waited for) before the next measurement;
  * ``status``: wrk GETs one finished job's status: GP ``.../jobs/<id>?f=json`` vs OGC
    ``/ogcapi/jobs/<id>``;
  * ``e2e``: the aiohttp flow of bench/run.py (submit, poll with backoff, fetch the result).

Target (issue 7): OGC submission and status reads within 1.2x of the GP face (GP req/s
over OGC req/s <= 1.2).  Writes ``results/<date>-<time>-<host>-dialects.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import load  # noqa: E402
from run import PROFILES, log, machine_info, measure_e2e, opengp_server  # noqa: E402

DIALECTS = ("gp", "ogc")
TARGET = 1.2


async def _drain(flow) -> None:
    """Wait until the queue the previous measurement filled has run (FIFO: a marker job)."""
    await load.submit_many(flow, 1)


def measure_submit(flow, srv, args) -> dict:
    url, body, headers = flow.submit_request()
    load.run_wrk(url, args.connections, 1, post=(body, headers))            # warm-up
    asyncio.run(_drain(flow))
    cpu0 = srv.cpu_seconds()
    res = load.run_wrk(url, args.connections, args.duration, post=(body, headers))
    res["server_cpu_s"] = round(srv.cpu_seconds() - cpu0, 2)
    res["server_cpu_us_per_request"] = round(res["server_cpu_s"] / max(1, res["requests"] or 0) * 1e6, 1)
    t0 = time.perf_counter()
    asyncio.run(_drain(flow))
    res["drain_s"] = round(time.perf_counter() - t0, 2)
    return res


def measure_status(flow, srv, args) -> dict:
    (job_id,) = asyncio.run(load.submit_many(flow, 1))
    url = flow.status_url(job_id)
    load.run_wrk(url, args.connections, 1)
    cpu0 = srv.cpu_seconds()
    res = load.run_wrk(url, args.connections, args.duration)
    res["server_cpu_s"] = round(srv.cpu_seconds() - cpu0, 2)
    res["server_cpu_us_per_request"] = round(res["server_cpu_s"] / max(1, res["requests"] or 0) * 1e6, 1)
    res["url"] = url[len(srv.base_url):]
    return res


def summarize(rounds: list[dict]) -> dict:
    """Per measure and dialect: every round's figure, median, min, max; GP/OGC ratios."""
    out: dict = {}
    for measure, key in (("submit", "requests_per_s"), ("status", "requests_per_s"), ("e2e", "jobs_per_s"),
                         ("submit", "server_cpu_us_per_request"), ("status", "server_cpu_us_per_request"),
                         ("submit", "p50_ms"), ("status", "p50_ms"), ("submit", "p99_ms"), ("status", "p99_ms")):
        row: dict = {}
        for dialect in DIALECTS:
            values = [r[dialect][measure].get(key) for r in rounds if measure in r.get(dialect, {})]
            values = [v for v in values if v is not None]
            if values:
                row[dialect] = {"values": values, "median": round(statistics.median(values), 2),
                                "min": min(values), "max": max(values)}
        if len(row) == 2:
            gp, ogc = row["gp"]["median"], row["ogc"]["median"]
            # throughput: GP/OGC; latency and CPU: OGC/GP - either way "how much slower OGC is".
            # The verdict is the median of the per-round ratios: each round measures both faces
            # back to back, so a shared machine's drift between rounds cancels out.
            row["ratio_of_medians"] = round(gp / ogc if key.endswith("_per_s") else ogc / gp, 3)
            pairs = [(r["gp"][measure].get(key), r["ogc"][measure].get(key)) for r in rounds]
            row["ogc_slower_by_per_round"] = [round(g / o if key.endswith("_per_s") else o / g, 3)
                                              for g, o in pairs if g and o]
            row["ogc_slower_by"] = round(statistics.median(row["ogc_slower_by_per_round"]), 3)
        out[f"{measure}.{key}"] = row
    return out


def print_table(summary: dict) -> None:
    print("\n| measure | GP face (median; min-max) | OGC face (median; min-max) "
          "| OGC slower by: median of rounds (each round) |")
    print("| --- | --- | --- | --- |")
    for name, row in summary.items():
        if len(row) < 2:
            continue
        cells = [f"{row[d]['median']:,} ({row[d]['min']:,}-{row[d]['max']:,})" for d in DIALECTS]
        rounds = ", ".join(f"{x:.2f}" for x in row.get("ogc_slower_by_per_round", []))
        verdict = ""
        if name in ("submit.requests_per_s", "status.requests_per_s"):
            verdict = f" {'met' if row['ogc_slower_by'] <= TARGET else 'NOT met'} (<= {TARGET}x)"
        print(f"| {name} | {cells[0]} | {cells[1]} | {row['ogc_slower_by']:.2f}x ({rounds}){verdict} |")


def main() -> int:
    ap = argparse.ArgumentParser(description="GP face vs OGC face on one opengp server.")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per wrk / e2e measurement")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 4 s")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=64, help="e2e jobs in flight")
    ap.add_argument("--no-e2e", action="store_true", help="only submit and status")
    ap.add_argument("--poll-initial", type=float, default=0.005)
    ap.add_argument("--poll-max", type=float, default=0.1)
    ap.add_argument("--report", type=Path, help="print the table of a stored results file and stop")
    args = ap.parse_args()
    if args.report:
        stored = json.loads(args.report.read_text())
        print(f"`{stored['command']}`, {stored['started']}")
        print_table(summarize(stored["rounds"]))
        return 0
    if args.quick:
        args.rounds, args.duration = 2, 4.0
    load.wrk_path()
    tmp = Path(tempfile.mkdtemp(prefix="opengp-dialects-"))
    cfg = dict(PROFILES["quick"], e2e_s=args.duration, warmup_s=1)
    results: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"),
                     "command": "python bench/dialects.py " + " ".join(sys.argv[1:]),
                     "machine": machine_info(), "settings": vars(args).copy(), "rounds": []}
    try:
        with opengp_server(tmp, tmp / "data", "opengp") as srv:
            flows = {d: load.flow_for(d, srv.base_url) for d in DIALECTS}
            for n in range(args.rounds):
                order = DIALECTS if n % 2 == 0 else DIALECTS[::-1]
                rnd: dict = {"order": list(order)}
                for dialect in order:
                    res: dict = {}
                    res["submit"] = measure_submit(flows[dialect], srv, args)
                    res["status"] = measure_status(flows[dialect], srv, args)
                    if not args.no_e2e:
                        res["e2e"] = measure_e2e(flows[dialect], srv, cfg, args)
                    rnd[dialect] = res
                    log(f"round {n + 1} {dialect}: submit {res['submit']['requests_per_s']:,.0f} req/s, "
                        f"status {res['status']['requests_per_s']:,.0f} req/s"
                        + (f", e2e {res['e2e']['jobs_per_s']:,.0f} jobs/s" if "e2e" in res else ""))
                    bad = [m for m, v in res.items() if v.get("non_2xx") or v.get("socket_errors") or v.get("errors")]
                    if bad:
                        log(f"  errors in {bad}: {[res[m] for m in bad]}")
                results["rounds"].append(rnd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["summary"] = summarize(results["rounds"])
    out = HERE / "results" / f"{dt.datetime.now():%Y-%m-%d-%H%M}-{socket.gethostname()}-dialects.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    print(f"\n{m['nproc']} x {m['cpu_model']}, {m['ram_gib']} GiB, Python {m['python']}, "
          f"git {m['opengp_git']}; `{results['command']}`")
    print_table(results["summary"])
    print(f"\nResults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
