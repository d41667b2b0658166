"""``opengp serve --processes N`` on PostgreSQL and RabbitMQ, and API servers starting together.

Which server process answered a request is read from ``/proc``: the process holding the
server side of the test's TCP connection (no header says it).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from conftest import PG_URL

from .conftest import RABBITMQ_URL, Deployment, _create_database, _drop_database, _reachable, require
from .helpers import alive

SLEEP = "/arcgis/rest/services/Dist/Jobs/GPServer/Sleep"


class ProcessesDeployment(Deployment):
    """A deployment whose API server is one ``opengp serve --processes 2`` (OPENGP_PROCESSES)."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "OPENGP_PROCESSES": "2"}


@pytest.fixture
def two(tmp_path: Path) -> Iterator[ProcessesDeployment]:
    require(_reachable(PG_URL.replace("+psycopg", ""), 5432), f"PostgreSQL at {PG_URL} is not reachable")
    require(_reachable(RABBITMQ_URL, 5672), f"the broker at {RABBITMQ_URL} is not reachable")
    dep = ProcessesDeployment(tmp_path, RABBITMQ_URL, servers=1, workers=1, concurrency=2)
    try:
        yield dep.start()
    finally:
        dep.stop()


# -- which process holds a connection -------------------------------------------------------------
def server_processes(parent: int) -> list[int]:
    """The server processes of an ``opengp serve`` parent (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def holder(conn: HTTPConnection, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server side of this client connection."""
    assert conn.sock is not None
    port = conn.sock.getsockname()[1]
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:      # its remote end is our socket
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


