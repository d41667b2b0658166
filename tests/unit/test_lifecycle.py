"""The lifecycle module: every move's sources come from the transition table, the three
policies (running, lost workers, stopping) decide as documented, and nothing else in the code
base hands source states to the store."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from opengp import lifecycle
from opengp.core import Job, Message, Status
from opengp.core.status import OPEN, RUNNING, TERMINAL, TRANSITIONS
from opengp.store import MemoryStore

SRC = Path(lifecycle.__file__).parent
MOVES = [lifecycle.WAIT, lifecycle.RELEASE, lifecycle.START, lifecycle.CANCEL_QUEUED, lifecycle.ASK_TO_CANCEL,
         lifecycle.REQUEUE, lifecycle.FAIL, *lifecycle.ENDS.values()]


@pytest.fixture
def store():
    return MemoryStore()


def _job(store: MemoryStore, status: Status = Status.SUBMITTED, **fields) -> Job:
    job = Job.new("Demo/Tools", "Echo", {"text": "hi"}).evolve(status=status, **fields)
    store.create(job)
    return job


def _running(store: MemoryStore, worker: str = "w1", **fields) -> Job:
    job = _job(store, **fields)
    return store.claim(job.id, worker)


def test_each_move_starts_where_the_table_says():
    """The sources each move takes from TRANSITIONS, spelled out: a change of the table (or of
    a move) that changes what may happen to a job shows here."""
    S = Status
    expected = {
        "wait": {S.NEW, S.SUBMITTED}, "release": {S.WAITING}, "start": {S.NEW, S.SUBMITTED, S.WAITING},
        "cancel before it starts": {S.NEW, S.SUBMITTED, S.WAITING}, "ask to cancel": {S.EXECUTING},
        "requeue": {S.EXECUTING}, "fail": {S.NEW, S.SUBMITTED, S.WAITING, S.EXECUTING, S.CANCELLING},
        "end succeeded": {S.EXECUTING, S.CANCELLING}, "end failed": {S.EXECUTING, S.CANCELLING},
        "end timed_out": {S.EXECUTING, S.CANCELLING}, "end cancelled": {S.EXECUTING, S.CANCELLING},
    }
    assert {move.name: set(move.sources) for move in MOVES} == expected
    for move in MOVES:
        assert all(move.to in TRANSITIONS[src] for src in move.sources), move.name


def test_only_the_lifecycle_hands_source_states_to_the_store():
    """The rule the module exists for: a new caller of ``store.transition`` elsewhere is a
    second place deciding a job's moves."""
    callers = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative == "lifecycle.py" or relative.startswith("store/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.transition\b", line):      # a call, or the method handed to a thread
                callers.append(f"{relative}:{number}: {line.strip()}")
    assert callers == []


def test_the_running_set_is_written_once():
    spelled = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        # a set, tuple or list of the two (either order, any spelling), or the two as SQL literals
        if path.name != "status.py" and re.search(
                r"[({\[]\s*(?:\w+\.)?(?:EXECUTING|CANCELLING)\s*,\s*(?:\w+\.)?(?:EXECUTING|CANCELLING)\s*[)}\]]"
                r"|[\'\"](?:executing|cancelling)[\'\"],\s*[\'\"](?:executing|cancelling)[\'\"]", text):
            spelled.append(path.relative_to(SRC).as_posix())
    assert spelled == []
    assert RUNNING == {Status.EXECUTING, Status.CANCELLING} and OPEN == set(Status) - TERMINAL


# -- lost workers -----------------------------------------------------------------------------
def test_a_lost_job_with_retries_left_is_queued_again_saying_why(store):
    job = _running(store)
    assert lifecycle.settle_lost(store, job, retries=1, why="Worker gone.") is Status.SUBMITTED
    now = store.get(job.id)
    assert now.status is Status.SUBMITTED and now.finished is None
    assert now.messages[-1].text == "Worker gone. It will run again." and now.messages[-1].level.value == "warning"


def test_a_lost_job_without_retries_fails_and_a_cancelled_one_is_cancelled(store):
    failed = _running(store)
    assert lifecycle.settle_lost(store, failed, retries=0, why="Worker gone.") is Status.FAILED
    assert store.get(failed.id).error == "Worker gone." and store.get(failed.id).finished is not None
    gone = _running(store)      # its service was removed meanwhile: no retries
    assert lifecycle.settle_lost(store, gone, retries=None, why="Worker gone.") is Status.FAILED
    asked = _running(store)
    asked = store.transition(asked.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True)
    assert lifecycle.settle_lost(store, asked, retries=5, why="Worker gone.") is Status.CANCELLED
    assert store.get(asked.id).messages[-1].text == "Cancelled. Worker gone."


def test_a_lost_job_cancelled_since_it_was_read_ends_cancelled(store):
    """The reconciler read the job executing; a cancel moved it to cancelling before the
    settle: the requeue it chose no longer applies, and the job must not stay cancelling."""
    read = _running(store)
    store.transition(read.id, [Status.EXECUTING], Status.CANCELLING, cancel_requested=True)
    assert lifecycle.settle_lost(store, read, retries=3, why="Worker gone.") is Status.CANCELLED
    assert store.get(read.id).status is Status.CANCELLED


