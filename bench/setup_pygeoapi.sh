#!/usr/bin/env bash
# Idempotent setup of the pygeoapi side of the benchmark:
#   * bench/.venv-pygeoapi: pygeoapi (latest on PyPI) + starlette + gunicorn + uvicorn workers
#     + psycopg2 and geoalchemy2 (its PostgreSQL manager imports provider/sql.py),
#     kept apart from opengp's venv so neither pins the other's dependencies;
#   * PostgreSQL database "pygeoapi_bench" with the "jobs" table its PostgreSQL manager needs.
# Re-running it only upgrades what is missing. Environment knobs:
#   PGHOST (127.0.0.1) PGPORT (5432) PGUSER (postgres) PYGEOAPI_BENCH_DB (pygeoapi_bench)
#   PYGEOAPI_SPEC (pygeoapi) e.g. PYGEOAPI_SPEC='pygeoapi==0.21.0' to pin.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-pygeoapi"
py="${PYTHON:-python3}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
db="${PYGEOAPI_BENCH_DB:-pygeoapi_bench}"

if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "${PYGEOAPI_SPEC:-pygeoapi}" starlette gunicorn "uvicorn[standard]" psycopg2-binary geoalchemy2
echo "pygeoapi $("$venv/bin/python" -c 'import pygeoapi; print(pygeoapi.__version__)') in $venv"

# Database + table, via the venv's psycopg2 so no psql client is needed.
"$venv/bin/python" - "$db" "$here/pygeoapi_jobs.sql" <<'PY'
import os, sys
import psycopg2
db, ddl = sys.argv[1], open(sys.argv[2]).read()
common = dict(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user=os.environ["PGUSER"])
conn = psycopg2.connect(dbname="postgres", **common)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE DATABASE "{db}"')
        print(f"created database {db}")
conn.close()
conn = psycopg2.connect(dbname=db, **common)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute(ddl)
conn.close()
print(f"table jobs ready in database {db}")
PY
