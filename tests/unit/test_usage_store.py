"""The usage aggregation (store/usage.py) and the usage report definitions (store/reports.py)
on every backend: memory, SQLite and PostgreSQL give the same figures for the same jobs."""
from __future__ import annotations

import time

import pytest

from opengp.core import Conflict, Job, Kind, Status, StoreError
from opengp.store.reports import StoredReport, open_reports
from opengp.store.usage import (DURATION_BOUNDS, MAX_SLICES, DurationClass, Window, duration_class, open_usage,
                                percentile)

T0 = 1_700_000_000.0        # a minute boundary far from now: only the jobs made here are in it


@pytest.fixture
def store(each_store):
    return each_store


@pytest.fixture
def usage(store):
    return open_usage(store)


@pytest.fixture
def ended(store):
    """``ended(service, status, finished, run=seconds, wait=seconds)``: a job stored as ended."""
    def make(service: str, status: Status, finished: float, run: float | None = 1.0, wait: float = 0.5,
             kind: Kind = Kind.GP, error: str | None = None, task: str = "Echo", worker: str | None = None) -> Job:
        started = None if run is None else finished - run
        created = (started if started is not None else finished) - wait
        job = Job.new(service, task, {}, kind=kind).evolve(
            status=status, created=created, updated=finished, started=started, finished=finished, error=error,
            worker=worker if worker is not None or run is None else "gis-1:100.1")
        store.create(job)
        return job
    return make


def test_ended_jobs_are_counted_by_service_slice_and_status(usage, ended):
    ended("A/One", Status.SUCCEEDED, T0 + 10, run=2.0, wait=1.0)
    ended("A/One", Status.SUCCEEDED, T0 + 50, run=4.0, wait=3.0)
    ended("A/One", Status.FAILED, T0 + 59.9, run=0.5, wait=0.25, error="boom")
    ended("A/One", Status.TIMED_OUT, T0 + 60, run=3.0)                  # the next slice starts at 60
    ended("A/One", Status.CANCELLED, T0 + 70, run=None)                 # cancelled before it ran
    ended("B/Two", Status.SUCCEEDED, T0 + 125, run=1.0)
    ended("A/One", Status.SUCCEEDED, T0 - 0.5)                          # before the window
    ended("A/One", Status.SUCCEEDED, T0 + 180)                          # at its end: outside
    ended("A/One", Status.SUCCEEDED, T0 + 20, kind=Kind.ADMIN)          # an operation, no request

    rows = usage.ended(Window(T0, T0 + 180, 60))
    got = {(r.service, r.slice, r.status): r for r in rows}
    assert set(got) == {("A/One", 0, Status.SUCCEEDED), ("A/One", 0, Status.FAILED), ("A/One", 1, Status.TIMED_OUT),
                        ("A/One", 1, Status.CANCELLED), ("B/Two", 2, Status.SUCCEEDED)}
    ok = got[("A/One", 0, Status.SUCCEEDED)]
    assert (ok.count, ok.ran) == (2, 2)
    assert ok.run_total == pytest.approx(6.0) and ok.run_max == pytest.approx(4.0)
    assert ok.wait_total == pytest.approx(4.0) and ok.wait_max == pytest.approx(3.0)
    assert ok.wait_min == pytest.approx(1.0)
    never = got[("A/One", 1, Status.CANCELLED)]
    assert (never.count, never.ran, never.run_total, never.run_max, never.wait_max) == (1, 0, 0.0, None, None)
    # only the services asked for; none asked for: nothing
    assert {r.service for r in usage.ended(Window(T0, T0 + 180, 60, ("B/Two",)))} == {"B/Two"}
    assert usage.ended(Window(T0, T0 + 180, 60, ())) == []


def test_a_window_of_machines_counts_the_jobs_run_on_them(usage, ended):
    ended("A/One", Status.SUCCEEDED, T0 + 10, worker="gis-1:100.1")
    ended("A/One", Status.SUCCEEDED, T0 + 11, worker="GIS-2:200.3")
    ended("A/One", Status.FAILED, T0 + 12, worker="gis-10:300.1")       # another host, not gis-1's
    ended("A/One", Status.CANCELLED, T0 + 13, run=None)                  # ran nowhere
    def count(machines):
        return sum(r.count for r in usage.ended(Window(T0, T0 + 60, 60, machines=machines)))
    assert count(None) == 4
    assert count(("gis-1",)) == 1
    assert count(("gis-2", "gis-10")) == 2
    assert count(("gis",)) == 0 and count(()) == 0


def test_durations_by_class_give_percentiles_every_backend_agrees_on(usage, ended):
    runs = [0.2, 0.4, 1.0, 1.2, 2.0, 3.5, 8.0, 30.0, 31.0, 95.0]
    for i, run_time in enumerate(runs):
        ended("A/One", Status.SUCCEEDED if i % 3 else Status.FAILED, T0 + 100 + i, run=run_time)
    ended("A/One", Status.CANCELLED, T0 + 120, run=None)         # never ran: no run time
    ended("B/Two", Status.SUCCEEDED, T0 + 130, run=7.0)
    classes = usage.durations(Window(T0, T0 + 3600, 60, ("A/One",)))
    assert all(c.service == "A/One" for c in classes)
    assert sum(c.count for c in classes) == len(runs)
    by_index = {c.index: c for c in classes}
    assert by_index[duration_class(30.0)].count == 1 and by_index[duration_class(31.0)].count == 1
    assert percentile(classes, 0.0) == pytest.approx(0.2)
    assert percentile(classes, 1.0) == pytest.approx(95.0)
    assert percentile(classes, 0.5) == pytest.approx(2.75, abs=0.75)     # exact: 2.75, within its class


