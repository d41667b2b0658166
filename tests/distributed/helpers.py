"""Helpers for the distributed tests: HTTP clients of a deployment's servers, the job as stored."""
from __future__ import annotations

import time
from typing import Any

import httpx

from api.helpers import job

from .conftest import Deployment


def clients(dep: Deployment) -> list[httpx.Client]:
    """One client per API server of the deployment."""
    return [httpx.Client(base_url=url + "/arcgis/rest/services", timeout=30) for url in dep.urls]


def stored(dep: Deployment, job_id: str) -> Any:
    """The job as the database has it (attempts, worker, start and end times)."""
    from opengp.store.sql import SqlStore

    store = SqlStore(dep.database_url, migrate=False)
    try:
        return store.get(job_id)
    finally:
        store.close()


def pid_of(client: httpx.Client, task_url: str, job_id: str, timeout: float = 20) -> int:
    """The pool process running a Pid job (the tool reports it in a message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = [m["description"] for m in job(client, task_url, job_id)["messages"]]
        pid = next((int(t[4:]) for t in texts if t.startswith("pid=")), None)
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reported its pid")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def executions(body: dict[str, Any]) -> int:
    """How many times run_job started the job (its "Executing (...)" messages)."""
    return sum(1 for m in body["messages"] if m["description"].startswith("Executing ("))
