#!/usr/bin/env python3
"""The admin ``jobs/query`` of a service with 1,000,000 stored jobs, over HTTP.

    .venv/bin/python bench/jobs_query.py [--jobs N] [--requests R] [--store-only] [--no-shapes]
                                         [--data-dir DIR] [--label TEXT] [--keep]

What it does:
  1. makes a fresh data dir and its SQLite store (opengp's own migrations), then fills it
     straight with SQL (one ``INSERT ... SELECT`` over a recursive sequence, ~30 s
     for 1,000,000 rows): ``--jobs`` GP jobs of service ``Bench/Noop`` (default
     1,000,000) plus 1 % admin jobs (kind ``admin``) on the same service key, which
     the admin query must leave out. All finished (so the server has nothing to
     recover or run): ~88.5 % succeeded, 6 % failed, 4 % cancelled, 1.5 % timed
     out; 100 users (user000..user099) plus ~9 % anonymous jobs; created spread
     evenly over the last 30 days; run by workers on hosts gis-0 and gis-1. Row
     contents are those of a real finished Noop job.
  2. times ``SqlStore.query`` in process for the same two queries, with and without the
     kind filter (``store`` in the JSON), and other query shapes (``store_shapes``).
  3. starts ``opengp serve`` on it (administrator ``admin`` from OPENGP_ADMIN_PASSWORD),
     logs in through ``POST /arcgis/admin/generateToken`` and times sequential HTTP GETs
     (one connection, keep-alive) of
     - ``first_page``: ``.../Bench/Noop.GPServer/jobs/query?f=json`` (defaults: endTime
       now, number 10, newest first);
     - ``filtered``: the same with ``jobStatus=esriJobSucceeded``, ``userName=user042``,
       ``startTime``/``endTime`` a 7-day window ending a day ago.
     Each is warmed up, then timed ``--requests`` times (default 300): p50, p90, p99.
Every total is checked against a full scan of the table.  Writes
``bench/results/<date>-<time>-<host>-jobs-query.json``.  Target (issue): both HTTP
queries under 20 ms p50 with 1,000,000 jobs, with an exact ``total``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
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
sys.path.insert(0, str(REPO / "src"))

SERVICE, TASK = "Bench/Noop", "Noop"
ADMIN_PASSWORD = "bench-admin-password"     # what run.opengp_server gives the server for user admin
DAY = 86400.0
# (status, per-mille): all finished, so the server has nothing to recover or run at start
STATUS_MIX = (("succeeded", 885), ("failed", 60), ("cancelled", 40), ("timed_out", 15))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _status_case(r: str) -> str:
    parts, edge = [], 0
    for status, share in STATUS_MIX[:-1]:
        edge += share
        parts.append(f"WHEN {r} < {edge} THEN '{status}'")
    return f"CASE {' '.join(parts)} ELSE '{STATUS_MIX[-1][0]}' END"


def fill_jobs(db_path: Path, n: int, *, now: float, days: float = 30, users: int = 100,
              kind: str = "gp", task: str = TASK, service: str = SERVICE) -> dict:
    """Insert ``n`` jobs of ``service`` straight into the SQLite ``jobs`` table (server stopped)."""
    t0 = time.perf_counter()
    span_ms = int(days * DAY * 1000)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")      # a bench fixture: speed over crash safety
        conn.execute("PRAGMA cache_size=-262144")   # 256 MiB while filling
        conn.execute("BEGIN")
        conn.execute(f"""
            WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < :n - 1),
            base AS MATERIALIZED (   -- else SQLite would call random() again at each use of r, u, age_ms
              SELECT abs(random()) % 1000 AS r, abs(random()) % 110 AS u,
                     abs(random()) % :span_ms AS age_ms FROM seq),
            picked AS MATERIALIZED (
              SELECT {_status_case('r')} AS status,
                     CASE WHEN u >= :users THEN NULL ELSE 'user' || printf('%03d', u) END AS owner,
                     :now - age_ms / 1000.0 AS created
              FROM base)
            INSERT INTO jobs (id, kind, service, task, status, owner, created, updated, started, finished,
                              progress, messages, inputs, options, results, error, request_id, operation_uri,
                              attempts, worker, heartbeat, cancel_requested, expires)
            SELECT 'j' || lower(hex(randomblob(16))), :kind, :service, :task, status, owner, created,
                   created + 0.004,
                   created + 0.001, created + 0.004,
                   '{{"percent":null,"stage":null,"message":null}}',
                   CASE WHEN status = 'failed' THEN '[[' || created || ',"error","Bench failure."]]'
                        ELSE '[]' END,
                   '{{"value":"x"}}', '{{}}',
                   CASE WHEN status = 'succeeded' THEN '{{"result":{{"paramName":"result","dataType":"GPString","value":"x"}}}}'
                        ELSE NULL END,
                   CASE WHEN status = 'failed' THEN 'Bench failure.' ELSE NULL END,
                   NULL, NULL,
                   1, 'gis-' || (abs(random()) % 2) || ':' || (1000 + abs(random()) % 4), created + 0.003,
                   false, created + 40 * 86400
            FROM picked""", {"n": n, "span_ms": span_ms, "users": users, "now": now, "kind": kind,
                             "service": service, "task": task})
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")   # no ANALYZE: the planner as opengp leaves it
        rows = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    finally:
        conn.close()
    return {"inserted": n, "kind": kind, "rows": rows, "seconds": round(time.perf_counter() - t0, 1)}


def make_store(data_dir: Path, jobs: int, now: float) -> dict:
    """A fresh data dir with the schema (opengp's migrations) and the filled jobs."""
    from opengp.store.sql import SqlStore
    from opengp.system.files import sqlite_url

    data_dir.mkdir(parents=True, exist_ok=True)
    SqlStore(sqlite_url(data_dir)).close()
    db = data_dir / "opengp.db"
    out = {"gp": fill_jobs(db, jobs, now=now), "admin": fill_jobs(db, max(1, jobs // 100), now=now,
                                                                   kind="admin", task="purge")}
    out["db_bytes"] = db.stat().st_size
    return out


# --------------------------------------------------------------------------- the queries

def filtered_window(now: float) -> tuple[float, float]:
    return now - 8 * DAY, now - 1 * DAY


def store_queries(now: float) -> dict:
    """The two queries as the admin endpoint builds them (JobQuery, kind gp)."""
    from opengp.core import Status
    from opengp.store import JobQuery

    start, end = filtered_window(now)
    succeeded = frozenset({Status.SUCCEEDED})
    return {
        "first_page": lambda: JobQuery(service=SERVICE, kind="gp", created_before=time.time(), limit=10),
        "filtered": lambda: JobQuery(service=SERVICE, kind="gp", statuses=succeeded, owner="user042",
                                     created_after=start, created_before=end, limit=10),
        # the same without the kind filter (the endpoint before it left admin jobs out)
        "first_page_any_kind": lambda: JobQuery(service=SERVICE, created_before=time.time(), limit=10),
        "filtered_any_kind": lambda: JobQuery(service=SERVICE, statuses=succeeded, owner="user042",
                                              created_after=start, created_before=end, limit=10),
    }


def other_shapes(now: float) -> dict:
    """More query shapes, in process: what else the admin API and the job service ask."""
    from opengp.core import Status as S
    from opengp.store import JobQuery

    gp = {"service": SERVICE, "kind": "gp"}

    def since(days: float, **kw) -> JobQuery:
        return JobQuery(**gp, created_after=now - days * DAY, created_before=time.time(), **kw)

    return {
        "status succeeded": lambda: JobQuery(**gp, statuses=frozenset({S.SUCCEEDED}), created_before=time.time()),
        "status timed_out": lambda: JobQuery(**gp, statuses=frozenset({S.TIMED_OUT}), created_before=time.time()),
        "user": lambda: JobQuery(**gp, owner="user042", created_before=time.time()),
        "user + failed": lambda: JobQuery(**gp, owner="user042", statuses=frozenset({S.FAILED}),
                                          created_before=time.time()),
        "last 7 days": lambda: since(7),
        "older than a day": lambda: JobQuery(**gp, created_before=now - DAY),
        "days 20 to 10 ago": lambda: JobQuery(**gp, created_after=now - 20 * DAY, created_before=now - 10 * DAY),
        "an hour 15 days ago": lambda: JobQuery(**gp, created_after=now - 15 * DAY,
                                                created_before=now - 15 * DAY + 3600),
        "page 1,000 (start 9,991)": lambda: JobQuery(**gp, created_before=time.time(), offset=9990),
        "oldest first": lambda: JobQuery(**gp, created_before=time.time(), oldest_first=True),
        "queued, all (purgeQueue)": lambda: JobQuery(**gp, statuses=frozenset({S.NEW, S.SUBMITTED, S.WAITING}),
                                                     limit=None),
        "statistics: failed count": lambda: JobQuery(**gp, statuses=frozenset({S.FAILED}), limit=0),
        "admin jobs of the service": lambda: JobQuery(service=SERVICE, kind="admin", created_before=time.time()),
        "a user's jobs, any service": lambda: JobQuery(kind="gp", owner="user042"),         # OGC /jobs
        "all GP jobs, any service": lambda: JobQuery(kind="gp"),                            # OGC /jobs, admin
        "a user's admin jobs": lambda: JobQuery(kind="admin", owner="user042"),             # web console
        "ran on a machine": lambda: JobQuery(**gp, machine="gis-1", created_before=time.time()),
    }


def _stats(samples_s: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples_s)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 3)

    return {"n": len(ms), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "mean_ms": round(statistics.fmean(ms), 3), "max_ms": round(ms[-1], 3)}


def time_store(data_dir: Path, queries: dict, requests: int) -> dict:
    """``SqlStore.query`` in this process: the store's share of the HTTP time."""
    from opengp.store.sql import SqlStore
    from opengp.system.files import sqlite_url

    store = SqlStore(sqlite_url(data_dir))
    out = {}
    try:
        for name, make in queries.items():
            for _ in range(max(2, requests // 10)):
                store.query(make())
            samples = []
            for _ in range(requests):
                q = make()
                t0 = time.perf_counter()
                total, page = store.query(q)
                samples.append(time.perf_counter() - t0)
            out[name] = {**_stats(samples), "total": total, "num": len(page)}
            log(f"  store {name}: p50 {out[name]['p50_ms']} ms, p99 {out[name]['p99_ms']} ms, total {total}")
    finally:
        store.close()
    return out


def time_http(base_url: str, now: float, requests: int) -> dict:
    import http.client

    body = urllib.parse.urlencode({"username": "admin", "password": ADMIN_PASSWORD, "client": "requestip",
                                   "f": "json"}).encode()
    with urllib.request.urlopen(f"{base_url}/arcgis/admin/generateToken", data=body, timeout=30) as resp:
        token = json.loads(resp.read())["token"]
    headers = {"X-Esri-Authorization": f"Bearer {token}"}
    start, end = filtered_window(now)
    path = f"/arcgis/admin/services/{SERVICE}.GPServer/jobs/query"
    urls = {
        "first_page": f"{path}?f=json",
        "filtered": f"{path}?" + urllib.parse.urlencode({
            "f": "json", "jobStatus": "esriJobSucceeded", "userName": "user042",
            "startTime": int(start * 1000), "endTime": int(end * 1000)}),
    }
    host, port = urllib.parse.urlsplit(base_url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    out = {}
    try:
        for name, url in urls.items():
            def get() -> dict:
                conn.request("GET", url, headers=headers)
                resp = conn.getresponse()
                data = json.loads(resp.read())
                if resp.status != 200 or "total" not in data:
                    raise RuntimeError(f"{url}: HTTP {resp.status} {str(data)[:300]}")
                return data

            for _ in range(max(5, requests // 10)):
                get()
            samples = []
            for _ in range(requests):
                t0 = time.perf_counter()
                data = get()
                samples.append(time.perf_counter() - t0)
            out[name] = {**_stats(samples), "total": data["total"], "num": data["num"], "url": url}
            log(f"  http {name}: p50 {out[name]['p50_ms']} ms, p99 {out[name]['p99_ms']} ms, "
                f"total {data['total']}")
    finally:
        conn.close()
    return out


def expected_totals(db: Path, now: float) -> dict:
    """The right answers, by full scans of the table (no index, no counts table)."""
    start, end = filtered_window(now)
    conn = sqlite3.connect(db)
    try:
        first = conn.execute("SELECT count(*) FROM jobs NOT INDEXED WHERE service = ? AND kind = 'gp'",
                             (SERVICE,)).fetchone()[0]
        any_kind = conn.execute("SELECT count(*) FROM jobs NOT INDEXED WHERE service = ?", (SERVICE,)).fetchone()[0]
        filtered, filtered_any_kind = conn.execute(
            "SELECT count(*) FILTER (WHERE kind = 'gp'), count(*) FROM jobs NOT INDEXED WHERE service = ? "
            "AND status = 'succeeded' AND owner = 'user042' AND created >= ? AND created <= ?",
            (SERVICE, start, end)).fetchone()
    finally:
        conn.close()
    return {"first_page": first, "filtered": filtered, "first_page_any_kind": any_kind,
            "filtered_any_kind": filtered_any_kind}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000, help="GP jobs to store (default 1,000,000)")
    ap.add_argument("--requests", type=int, default=300, help="timed requests per query (default 300)")
    ap.add_argument("--store-only", action="store_true", help="time SqlStore.query only, no server")
    ap.add_argument("--data-dir", type=Path, help="reuse this filled data dir (made if missing)")
    ap.add_argument("--no-shapes", dest="shapes", action="store_false",
                    help="skip the other query shapes (in process, requests/30 each)")
    ap.add_argument("--label", default="", help="a note kept in the JSON (e.g. which code ran)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    from run import machine_info, opengp_server

    tmp = Path(tempfile.mkdtemp(prefix="opengp-bench-query-"))
    data_dir = args.data_dir or tmp / "opengp-data"
    results: dict = {"started": dt.datetime.now().isoformat(timespec="seconds"),
                     "command": "python bench/jobs_query.py " + " ".join(sys.argv[1:]),
                     "machine": machine_info(), "settings": {"jobs": args.jobs, "requests": args.requests},
                     "target_p50_ms": 20.0, "label": args.label}
    try:
        meta = data_dir / "bench-fill.json"
        if meta.exists():
            results["fill"] = json.loads(meta.read_text())
            log(f"reusing {data_dir} ({results['fill']['gp']['rows']} rows)")
        else:
            now = time.time()
            log(f"filling {data_dir} with {args.jobs:,} jobs")
            results["fill"] = {**make_store(data_dir, args.jobs, now), "now": now}
            meta.write_text(json.dumps(results["fill"]))
            log(f"  filled in {results['fill']['gp']['seconds'] + results['fill']['admin']['seconds']} s, "
                f"{results['fill']['db_bytes'] / 1e6:.0f} MB")
        now = results["fill"]["now"]
        results["expected"] = expected_totals(data_dir / "opengp.db", now)
        log(f"expected totals {results['expected']}")
        results["store"] = time_store(data_dir, store_queries(now), args.requests)
        if args.shapes:
            results["store_shapes"] = time_store(data_dir, other_shapes(now), max(5, args.requests // 30))
        if not args.store_only:
            with opengp_server(tmp, data_dir, "opengp-query") as srv:
                results["http"] = time_http(srv.base_url, now, args.requests)
        for side in ("store", "http"):
            for name, res in results.get(side, {}).items():
                if res["total"] != results["expected"][name]:
                    raise RuntimeError(f"{side} {name}: total {res['total']} != {results['expected'][name]}")
    finally:
        out_dir = HERE / "results"
        out_dir.mkdir(exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
        json_path = out_dir / f"{stamp}-{socket.gethostname()}-jobs-query.json"
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nResults written to {json_path}")
    for side in ("http", "store", "store_shapes"):
        for name, res in results.get(side, {}).items():
            print(f"  {side:12} {name:26} p50 {res['p50_ms']:9.2f} ms  p99 {res['p99_ms']:9.2f} ms  "
                  f"total {res['total']:>9,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
