"""A real scale-out deployment for tests: PostgreSQL (a scratch database), a broker
(RabbitMQ, or Redis), N ``opengp serve`` processes and N ``opengp worker`` processes.

Used by the distributed suite (tests/distributed/conftest.py) and, under
``OPENGP_TEST_DEPLOYMENT=scaleout``, by every ``conftest.Server`` of the HTTP suite
(``ScaleOutServer``: two API servers behind a round-robin proxy, two workers).

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
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import PG_SERVER_URL, PG_URL, Server, free_port, require, wait_http

RABBITMQ_URL = os.environ.get("OPENGP_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("OPENGP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PROXY = Path(__file__).resolve().parent / "proxy.py"
_SEQ = itertools.count()


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require_services(broker_url: str) -> None:
    """Skip (fail under OPENGP_REQUIRE_ALL=1) without PostgreSQL or the broker."""
    require(_reachable(PG_SERVER_URL.replace("+psycopg", ""), 5432), f"PostgreSQL at {PG_SERVER_URL} is not reachable")
    require(_reachable(broker_url, 5672 if broker_url.startswith("amqp") else 6379),
            f"the broker at {broker_url} is not reachable")


def _admin_url() -> str:
    return PG_SERVER_URL.replace("postgresql+psycopg://", "postgresql://")


def _create_database(name: str) -> str:
    try:
        import psycopg

        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        require(False, f"PostgreSQL at {PG_SERVER_URL} is not usable: {exc}")
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _service_keys(database_url: str) -> list[str]:
    """The services a deployment published (each has a queue), from its database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            return [row[0] for row in c.execute(text("SELECT key FROM services"))]
    except Exception:
        return []
    finally:
        engine.dispose()


class Deployment:
    """Servers and workers of one scale-out deployment; ``url``/``urls`` are the servers'.

    ``config`` is the TOML file all of them read (the caller writes it); ``demo`` adds
    ``--demo`` everywhere; ``admin_password`` is the first administrator's
    (``OPENGP_ADMIN_PASSWORD``; None: the config or ``opengp users add`` provides one);
    ``log``, when given, is one file all servers append to (else server<i>.log each).
    """

    def __init__(self, tmp: Path, broker_url: str, config: Path, *, servers: int = 2, workers: int = 2,
                 concurrency: int = 2, demo: bool = False, admin_password: str | None = "admin-password-1",
                 log: Path | None = None, server_args: list[str] | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        n = next(_SEQ)
        self.tmp, self.broker_url, self.config = tmp, broker_url, config
        self.database = f"opengp_t_{os.getpid()}_{n}"
        self.prefix = f"opengp-t{os.getpid()}-{n}"
        self.data_dir = tmp / "data"
        self.demo, self.admin_password, self.server_log = demo, admin_password, log
        self.server_args = server_args or []
        self.extra_env = extra_env or {}
        self.ports = [free_port() for _ in range(servers)]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.url = self.urls[0]
        self.n_workers, self.concurrency = workers, concurrency
        self.servers: list[subprocess.Popen | None] = [None] * servers
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.database_url: str | None = None

    def create_database(self) -> str:
        """The scratch database (created on first use: ``opengp users add`` may come before start)."""
        if self.database_url is None:
            self.database_url = _create_database(self.database)
        return self.database_url

    @property
    def settings_env(self) -> dict[str, str]:
        """The OPENGP_* variables every process of the deployment gets."""
        env = {"OPENGP_DATABASE_URL": self.database_url or "", "OPENGP_BROKER_URL": self.broker_url,
               "OPENGP_QUEUE_PREFIX": self.prefix, "OPENGP_LEASE": "3", "OPENGP_RECONCILE_INTERVAL": "1",
               "OPENGP_DOORBELL_TIMEOUT": "5", "OPENGP_SECRET_KEY": "distributed-tests-secret-key-0123456789",
               "OPENGP_DATA_DIR": str(self.data_dir)}
        if self.admin_password is not None:
            env["OPENGP_ADMIN_PASSWORD"] = self.admin_password
        return {**env, **self.extra_env}

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings_env}

    def start(self) -> Deployment:
        self.create_database()
        for i in range(len(self.servers)):       # one after the other: the first migrates the database
            self.start_server(i)
        for i in range(len(self.workers)):
            self.start_worker(i)
        for i in range(len(self.workers)):
            self.wait_worker(i)
        return self

    def _log(self, what: str, i: int) -> Path:
        if what == "server" and self.server_log is not None:
            return self.server_log
        return self.tmp / f"{what}{i}.log"

    def _demo(self) -> list[str]:
        return ["--demo"] if self.demo else []

    def start_server(self, i: int, timeout: float = 60) -> None:
        log = self._log("server", i)
        proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--config", str(self.config),
                                 "--port", str(self.ports[i]), "--log-level", "warning", *self._demo(),
                                 *self.server_args],
                                stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=self.tmp, env=self.env)
        self.servers[i] = proc
        wait_http(proc, self.urls[i], log, "server", timeout)

    def start_worker(self, i: int) -> None:
        log = self._log("worker", i)
        log.write_text("")
        self.workers[i] = subprocess.Popen(
            [sys.executable, "-m", "opengp", "worker", "--config", str(self.config), "-c", str(self.concurrency),
             "--log-level", "info", *self._demo()], stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=self.tmp,
            env=self.env)

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

    def halt(self) -> None:
        """Kill every server and worker (the database and queues stay: ``start`` again)."""
        for proc in self.workers + self.servers:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        self.workers = [None] * len(self.workers)
        self.servers = [None] * len(self.servers)
        time.sleep(0.2)     # pool children die with their worker (PR_SET_PDEATHSIG)

    def stop(self) -> None:
        """Kill everything and remove the database and the queues."""
        self.halt()
        if self.database_url is not None:
            self._delete_queues(_service_keys(self.database_url))
            _drop_database(self.database)
            self.database_url = None

    def _delete_queues(self, services: list[str]) -> None:
        from kombu import Connection

        try:
            with Connection(self.broker_url, connect_timeout=5) as conn:
                channel = conn.channel()
                for name in [self.prefix] + [f"{self.prefix}.{s}" for s in services]:
                    for delete in (channel.queue_delete, channel.exchange_delete):   # each queue has its exchange
                        try:
                            delete(name)
                        except Exception:
                            channel = conn.channel()
        except Exception:
            pass


