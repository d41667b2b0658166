"""The reconciler of scale-out mode, over the in-memory store: lost workers' jobs and stalled queues."""
from __future__ import annotations

import time

import pytest

from opengp.config import ServiceConfig, Settings
from opengp.core import Job, Kind, Status
from opengp.jobs.reconcile import Reconciler
from opengp.store import MemoryStore
from opengp.tools.registry import Registry, load_service

TOOLBOX = "opengp.toolboxes.demo"


def _reconciler(store, rung, **settings):
    services = [load_service(ServiceConfig(name="Plain", toolbox=TOOLBOX)),
                load_service(ServiceConfig(name="Retry", toolbox=TOOLBOX, retries=1)),
                load_service(ServiceConfig(name="One", toolbox=TOOLBOX, max_instances=1))]
    return Reconciler(store, Registry(services), Settings(lease=0.1, doorbell_timeout=0.1, **settings),
                      lambda service, hint: rung.append((service, hint)))


def _running(store, service):
    job = Job.new(service, "Echo", {}).evolve(status=Status.SUBMITTED)
    store.create(job)
    return store.claim(job.id, "host:1")


def test_lost_workers_jobs_fail_retry_or_end_cancelled():
    store, rung = MemoryStore(), []
    plain, retry = _running(store, "Plain"), _running(store, "Retry")
    cancelled = _running(store, "Plain")
    store.transition(cancelled.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True)
    time.sleep(0.2)
    fresh = _running(store, "Plain")
    assert _reconciler(store, rung).run_once() == (3, 0)
    failed = store.get(plain.id)
    assert failed.status is Status.FAILED and "worker running this job was lost" in failed.error
    assert store.get(retry.id).status is Status.SUBMITTED and rung == [("Retry", retry.id)]
    assert store.get(cancelled.id).status is Status.CANCELLED
    assert store.get(fresh.id).status is Status.EXECUTING
    store.claim(retry.id, "host:2")         # its second attempt is lost too: no more retries
    time.sleep(0.2)
    _reconciler(store, rung).run_once()
    assert store.get(retry.id).status is Status.FAILED


def test_stalled_services_are_rung_again_within_their_free_slots():
    store, rung = MemoryStore(), []
    for service in ("Plain", "Plain", "One", "One"):
        store.create(Job.new(service, "Echo", {}).evolve(status=Status.SUBMITTED))
    assert _reconciler(store, rung).run_once() == (0, 0)        # not waiting long enough yet
    time.sleep(0.15)
    assert _reconciler(store, rung).run_once() == (0, 3)
    assert sorted(s for s, _ in rung) == ["One", "Plain", "Plain"]


def test_a_broker_needs_postgresql():
    with pytest.raises(ValueError, match="needs a PostgreSQL database_url"):
        Settings(broker_url="amqp://guest:guest@localhost//")
    with pytest.raises(ValueError, match="needs a PostgreSQL database_url"):
        Settings(broker_url="amqp://localhost//", database_url="sqlite:///x.db")
    with pytest.raises(ValueError, match="amqp:// .* or redis://"):
        Settings(broker_url="kafka://x", database_url="postgresql+psycopg://u@h/db")
    assert Settings(broker_url="redis://h/0", database_url="postgresql+psycopg://u@h/db").broker_url


def _operation(store, status, idle):
    """An admin operation another API server started, last touched ``idle`` seconds ago."""
    job = Job.new("Plain", "edit", {}, kind=Kind.ADMIN).evolve(status=status, updated=time.time() - idle)
    store.create(job)
    return job


def test_operations_of_a_lost_api_server_are_ended_but_not_live_ones():
    store, rung = MemoryStore(), []
    lost = [_operation(store, status, idle=200) for status in (Status.SUBMITTED, Status.EXECUTING)]
    recent = _operation(store, Status.EXECUTING, idle=5)
    here = _operation(store, Status.EXECUTING, idle=200)        # this server's, in a stage that takes long
    done = _operation(store, Status.SUCCEEDED, idle=200)
    reconciler = _reconciler(store, rung)
    reconciler.runs_here = lambda job_id: job_id == here.id
    assert reconciler.run_once() == (2, 0)
    for job in lost:
        ended = store.get(job.id)
        assert ended.status is Status.FAILED and "API server running this operation stopped" in ended.error
        assert ended.finished is not None
    assert store.get(recent.id).status is Status.EXECUTING and store.get(here.id).status is Status.EXECUTING
    assert store.get(done.id).status is Status.SUCCEEDED


def test_an_operation_waiting_its_turn_heartbeats_so_no_server_takes_it_for_abandoned(monkeypatch):
    """Queued behind a long operation on the same service, it is not running any stage, yet its
    server is alive: it must keep showing that, as a running one does."""
    import asyncio

    from opengp.jobs import operations
    from opengp.jobs.operations import AdminOperations, Operation, Stage

    monkeypatch.setattr(operations, "ABANDONED", 0.4)          # a heartbeat every 0.1 s
    store = MemoryStore()

    async def io(fn, *args, **kwargs):
        return fn(*args, **kwargs)

    async def scenario() -> None:
        ops, release = AdminOperations(store, io), asyncio.Event()
        long_op = await ops.start(Operation("edit", "Plain", "/edit", {}, [Stage("writing", release.wait)]))
        waiting = await ops.start(Operation("edit", "Plain", "/edit", {}, [Stage("writing", lambda: asyncio.sleep(0))]))
        await asyncio.sleep(0.05)
        first = store.get(waiting.id).heartbeat
        await asyncio.sleep(0.5)
        assert first is not None and store.get(waiting.id).status is Status.SUBMITTED
        assert store.get(waiting.id).heartbeat > first and not store.stale_operations(0.4)
        assert ops.runs_here(waiting.id) and ops.runs_here(long_op.id)
        release.set()
        for _ in range(100):
            if store.get(waiting.id).status.terminal:
                break
            await asyncio.sleep(0.02)
        assert store.get(waiting.id).status is Status.SUCCEEDED and not ops.runs_here(waiting.id)

    asyncio.run(scenario())
