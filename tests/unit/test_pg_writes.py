"""Writes on PostgreSQL (store/postgres.py ``PgConnections.write``): each thread's own psycopg connection,
statements prepared.  What a long-lived worker meets: its connection killed while a tool
runs, a migration under its prepared statements, a write that fails for good."""
from __future__ import annotations

import psycopg
import pytest

from conftest import fresh_postgres
from opengp.core import Conflict, Job, Status, StoreError, StoreUnavailable
from opengp.store.notify import libpq_url
from opengp.store.sql import SqlStore


@pytest.fixture
def store():
    s = SqlStore(fresh_postgres())
    yield s
    s.close()


def _admin(store: SqlStore) -> psycopg.Connection:
    return psycopg.connect(libpq_url(store.url), autocommit=True)


def _submitted(store: SqlStore) -> Job:
    job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED)
    store.create(job)
    return job


def test_a_write_after_the_connection_was_closed_by_the_server_goes_through(store):
    """A database restart, or an idle session closed while the worker's tool ran: nothing of
    the write was sent, so it is made again on a new connection instead of failing the job's end."""
    job = _submitted(store)
    backend = store._pg.connection().info.backend_pid
    with _admin(store) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,)).fetchone()[0]   # and gone
    claimed = store.claim(job.id, "host:1.a")
    assert claimed is not None and claimed.status is Status.EXECUTING
    assert store._pg.connection().info.backend_pid != backend
    done = store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, results={"r": 1})
    assert done is not None and store.get(job.id).results == {"r": 1}


def test_a_write_under_a_plan_a_migration_made_stale_goes_through_once(store):
    first, second = _submitted(store), _submitted(store)
    assert store.claim(first.id, "host:1.a") is not None          # the claim statement is prepared
    with _admin(store) as admin:
        admin.execute("ALTER TABLE jobs ADD COLUMN added_later text")
    claimed = store.claim(second.id, "host:1.a")
    assert claimed is not None and claimed.id == second.id
    assert store.claim(second.id, "host:1.a") is None                 # claimed once, not twice


def test_a_refused_write_is_a_store_error_not_unavailable_and_the_next_write_works(store):
    """Refusals are not retried by a worker ending a job (runtime/run.py); unavailability is."""
    job = _submitted(store)
    with pytest.raises(StoreError, match="write failed") as refused:       # a job must have a service
        store.transition(job.id, [Status.SUBMITTED], Status.CANCELLED, service=None)
    assert not isinstance(refused.value, StoreUnavailable)
    with pytest.raises(Conflict):                                   # the same id again: the caller's to answer
        store.create(job)
    assert store.claim(job.id, "host:1.a") is not None


def test_a_database_that_cannot_be_reached_is_unavailable():
    nowhere = SqlStore("postgresql+psycopg://postgres@127.0.0.1:9/opengp", migrate=False)    # nothing listens on 9
    with pytest.raises(StoreUnavailable, match="write failed"):
        nowhere.claim("j0", "host:1.a")
