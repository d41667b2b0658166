"""pygeoapi under test: generated config, OpenAPI document, gunicorn + uvicorn workers.

Deployment follows pygeoapi's "Running in production" docs (docs/source/running.rst):
``gunicorn pygeoapi.starlette_app:APP -w N -k uvicorn.workers.UvicornWorker`` with
PYGEOAPI_CONFIG and PYGEOAPI_OPENAPI set, the OpenAPI document generated beforehand with
``pygeoapi openapi generate``. N defaults to 2, one per core (the docs' example uses 4).

Two job managers are measured, TinyDB (a JSON file guarded by a file lock) and PostgreSQL
(table ``jobs`` in database ``pygeoapi_bench``, created by setup_pygeoapi.sh from
pygeoapi_jobs.sql and emptied before each run).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from servers import Server

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-pygeoapi"
PG_DB = os.environ.get("PYGEOAPI_BENCH_DB", "pygeoapi_bench")
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("PGPORT", "5432")
PG_USER = os.environ.get("PGUSER", "postgres")

CONFIG_TEMPLATE = """\
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  language: en-US
  pretty_print: false
  limits: {{default_items: 10, max_items: 50}}
  map:
    url: https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png
    attribution: OpenStreetMap
  manager:
    name: {manager}
    connection: {connection}
    output_dir: {output_dir}
logging:
  level: ERROR
metadata:
  identification:
    title: pygeoapi benchmark
    description: hello-world process only
    keywords: [benchmark]
    keywords_type: theme
    terms_of_service: https://creativecommons.org/licenses/by/4.0/
    url: http://127.0.0.1:{port}
  license: {{name: CC-BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}}
  provider: {{name: bench, url: http://127.0.0.1:{port}}}
  contact:
    name: bench
    position: bench
    address: none
    city: none
    stateorprovince: none
    postalcode: "0"
    country: none
    phone: "+00"
    fax: "+00"
    email: bench@example.org
    url: http://127.0.0.1:{port}
    hours: always
    instructions: none
    role: pointOfContact
resources:
  hello-world:
    type: process
    processor:
      name: HelloWorld
"""


def ensure_setup() -> None:
    """Run setup_pygeoapi.sh when the venv is missing (it is idempotent anyway)."""
    if not (VENV / "bin" / "gunicorn").exists():
        subprocess.run(["bash", str(HERE / "setup_pygeoapi.sh")], check=True)


def version() -> str:
    out = subprocess.run([str(VENV / "bin" / "python"), "-c", "import pygeoapi; print(pygeoapi.__version__)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def reset_postgres() -> None:
    """Empty the PostgreSQL manager's job table so each run starts from zero jobs."""
    code = ("import psycopg2; c = psycopg2.connect(host=%r, port=%r, user=%r, dbname=%r); "
            "c.autocommit = True; c.cursor().execute('TRUNCATE jobs'); c.close()"
            % (PG_HOST, PG_PORT, PG_USER, PG_DB))
    subprocess.run([str(VENV / "bin" / "python"), "-c", code], check=True)


def make_server(manager: str, workdir: Path, port: int, workers: int = 2) -> Server:
    """Write config + OpenAPI for ``manager`` ("TinyDB" or "PostgreSQL") and return the
    (not yet started) gunicorn Server."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "out").mkdir(exist_ok=True)
    if manager == "TinyDB":
        connection = str(workdir / "jobs.tinydb.json")
    elif manager == "PostgreSQL":
        connection = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"
        reset_postgres()
    else:
        raise ValueError(manager)
    config = workdir / "pygeoapi-config.yml"
    config.write_text(CONFIG_TEMPLATE.format(port=port, manager=manager, connection=connection,
                                             output_dir=workdir / "out"))
    openapi = workdir / "pygeoapi-openapi.yml"
    env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    gen = subprocess.run([str(VENV / "bin" / "pygeoapi"), "openapi", "generate", str(config),
                          "--output-file", str(openapi)],
                         capture_output=True, text=True, env={**os.environ, **env})
    if gen.returncode != 0:
        raise RuntimeError(f"pygeoapi openapi generate failed:\n{gen.stderr[-2000:]}")
    cmd = [str(VENV / "bin" / "gunicorn"), "pygeoapi.starlette_app:APP",
           "-k", "uvicorn.workers.UvicornWorker", "-w", str(workers),
           "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "120",
           "--graceful-timeout", "5"]
    return Server(f"pygeoapi-{manager}", cmd, f"http://127.0.0.1:{port}/processes?f=json",
                  workdir / "server.log", env=env, cwd=str(workdir))
