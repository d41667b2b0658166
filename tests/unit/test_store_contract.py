"""One contract suite for every Store backend: memory, SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest

from opengp.core import Job, Message, Progress, Status
from opengp.store import JobQuery, MemoryStore
from opengp.store.sql import SqlStore

from conftest import fresh_postgres


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SqlStore(f"sqlite:///{tmp_path}/jobs.db")
    else:
        s = SqlStore(fresh_postgres())
    yield s
    s.close()


@pytest.fixture
def job_factory(store):
    def make(service="Demo/Tools", task="Echo", owner=None, status=Status.SUBMITTED, created=None, **kw):
        job = Job.new(service, task, {"text": "hi"}, owner=owner, **kw).evolve(status=status)
        if created is not None:
            job = job.evolve(created=created)
        store.create(job)
        return job
    return make


def test_create_then_get_round_trips_every_field(store, job_factory):
    job = job_factory(owner="ann", options={"out_sr": {"wkid": 3857}}, retention=60)
    got = store.get(job.id)
    assert got == job
    assert store.get("jnope") is None


def test_duplicate_id_is_refused(store, job_factory):
    job = job_factory()
    with pytest.raises(Exception):
        store.create(job)


def test_claim_is_compare_and_set(store, job_factory):
    job = job_factory()
    first = store.claim(job.id, "w1")
    assert first.status is Status.EXECUTING and first.worker == "w1" and first.attempts == 1
    assert first.started is not None and first.heartbeat is not None
    assert store.claim(job.id, "w2") is None


def test_concurrent_claims_have_exactly_one_winner(store, job_factory):
    job = job_factory()
    wins = []
    threads = [threading.Thread(target=lambda n=n: wins.append(store.claim(job.id, f"w{n}"))) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([w for w in wins if w is not None]) == 1


def test_transition_only_from_the_named_states_and_appends_messages(store, job_factory):
    job = job_factory()
    assert store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED) is None
    store.claim(job.id, "w1")
    done = store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, results={"r": {"value": 1}},
                            finished=time.time(), messages=[Message.now("info", "done")])
    assert done.status is Status.SUCCEEDED and done.results == {"r": {"value": 1}}
    assert [m.text for m in store.get(job.id).messages] == ["done"]
    assert store.transition(job.id, [Status.EXECUTING], Status.FAILED) is None


def test_report_appends_and_never_touches_a_finished_job(store, job_factory):
    job = job_factory()
    store.report(job.id, [Message.now("info", "a")], Progress(10, "one"))
    store.report(job.id, [Message.now("warning", "b")])
    got = store.get(job.id)
    assert [m.text for m in got.messages] == ["a", "b"] and got.progress.percent == 10
    store.transition(job.id, [Status.SUBMITTED], Status.CANCELLED)
    store.report(job.id, [Message.now("info", "late")])
    assert [m.text for m in store.get(job.id).messages] == ["a", "b"]


def test_query_filters_pages_and_counts(store, job_factory):
    base = time.time() - 100
    for i in range(5):
        job_factory(owner="ann", created=base + i)
    for i in range(3):
        job_factory(owner="bob", service="Other", created=base + 10 + i, status=Status.FAILED)
    total, page = store.query(JobQuery(owner="ann", limit=2))
    assert total == 5 and len(page) == 2 and page[0].created > page[1].created
    total, page = store.query(JobQuery(statuses=frozenset({Status.FAILED})))
    assert total == 3 and {j.owner for j in page} == {"bob"}
    total, page = store.query(JobQuery(created_after=base + 2, created_before=base + 11, limit=None, oldest_first=True))
    assert [j.created for j in page] == [base + 2, base + 3, base + 4, base + 10, base + 11]
    total, page = store.query(JobQuery(service="Demo/Tools", offset=4, limit=10))
    assert total == 5 and len(page) == 1


def test_heartbeat_reports_cancel_and_reap_finds_stale_leases(store, job_factory):
    job = job_factory()
    store.claim(job.id, "w1")
    assert store.heartbeat(job.id, "w1") is False
    store.transition(job.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True)
    assert store.heartbeat(job.id, "w1") is True
    assert [j.id for j in store.reap(time.time() + 1)] == [job.id]
    assert store.reap(time.time() - 60) == []


def test_delete_and_expired(store, job_factory):
    job = job_factory(retention=0.001)
    store.transition(job.id, [Status.SUBMITTED], Status.CANCELLED)
    assert store.expired(time.time() + 1) == [job.id]
    assert store.delete(job.id) is True
    assert store.delete(job.id) is False


def test_retention_counts_from_when_the_job_finished(store, job_factory):
    job = job_factory(retention=60)
    assert job.expires == pytest.approx(job.created + 60)
    store.claim(job.id, "w")
    later = job.created + 500          # it ran for 500 s, far past its retention
    done = store.transition(job.id, [Status.EXECUTING], Status.SUCCEEDED, finished=later)
    assert done.expires == pytest.approx(later + 60)
    assert store.expired(later + 59) == [] and store.expired(later + 61) == [job.id]
