"""A worker killed with kill -9, and a broker that drops its connections: nothing stuck, nothing lost."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from api.helpers import submit, wait

from .helpers import alive, clients, executions, pid_of, stored

JOBS = "/Dist/Jobs/GPServer"
RETRY = "/Dist/Retry/GPServer"


@pytest.fixture
def restart_workers(rabbit):
    """Brings back any worker a test killed."""
    yield rabbit
    for i, proc in enumerate(rabbit.workers):
        if proc is None or proc.poll() is not None:
            rabbit.start_worker(i)
            rabbit.wait_worker(i)


def _kill_the_worker_running(dep, pid: int) -> None:
    i = dep.worker_of(pid)
    assert i is not None, f"pool process {pid} belongs to none of the workers"
    dep.kill_worker(i)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the pool process outlived its worker"


def test_kill_9_of_a_worker_fails_its_job_as_worker_lost_within_60_s(restart_workers):
    dep = restart_workers
    a, b = clients(dep)
    job_id = submit(a, f"{JOBS}/Pid", seconds="60")
    pid = pid_of(a, f"{JOBS}/Pid", job_id)
    killed = time.monotonic()
    _kill_the_worker_running(dep, pid)
    body = wait(b, f"{JOBS}/Pid", job_id, timeout=60)
    assert body["jobStatus"] == "esriJobFailed"
    assert time.monotonic() - killed < 60
    assert any("worker running this job was lost" in m["description"] for m in body["messages"])
    after = submit(b, f"{JOBS}/Add", a="1")            # the other worker carries on
    assert wait(a, f"{JOBS}/Add", after)["jobStatus"] == "esriJobSucceeded"


def test_a_service_with_retries_runs_the_job_again_after_a_lost_worker(restart_workers):
    dep = restart_workers
    a, b = clients(dep)
    job_id = submit(a, f"{RETRY}/Pid", seconds="2")
    pid = pid_of(a, f"{RETRY}/Pid", job_id)
    _kill_the_worker_running(dep, pid)
    body = wait(b, f"{RETRY}/Pid", job_id, timeout=60)
    assert body["jobStatus"] == "esriJobSucceeded", body
    assert any("It will run again" in m["description"] for m in body["messages"])
    assert executions(body) == 2 and stored(dep, job_id).attempts == 2


def test_a_pool_process_that_dies_on_its_own_fails_its_job_at_once(rabbit):
    """The OOM killer or a crash in a C extension takes one pool process, not the worker: the
    worker's supervisor settles its job within a tick or two, not after the lease (30 s)."""
    a, b = clients(rabbit)
    job_id = submit(a, f"{JOBS}/Pid", seconds="60")
    pid = pid_of(a, f"{JOBS}/Pid", job_id)
    time.sleep(0.6)             # a lease renewal or two: the supervisor knows the job is this child's
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    body = wait(b, f"{JOBS}/Pid", job_id, timeout=60)
    assert body["jobStatus"] == "esriJobFailed", body
    # settled by the supervisor (its words), before the lease (3 s here) could run out
    assert time.monotonic() - killed < 2.5
    assert any("ended while running it" in m["description"] for m in body["messages"]), body["messages"]
    assert all(p is not None and p.poll() is None for p in rabbit.workers)     # the worker lives on
    after = submit(a, f"{JOBS}/Add", a="1")
    assert wait(b, f"{JOBS}/Add", after)["jobStatus"] == "esriJobSucceeded"


def test_a_dead_pool_process_s_job_runs_again_for_a_service_with_retries(rabbit):
    a, b = clients(rabbit)
    job_id = submit(a, f"{RETRY}/Pid", seconds="2")
    pid = pid_of(a, f"{RETRY}/Pid", job_id)
    time.sleep(0.6)
    os.kill(pid, signal.SIGKILL)
    body = wait(b, f"{RETRY}/Pid", job_id, timeout=30)
    assert body["jobStatus"] == "esriJobSucceeded", body
    texts = [m["description"] for m in body["messages"]]
    assert any("ended while running it" in t and "It will run again" in t for t in texts), texts
    assert executions(body) == 2 and stored(rabbit, job_id).attempts == 2


def _broker_connections_of(pids: set[int]) -> list[str]:
    """RabbitMQ's ids of the connections these processes opened (matched by client port)."""
    out = subprocess.run(["ss", "-tnpH", "dport = :5672"], capture_output=True, text=True, timeout=10).stdout
    ports = {line.split()[3].rsplit(":", 1)[1] for line in out.splitlines()
             if any(f"pid={pid}," in line for pid in pids)}
    listed = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "peer_port"],
                            capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in listed.splitlines()
            if len(line.split()) == 2 and line.split()[1] in ports]


def test_workers_resume_after_the_broker_drops_their_connections(rabbit):
    """Only this deployment's workers lose their connections (other runs may share the broker)."""
    a, b = clients(rabbit)
    running = submit(a, "/Dist/One/GPServer/Sleep", seconds="4")
    queued = [submit(c, "/Dist/One/GPServer/Add", a=str(i)) for i, c in enumerate([a, b, a])]
    wait(a, "/Dist/One/GPServer/Sleep", running, until={"esriJobExecuting"})
    workers = {p.pid for p in rabbit.workers if p is not None}
    connections = _broker_connections_of(workers)
    assert connections, "found no broker connection of the workers"
    for conn in connections:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", conn, "test: broker connection lost"],
                       capture_output=True, timeout=30)
    assert wait(b, "/Dist/One/GPServer/Sleep", running, timeout=60)["jobStatus"] == "esriJobSucceeded"
    for job_id in queued:
        body = wait(a, "/Dist/One/GPServer/Add", job_id, timeout=60)
        assert body["jobStatus"] == "esriJobSucceeded" and executions(body) == 1
    assert all(stored(rabbit, job_id).attempts == 1 for job_id in [running, *queued])
    later = submit(b, f"{JOBS}/Add", a="5")             # and new work still reaches them
    assert wait(a, f"{JOBS}/Add", later, timeout=30)["jobStatus"] == "esriJobSucceeded"


def test_a_job_whose_end_cannot_be_recorded_is_settled_not_left_executing(rabbit):
    """The database refuses the job's end and the worker's fallback alike (here a constraint
    added while the job runs; in life an outage longer than the worker's retries, ~16 s). The
    pool process gives up and exits rather than renew the job's lease for as long as it lives;
    the worker's supervisor settles the job as lost."""
    import psycopg

    from opengp.store.notify import libpq_url

    a, b = clients(rabbit)
    job_id = submit(a, f"{JOBS}/Pid", seconds="4")          # time to add the constraint while it runs
    pid_of(a, f"{JOBS}/Pid", job_id)
    url = libpq_url(rabbit.database_url)
    refuse = (f"ALTER TABLE jobs ADD CONSTRAINT refuse_{job_id} CHECK (id <> '{job_id}' OR "
              "(status <> 'succeeded' AND coalesce(error, '') NOT LIKE 'The job ended%')) NOT VALID")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(refuse)
        try:
            body = wait(b, f"{JOBS}/Pid", job_id, timeout=60)
        finally:
            conn.execute(f"ALTER TABLE jobs DROP CONSTRAINT refuse_{job_id}")
    assert body["jobStatus"] == "esriJobFailed", body
    assert any("ended while running it" in m["description"] for m in body["messages"]), body["messages"]
    after = submit(b, f"{JOBS}/Add", a="1")            # the worker carries on with a new pool process
    assert wait(a, f"{JOBS}/Add", after)["jobStatus"] == "esriJobSucceeded"
