"""Writes on PostgreSQL (store/sql.py ``_pg_write``): each thread's own psycopg connection,
statements prepared.  What a long-lived worker meets: its connection killed while a tool
runs, a migration under its prepared statements, a write that fails for good."""
from __future__ import annotations

import psycopg
import pytest

from conftest import fresh_postgres
from opengp.core import Job, Status, StoreError
from opengp.store.sql import SqlStore


@pytest.fixture
def store():
    s = SqlStore(fresh_postgres())
    yield s
    s.close()


def _admin(store: SqlStore) -> psycopg.Connection:
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def _submitted(store: SqlStore) -> Job:
    job = Job.new("Demo/Tools", "Echo", {}).evolve(status=Status.SUBMITTED)
    store.create(job)
    return job


def test_a_write_after_the_connection_was_closed_by_the_server_goes_through(store):
    """A database restart, or an idle session closed while the worker's tool ran: nothing of
    the write was sent, so it is made again on a new connection instead of failing the job's end."""
    job = _submitted(store)
    backend = store._local.pg[1].info.backend_pid
    with _admin(store) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
    claimed = store.claim(job.id, "host:1.a")
    assert claimed is not None and claimed.status is Status.EXECUTING
    assert store._local.pg[1].info.backend_pid != backend
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


def test_a_write_that_fails_for_good_says_so_and_the_next_one_works(store):
    job = _submitted(store)
    with pytest.raises(StoreError, match="write failed"):
        store.create(job)                                           # the same id again
    assert store.claim(job.id, "host:1.a") is not None