def test_a_lost_job_already_claimed_again_by_another_worker_is_left_alone(store):
    job = _running(store, worker="w1")
    assert lifecycle.settle_lost(store, job, retries=1, why="w1 gone.") is Status.SUBMITTED
    again = store.claim(job.id, "w2")
    assert lifecycle.settle_lost(store, job, retries=1, why="w1 gone, told twice.") is None   # the stale read
    assert store.get(job.id).status is Status.EXECUTING and store.get(job.id).worker == "w2" == again.worker


# -- stopping -----------------------------------------------------------------------------------
def test_must_stop_after_the_cancel_grace_or_past_the_usage_time():
    assert lifecycle.must_stop(10.0, started=5.0, limit=60, cancel_ends=None) is None
    assert lifecycle.must_stop(10.0, started=5.0, limit=60, cancel_ends=11.0) is None      # grace still runs
    assert lifecycle.must_stop(11.0, started=5.0, limit=60, cancel_ends=11.0) is lifecycle.CANCELLED_STOP
    over = lifecycle.must_stop(66.0, started=5.0, limit=60, cancel_ends=None)
    assert over.status is Status.TIMED_OUT and "maximum usage time (60 s)" in over.text and over.error == over.text
    assert lifecycle.CANCELLED_STOP.error is None


def test_a_stop_loses_to_a_job_that_ended_on_its_own(store):
    """The executors kill a job's process only when the stop's move won: a job that finished
    meanwhile keeps its results."""
    job = _running(store)
    lifecycle.end(store, job.id, Status.SUCCEEDED, worker="w1", results={"r": {"value": 1}})
    assert lifecycle.stop(store, job.id, lifecycle.CANCELLED_STOP) is None
    assert store.get(job.id).status is Status.SUCCEEDED and store.get(job.id).results == {"r": {"value": 1}}
    other = _running(store)
    stopped = lifecycle.stop(store, other.id, lifecycle.timed_out(3))
    assert stopped.status is Status.TIMED_OUT and stopped.error.startswith("The job ran longer")
    assert stopped.messages[-1].level.value == "error" and stopped.finished is not None


# -- cancelling, ending, notes -------------------------------------------------------------------
def test_cancel_ends_a_queued_job_and_asks_a_running_one(store):
    queued = _job(store)
    done = lifecycle.cancel(store, queued)
    assert done.status is Status.CANCELLED and done.cancel_requested and done.finished is not None
    running = _running(store)
    asked = lifecycle.cancel(store, running)
    assert asked.status is Status.CANCELLING and asked.cancel_requested and asked.finished is None
    assert lifecycle.cancel(store, store.get(queued.id)) is None        # finished: nothing to do


def test_cancel_of_a_job_claimed_since_it_was_read_asks_it_to_stop(store):
    read = _job(store)
    store.claim(read.id, "w1")
    assert lifecycle.cancel(store, read).status is Status.CANCELLING


def test_an_end_by_a_worker_that_lost_the_job_changes_nothing(store):
    job = _running(store, worker="w1")
    assert lifecycle.end(store, job.id, Status.SUCCEEDED, worker="w2") is None
    assert lifecycle.end(store, job.id, Status.SUCCEEDED, worker="w1").status is Status.SUCCEEDED
    assert lifecycle.end(store, job.id, Status.FAILED) is None        # terminal is final


def test_fail_only_while_in_the_state_the_caller_read(store):
    job = _job(store)
    store.claim(job.id, "w1")
    assert lifecycle.fail(store, job.id, "Abandoned.", only=Status.SUBMITTED) is None
    failed = lifecycle.fail(store, job.id, "Abandoned.", only=Status.EXECUTING)
    assert failed.status is Status.FAILED and failed.error == "Abandoned." and failed.messages[-1].text == "Abandoned."


def test_a_note_on_a_finished_job_keeps_its_status_and_adds_the_message(store):
    job = _running(store)
    done = lifecycle.end(store, job.id, Status.SUCCEEDED, worker="w1")
    lifecycle.note(store, done, Message.now("info", "Callback delivered."))
    after = store.get(job.id)
    assert after.status is Status.SUCCEEDED and after.messages[-1].text == "Callback delivered."
    assert after.finished == done.finished


def test_wait_and_release(store):
    job = _job(store)
    assert lifecycle.wait(store, job.id).status is Status.WAITING
    assert lifecycle.wait(store, job.id) is None        # waiting already
    assert lifecycle.release(store, job.id).status is Status.SUBMITTED
    assert lifecycle.release(store, job.id) is None
    started = lifecycle.start(store, job.id)
    assert started.status is Status.EXECUTING and started.started is not None and time.time() - started.started < 5


def test_the_claimable_predicate_is_the_queued_index_s_own():
    """The store builds its claim SQL from core's QUEUED; PostgreSQL and SQLite use the partial
    index of migration 0006 only for the very same text, so the two must not drift apart."""
    import importlib.util

    from opengp.store import claims

    path = SRC / "migrations" / "versions" / "0006_scale_out.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert claims.CLAIMABLE == migration.CLAIMABLE