def call(conn: HTTPConnection, path: str, **form: str) -> dict[str, Any]:
    """GET (or, with ``form``, POST) on a kept-alive connection; the JSON answer."""
    if form:
        conn.request("POST", path, body=urlencode({"f": "json", **form}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        conn.request("GET", path + ("&" if "?" in path else "?") + "f=json")
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body
    return json.loads(body)


def connections_to_each(port: int, pids: list[int], tries: int = 200) -> dict[int, HTTPConnection]:
    """Open connections until each server process holds one (the kernel picks the process)."""
    held: dict[int, HTTPConnection] = {}
    spare: list[HTTPConnection] = []
    for _ in range(tries):
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        call(conn, "/arcgis/rest/info")         # accepted and answered: some process holds it
        pid = holder(conn, pids)
        assert pid is not None, "no server process holds the connection"
        if pid in held:
            spare.append(conn)      # kept open, so the next connection is a new one
        else:
            held[pid] = conn
        if len(held) == len(pids):
            break
    for conn in spare:
        conn.close()
    return held


def wait_status(conn: HTTPConnection, job_id: str, until: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = call(conn, f"{SLEEP}/jobs/{job_id}")
        if body["jobStatus"] in until:
            return body
        assert time.monotonic() < deadline, f"job {job_id} stuck at {body['jobStatus']}"
        time.sleep(0.05)


# -- the tests ------------------------------------------------------------------------------------
def test_two_processes_share_the_port_and_the_jobs_and_stop_together(two: ProcessesDeployment) -> None:
    parent = two.servers[0]
    assert parent is not None
    pids = server_processes(parent.pid)
    assert len(pids) == 2, pids

    # connections land on both processes
    conns = connections_to_each(two.ports[0], pids)
    assert sorted(conns) == pids, f"every connection went to one process: {sorted(conns)} of {pids}"
    a, b = conns[pids[0]], conns[pids[1]]

    # a job submitted through one is seen and cancelled through the other
    job_id = call(a, f"{SLEEP}/submitJob", seconds="60")["jobId"]
    wait_status(b, job_id, {"esriJobExecuting"})
    call(b, f"{SLEEP}/jobs/{job_id}/cancel")
    assert wait_status(a, job_id, {"esriJobCancelled", "esriJobSucceeded", "esriJobFailed"},
                       timeout=10)["jobStatus"] == "esriJobCancelled"
    for conn in conns.values():
        conn.close()

    # a process that dies is replaced; the others serve on
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = server_processes(parent.pid)
        if len(now) == 2 and pids[0] not in now:
            break
        time.sleep(0.1)
    now = server_processes(parent.pid)
    assert len(now) == 2 and pids[0] not in now and pids[1] in now, now
    replacement = next(p for p in now if p != pids[0])
    deadline = time.monotonic() + 30
    held: dict[int, HTTPConnection] = {}
    while replacement not in held and time.monotonic() < deadline:     # it serves once started
        try:
            held = connections_to_each(two.ports[0], now, tries=20)
        except (OSError, AssertionError):
            time.sleep(0.2)
    assert replacement in held, "the replacement process never answered"
    assert call(held[replacement], f"{SLEEP}/jobs/{job_id}")["jobStatus"] == "esriJobCancelled"
    for conn in held.values():
        conn.close()
    assert parent.poll() is None

    # SIGTERM to the parent stops every process, and the parent exits 0
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 0
    for pid in now:
        assert not alive(pid), f"server process {pid} outlived its parent"
    log = two.tmp.joinpath("server0.log").read_text()
    assert "Traceback" not in log, log


def test_servers_starting_together_on_an_empty_database_make_one_administrator(tmp_path: Path) -> None:
    """Three ``opengp serve`` at once (one of them with two processes): one creates the
    administrator, all import the config file's services without a conflict, all start,
    and all share one generated token secret."""
    require(_reachable(PG_URL.replace("+psycopg", ""), 5432), f"PostgreSQL at {PG_URL} is not reachable")
    require(_reachable(RABBITMQ_URL, 5672), f"the broker at {RABBITMQ_URL} is not reachable")
    dep = Deployment(tmp_path, RABBITMQ_URL, servers=3, workers=0)
    try:
        dep.database_url = _create_database(dep.database)
        env = {k: v for k, v in dep.env.items() if k != "OPENGP_SECRET_KEY"}   # each makes or reads secret.key
        logs = [tmp_path / f"server{i}.log" for i in range(3)]
        for i, port in enumerate(dep.ports):
            dep.servers[i] = subprocess.Popen(
                [sys.executable, "-m", "opengp", "serve", "--config", str(dep.config), "--port", str(port),
                 "--log-level", "warning", *(["--processes", "2"] if i == 0 else [])],
                stdout=open(logs[i], "ab"), stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
        deadline = time.monotonic() + 90
        up: set[int] = set()
        while len(up) < 3 and time.monotonic() < deadline:
            for i, url in enumerate(dep.urls):
                proc = dep.servers[i]
                assert proc is not None
                assert proc.poll() is None, f"server {i} exited ({proc.returncode}):\n{logs[i].read_text()}"
                try:
                    if i not in up and httpx.get(url + "/arcgis/rest/info?f=json", timeout=1).status_code == 200:
                        up.add(i)
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        assert up == {0, 1, 2}, [log.read_text() for log in logs]
        texts = [log.read_text() for log in logs]
        assert sum(t.count("created the administrator") for t in texts) == 1, texts
        for text in texts:
            assert "Traceback" not in text and "ERROR" not in text, text

        from opengp.store.services import open_service_store
        from opengp.store.sql import SqlStore
        from opengp.store.users import open_user_store

        store = SqlStore(dep.database_url, migrate=False)
        try:
            users = open_user_store(store).list()
            assert [u.name for u in users if u.is_admin] == ["admin"]
            assert len(open_service_store(store).list()) == 5
        finally:
            store.close()
        # one secret: a token from one server is good on every other
        token = httpx.post(f"{dep.urls[1]}/arcgis/tokens/generateToken", data={
            "username": "admin", "password": "admin-password-1", "client": "requestip", "f": "json"}).json()["token"]
        for url in dep.urls:
            for _ in range(4):      # server 0's two processes
                r = httpx.get(f"{url}/arcgis/admin/services", params={"f": "json", "token": token})
                assert r.status_code == 200 and "error" not in r.json(), r.text
    finally:
        dep.stop()


def test_ensure_admin_under_the_lock_makes_one_administrator(tmp_path: Path, monkeypatch) -> None:
    """The same race, threads against one scratch database: one creates, the others find it."""
    require(_reachable(PG_URL.replace("+psycopg", ""), 5432), f"PostgreSQL at {PG_URL} is not reachable")
    from opengp.auth.bootstrap import ensure_admin
    from opengp.store.sql import SqlStore
    from opengp.store.users import open_user_store

    monkeypatch.setenv("OPENGP_ADMIN_PASSWORD", "admin-password-1")
    name = f"opengp_t_{os.getpid()}_admin"
    url = _create_database(name)
    try:
        SqlStore(url).close()       # migrated once, before the race
        stores = [SqlStore(url, migrate=False) for _ in range(6)]
        start = threading.Barrier(len(stores))
        created: list[bool] = []
        errors: list[BaseException] = []

        def race(store: SqlStore) -> None:
            try:
                start.wait()
                created.append(ensure_admin(open_user_store(store), tmp_path, demo=False,
                                            lock=store.lock("bootstrap")).created)
            except BaseException as exc:       # noqa: BLE001  (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert sorted(created) == [False] * 5 + [True]
        assert [u.name for u in open_user_store(stores[0]).list()] == ["admin"]
        for store in stores:
            store.close()
    finally:
        _drop_database(name)