_STARTED: list[Deployment] = []     # every ScaleOutServer's, removed at the session's end


def remove_all() -> None:
    """Remove every ScaleOutServer's database and queues (at the end of the session:
    ``ScaleOutServer.stop`` keeps them, so that a test can restart the deployment)."""
    while _STARTED:
        _STARTED.pop().stop()


class ScaleOutServer(Server):
    """What ``conftest.Server`` is under ``OPENGP_TEST_DEPLOYMENT=scaleout``: the same
    configuration (TEST_CONFIG, ``--demo``) served by two API servers on PostgreSQL and
    RabbitMQ, two Celery workers (2 processes each), and a round-robin proxy in front.

    ``url``/``port`` are the proxy's; ``data_dir`` is the folder all of them share;
    ``log`` is the servers' common log.  ``workers`` (local worker processes) does not
    apply: the Celery workers run the jobs.
    """

    def __init__(self, tmp: Path, *, demo: bool = True, workers: int = 3, extra_args: list[str] | None = None) -> None:
        super().__init__(tmp, demo=demo, workers=workers, extra_args=extra_args)
        require_services(RABBITMQ_URL)
        # no OPENGP_ADMIN_PASSWORD: as for the local server, the demo makes an administrator,
        # or the test adds one (``add_user``) before it starts the server
        # public_url: the proxy, as docs/deployment.md says to configure servers behind a load
        # balancer (links, and which layer URLs are the servers' own)
        self.deployment = Deployment(tmp, RABBITMQ_URL, self.config, demo=demo, admin_password=None,
                                     log=self.log, server_args=self.extra_args,
                                     extra_env={"OPENGP_PUBLIC_URL": self.url})
        _STARTED.append(self.deployment)
        self.servers = len(self.deployment.servers)
        self.data_dir = self.deployment.data_dir
        self.proxy: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """The deployment's OPENGP_* settings, for CLI commands run on it (``opengp users add``)."""
        self.deployment.create_database()
        return self.deployment.settings_env

    @property
    def store_url(self) -> str:
        return self.deployment.create_database()

    def start(self, timeout: float = 60) -> ScaleOutServer:
        self.deployment.start()
        proxy_log = self.tmp / "proxy.log"
        self.proxy = subprocess.Popen(
            [sys.executable, str(PROXY), "--port", str(self.port)]
            + [arg for url in self.deployment.urls for arg in ("--upstream", url)],
            stdout=open(proxy_log, "ab"), stderr=subprocess.STDOUT)
        wait_http(self.proxy, self.url, proxy_log, "proxy", timeout)
        self.proc = self.proxy
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.kill()
            self.proxy.wait(10)
        self.proxy = self.proc = None
        self.deployment.halt()      # like a stopped server, its data stays (a restart finds it)

    def worker_pids(self) -> list[int]:
        pytest.fail("worker_pids: a scale-out deployment has no local workers (mark the test local_only)")