def test_a_percentile_is_exact_when_each_run_has_its_own_class():
    classes = [DurationClass("S", duration_class(v), 1, v, v) for v in (0.3, 1.0, 5.0, 100.0, 5000.0)]
    assert percentile(classes, 0.5) == 5.0
    assert percentile(classes, 0.0) == 0.3 and percentile(classes, 1.0) == 5000.0
    assert percentile(classes, 0.9) == pytest.approx(100.0 + 0.6 * 4900.0)       # numpy: linear between ranks
    assert percentile(classes[:1], 0.99) == 0.3
    assert percentile([], 0.5) is None
    assert duration_class(DURATION_BOUNDS[-1] + 1) == len(DURATION_BOUNDS)


def test_open_jobs_are_counted_by_service_and_status(store, usage, ended):
    for service, status in [("A/One", Status.SUBMITTED), ("A/One", Status.SUBMITTED), ("A/One", Status.WAITING),
                            ("A/One", Status.EXECUTING), ("B/Two", Status.EXECUTING)]:
        store.create(Job.new(service, "Echo", {}).evolve(status=status))
    store.create(Job.new("A/One", "edit", {}, kind=Kind.ADMIN).evolve(status=Status.EXECUTING))
    ended("A/One", Status.SUCCEEDED, time.time())
    got = {(c.service, c.status): c.count for c in usage.open_jobs()}
    assert got == {("A/One", Status.SUBMITTED): 2, ("A/One", Status.WAITING): 1, ("A/One", Status.EXECUTING): 1,
                   ("B/Two", Status.EXECUTING): 1}
    assert {c.service for c in usage.open_jobs(("B/Two",))} == {"B/Two"}


def test_failures_are_the_latest_failed_or_timed_out_jobs(usage, ended):
    old = ended("A/One", Status.FAILED, T0 + 1, error="old")
    first = ended("A/One", Status.FAILED, T0 + 10, error="first")
    second = ended("B/Two", Status.TIMED_OUT, T0 + 20, error="too long")
    ended("A/One", Status.SUCCEEDED, T0 + 30)
    ended("A/One", Status.CANCELLED, T0 + 31)
    got = usage.failures(T0 + 5)
    assert [(f.id, f.service, f.status, f.error) for f in got] == [
        (second.id, "B/Two", Status.TIMED_OUT, "too long"), (first.id, "A/One", Status.FAILED, "first")]
    assert got[0].finished == pytest.approx(T0 + 20) and got[0].task == "Echo"
    assert [f.id for f in usage.failures(T0, limit=1)] == [second.id]
    assert [f.id for f in usage.failures(T0, ("A/One",))] == [first.id, old.id]


def test_a_window_is_bounded(usage):
    with pytest.raises(ValueError, match="slices"):
        usage.ended(Window(T0, T0 + 60 * (MAX_SLICES + 1), 60))
    with pytest.raises(ValueError):
        usage.durations(Window(T0, T0, 60))


def test_report_definitions_are_kept_by_name(store):
    reports = open_reports(store)
    first = StoredReport("Daily", {"since": "LAST_DAY", "queries": [{"resourceURIs": ["services/"]}]}, "root",
                         T0, T0)
    reports.add(first)
    reports.add(StoredReport("Another", {"since": "LAST_WEEK"}, None, T0, T0))
    assert reports.get("Daily") == first
    assert [r.name for r in reports.list()] == ["Another", "Daily"]
    with pytest.raises(Conflict, match="Daily"):
        reports.add(first.evolve(definition={}))
    reports.replace(first.evolve(definition={"since": "LAST_MONTH"}, updated=T0 + 1))
    assert reports.get("Daily").definition == {"since": "LAST_MONTH"}
    assert reports.remove("Daily") is True and reports.remove("Daily") is False
    assert reports.get("Daily") is None
    with pytest.raises(StoreError):
        reports.replace(first)


def test_report_writes_take_sqlites_one_writers_turn(tmp_path):
    """On SQLite, a report definition's write waits for the job store's writer (as the log's and
    the outbox's do) instead of fighting it for the file."""
    import threading

    from opengp.store.sql import SqlStore

    store = SqlStore(f"sqlite:///{tmp_path}/jobs.db")
    try:
        reports = open_reports(store)
        written = threading.Event()
        lock = store.writer()
        assert lock is not None
        with lock:
            threading.Thread(target=lambda: (reports.add(StoredReport("Daily", {}, None, T0, T0)), written.set()),
                             daemon=True).start()
            assert not written.wait(0.3), "the report was written while the job store's writer held the file"
        assert written.wait(5)
        assert reports.get("Daily") is not None
    finally:
        store.close()
