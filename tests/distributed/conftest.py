"""A real scale-out deployment: PostgreSQL (a scratch database), a broker (RabbitMQ, or
Redis), two ``opengp serve`` processes and two ``opengp worker`` processes.

Each deployment has its own database and its own queue prefix, so parallel runs never
share a job or a message; both are removed afterwards.  Absent PostgreSQL or broker:
the tests skip (fail under OPENGP_REQUIRE_ALL=1), as ``conftest.require`` says.
"""
from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import PG_URL, TOOLBOXES, free_port, require

RABBITMQ_URL = os.environ.get("OPENGP_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("OPENGP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_SEQ = itertools.count()

CONFIG = """
[server]
heartbeat_interval = 0.5
allow_private_urls = true

[[services]]
folder = "Dist"
name = "Jobs"
toolbox = "{toolbox}"
max_usage_time = 60
public = true

[[services]]
folder = "Dist"
name = "One"
toolbox = "{toolbox}"
max_usage_time = 60
max_instances = 1
public = true

[[services]]
folder = "Dist"
name = "Timed"
toolbox = "{toolbox}"
max_usage_time = 3
public = true

[[services]]
folder = "Dist"
name = "Retry"
toolbox = "{toolbox}"
max_usage_time = 60
retries = 1
public = true

[[services]]
folder = "Dist"
name = "Sync"
toolbox = "{toolbox}"
execution_type = "synchronous"
max_usage_time = 10
public = true
"""
SERVICES = ("Dist/Jobs", "Dist/One", "Dist/Timed", "Dist/Retry", "Dist/Sync")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _admin_url() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


def _create_database(name: str) -> str:
    try:
        import psycopg

        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        require(False, f"PostgreSQL at {PG_URL} is not usable: {exc}")
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Deployment:
    """Servers and workers of one scale-out deployment; ``url``/``urls`` are the servers'."""

    def __init__(self, tmp: Path, broker_url: str, *, servers: int = 2, workers: int = 2,
                 concurrency: int = 2) -> None:
        n = next(_SEQ)
        self.tmp, self.broker_url = tmp, broker_url
        self.database = f"opengp_t_{os.getpid()}_{n}"
        self.prefix = f"opengp-t{os.getpid()}-{n}"
        self.data_dir = tmp / "data"
        self.config = tmp / "opengp.toml"
        self.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
        self.ports = [free_port() for _ in range(servers)]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.url = self.urls[0]
        self.n_workers, self.concurrency = workers, concurrency
        self.servers: list[subprocess.Popen | None] = [None] * servers
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.database_url: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "OPENGP_DATABASE_URL": self.database_url or "", "OPENGP_BROKER_URL": self.broker_url,
                "OPENGP_QUEUE_PREFIX": self.prefix, "OPENGP_LEASE": "3", "OPENGP_RECONCILE_INTERVAL": "1",
                "OPENGP_DOORBELL_TIMEOUT": "5", "OPENGP_SECRET_KEY": "distributed-tests-secret-key-0123456789",
                "OPENGP_ADMIN_PASSWORD": "admin-password-1", "OPENGP_DATA_DIR": str(self.data_dir)}

    def start(self) -> Deployment:
        self.database_url = _create_database(self.database)
        for i in range(len(self.servers)):       # one after the other: the first migrates the database
            self.start_server(i)
        for i in range(len(self.workers)):
            self.start_worker(i)
        for i in range(len(self.workers)):
            self.wait_worker(i)
        return self

    def _log(self, what: str, i: int) -> Path:
        return self.tmp / f"{what}{i}.log"

    def start_server(self, i: int, timeout: float = 60) -> None:
        log = self._log("server", i)
        proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--config", str(self.config),
                                 "--port", str(self.ports[i]), "--log-level", "warning"],
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=self.tmp, env=self.env)
        self.servers[i] = proc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()}")
            try:
                if httpx.get(self.urls[i] + "/arcgis/rest/info?f=json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{log.read_text()}")

    def start_worker(self, i: int) -> None:
        log = self._log("worker", i)
        log.write_text("")
        self.workers[i] = subprocess.Popen(
            [sys.executable, "-m", "opengp", "worker", "--config", str(self.config), "-c", str(self.concurrency),
             "--log-level", "info"], stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=self.tmp, env=self.env)

    def wait_worker(self, i: int, timeout: float = 60) -> None:
        log, proc = self._log("worker", i), self.workers[i]
        assert proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited ({proc.returncode}):\n{log.read_text()}")
            text = log.read_text(errors="replace")
            # ready, and consuming every service's queue
            if "opengp worker ready" in text:
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker did not start:\n{log.read_text()}")

    def worker_of(self, pid: int) -> int | None:
        """Which of our workers has the pool process ``pid``."""
        try:
            ppid = int(re.split(r"\s+", Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].strip())[1])
        except (OSError, IndexError, ValueError):
            return None
        return next((i for i, p in enumerate(self.workers) if p is not None and p.pid == ppid), None)

    def kill_worker(self, i: int) -> None:
        proc = self.workers[i]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.workers + self.servers:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        time.sleep(0.2)     # pool children die with their worker (PR_SET_PDEATHSIG)
        self._delete_queues()
        if self.database_url is not None:
            _drop_database(self.database)

    def _delete_queues(self) -> None:
        from kombu import Connection

        try:
            with Connection(self.broker_url, connect_timeout=5) as conn:
                channel = conn.channel()
                for name in [self.prefix] + [f"{self.prefix}.{s}" for s in SERVICES]:
                    for delete in (channel.queue_delete, channel.exchange_delete):   # each queue has its exchange
                        try:
                            delete(name)
                        except Exception:
                            channel = conn.channel()
        except Exception:
            pass


def deployment(tmp: Path, broker_url: str, **kwargs) -> Iterator[Deployment]:
    require(_reachable(PG_URL.replace("+psycopg", ""), 5432), f"PostgreSQL at {PG_URL} is not reachable")
    require(_reachable(broker_url, 5672 if broker_url.startswith("amqp") else 6379),
            f"the broker at {broker_url} is not reachable")
    dep = Deployment(tmp, broker_url, **kwargs)
    try:
        yield dep.start()
    finally:
        dep.stop()


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Two API servers and two workers (2 processes each) on RabbitMQ, for the whole session."""
    yield from deployment(tmp_path_factory.mktemp("rabbit"), RABBITMQ_URL)


@pytest.fixture(scope="session")
def redis_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    try:
        import redis  # noqa: F401  (kombu's Redis transport needs it)
    except ImportError:
        require(False, "the redis package is not installed (pip install 'opengp[scaleout]')")
    yield from deployment(tmp_path_factory.mktemp("redis"), REDIS_URL, servers=1, workers=1)
