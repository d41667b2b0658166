"""Shared fixtures: a real opengp server process on a free port, on real SQLite.

Under ``OPENGP_TEST_DEPLOYMENT=scaleout`` every ``Server`` (the session ``server``
and the modules' own) is instead a real scale-out deployment with the same
configuration: PostgreSQL, RabbitMQ, two API servers behind a round-robin proxy and
two Celery workers (tests/scaleout.py).  Tests about the local executor or a server
of their own (restarts, kills of local workers) are marked ``local_only``.

Tests that need something this machine may lack (a client package, a
database, a broker, a browser) skip with the reason, unless
``OPENGP_REQUIRE_ALL=1`` (set by .ci/run), which turns such a skip into a
failure so CI never passes by skipping.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLBOXES = Path(__file__).resolve().parent / "toolboxes"


def require(condition: bool, reason: str) -> None:
    """Skip (or, under OPENGP_REQUIRE_ALL=1, fail) when ``condition`` is false."""
    if condition:
        return
    if os.environ.get("OPENGP_REQUIRE_ALL") == "1":
        pytest.fail(f"required by OPENGP_REQUIRE_ALL=1 but unavailable: {reason}")
    pytest.skip(reason)


# The PostgreSQL server the tests use, by the URL of a database to connect to while making
# others (OPENGP_TEST_PG_URL).  A run never touches that database: it makes its own scratch
# database there, PG_URL, and removes it when the session ends (pytest_sessionfinish); the
# scale-out deployments make theirs beside it (tests/scaleout.py).
PG_SERVER_URL = os.environ.get("OPENGP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SCRATCH_DATABASE = f"opengp_test_{os.getpid()}_{secrets.token_hex(3)}"
PG_URL = PG_SERVER_URL.rsplit("/", 1)[0] + "/" + SCRATCH_DATABASE
_scratch_made = False


def postgres_server(statement: str) -> None:
    """Run one statement (CREATE or DROP DATABASE) on the test PostgreSQL server."""
    import psycopg

    with psycopg.connect(PG_SERVER_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(statement)


def fresh_postgres() -> str:
    """This run's scratch PostgreSQL database, made the first time, with every table dropped
    (skip, or fail under OPENGP_REQUIRE_ALL=1, when there is no driver or no server)."""
    global _scratch_made
    try:
        from sqlalchemy import create_engine, text

        if not _scratch_made:
            postgres_server(f'CREATE DATABASE "{SCRATCH_DATABASE}"')
            _scratch_made = True
        engine = create_engine(PG_URL)
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))      # every table, whatever migrations made
            c.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as exc:
        require(False, f"PostgreSQL at {PG_SERVER_URL} is not usable: {exc}")
    return PG_URL


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def each_store(request, tmp_path):
    """One test, run on every Store backend: the in-memory fake, SQLite and PostgreSQL."""
    from opengp.store import MemoryStore
    from opengp.store.sql import SqlStore

    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SqlStore(f"sqlite:///{tmp_path}/jobs.db")
    else:
        store = SqlStore(fresh_postgres())
    yield store
    store.close()


def add_user(data_dir: Path, name: str, role: str, password: str) -> None:
    """``opengp users add`` on a server's data folder (works while it runs; on a
    scale-out deployment, on its database)."""
    env = Server.envs.get(Path(data_dir).resolve(), lambda: {})()
    subprocess.run([sys.executable, "-m", "opengp", "users", "add", name, "--role", role, "--data-dir",
                    str(data_dir)], env={**os.environ, **env, "OPENGP_PASSWORD": password},
                   check=True, capture_output=True, timeout=60)


def client_as(srv: "Server", name: str | None, password: str | None = None) -> httpx.Client:
    """An HTTP client of ``srv``, sending ``name``'s token (anonymous when ``name`` is None)."""
    headers = {}
    if name:
        token = httpx.post(f"{srv.url}/arcgis/tokens/generateToken", data={
            "username": name, "password": password, "client": "requestip", "f": "json"}).json()["token"]
        headers["X-Esri-Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=srv.url, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TEST_CONFIG = """
[server]
workers = {workers}
heartbeat_interval = 1.0
allow_private_urls = true        # callback receivers and served inputs live on 127.0.0.1

[[services]]
folder = "Test"
name = "Jobs"
toolbox = "{toolbox}"
execution_type = "asynchronous"
max_usage_time = 3
max_instances = 2
retention = 3600
public = true

[[services]]
folder = "Test"
name = "Sync"
toolbox = "{toolbox}"
execution_type = "synchronous"
max_usage_time = 5
public = true

[[services]]
folder = "Test"
name = "Members"
toolbox = "{toolbox}"
allowed = ["role:user"]

[[services]]
name = "Retry"
toolbox = "{toolbox}"
retries = 1
max_usage_time = 30
public = true
"""


SCALEOUT = os.environ.get("OPENGP_TEST_DEPLOYMENT", "local") == "scaleout"
if os.environ.get("OPENGP_TEST_DEPLOYMENT", "local") not in ("local", "scaleout"):
    raise RuntimeError("OPENGP_TEST_DEPLOYMENT is 'local' (the default) or 'scaleout'")


def wait_http(proc: subprocess.Popen, url: str, log: Path | None, what: str, timeout: float) -> None:
    """Until ``url`` answers /arcgis/rest/info; RuntimeError with ``log`` (if the output went to
    one) if ``proc`` exits or time runs out."""
    def said() -> str:
        return log.read_text() if log is not None else "(its output was not kept)"

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{said()}")
        try:
            # (not verified: a server of a test may serve HTTPS with a certificate made for the test)
            if httpx.get(url + "/arcgis/rest/info?f=json", timeout=1, verify=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start:\n{said()}")


class Server:
    """An ``opengp serve`` child process; ``url`` is its http://host:port.

    Under ``OPENGP_TEST_DEPLOYMENT=scaleout``, ``Server(...)`` makes a
    ``scaleout.ScaleOutServer`` instead (same attributes, same configuration).
    """

    servers = 1     # API server processes behind ``url`` (per-process state: the login throttle)
    # data_dir -> its OPENGP_* settings, for CLI commands on a server (add_user)
    envs: dict[Path, Callable[[], dict[str, str]]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Server:
        if cls is Server and SCALEOUT:
            from scaleout import ScaleOutServer

            cls = ScaleOutServer
        return object.__new__(cls)

    def __init__(self, tmp: Path, *, demo: bool = True, workers: int = 3, extra_args: list[str] | None = None) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.config = tmp / "opengp.toml"
        self.config.write_text(TEST_CONFIG.format(workers=workers, toolbox=TOOLBOXES / "testing.py"))
        self.demo = demo
        self.extra_args = extra_args or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "server.log"
        Server.envs[self.data_dir.resolve()] = lambda: self.env

    @property
    def env(self) -> dict[str, str]:
        """OPENGP_* settings a CLI command needs besides ``--data-dir`` (none locally)."""
        return {}

    @property
    def store_url(self) -> str:
        """The server's job store, for tests that count rows in it."""
        return f"sqlite:///{self.data_dir / 'opengp.db'}"

    def start(self, timeout: float = 30) -> Server:
        args = [sys.executable, "-m", "opengp", "serve", "--config", str(self.config),
                "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning"]
        if self.demo:
            args.append("--demo")
        self.proc = subprocess.Popen(args + self.extra_args, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, cwd=self.tmp)
        wait_http(self.proc, self.url, self.log, "server", timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def worker_pids(self) -> list[int]:
        """The server's worker processes (its children)."""
        assert self.proc is not None
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the scale-out deployment, ``local_only`` tests (about the local executor or a
    server of their own) are deselected, as ``make test`` asks with -m: they run in the first
    pass, and are not reported as skipped here."""
    if SCALEOUT:
        local = [item for item in items if "local_only" in item.keywords]
        if local:
            config.hook.pytest_deselected(items=local)
            items[:] = [item for item in items if "local_only" not in item.keywords]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if SCALEOUT:
        import scaleout

        scaleout.remove_all()
    if _scratch_made:
        postgres_server(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole session (tests must not depend on each other's jobs)."""
    srv = Server(tmp_path_factory.mktemp("server")).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own (for restarts, kills and timing)."""
    srv = Server(tmp_path)
    yield srv
    srv.stop(signal.SIGKILL)
    for pid in _orphans(srv):
        os.kill(pid, signal.SIGKILL)


def _orphans(srv: Server) -> list[int]:
    out = subprocess.run(["pgrep", "-f", str(srv.config)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if int(p) != os.getpid()]


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/arcgis/rest/services", timeout=30) as c:
        yield c
