"""The outbox contract on every backend (memory, SQLite, PostgreSQL): a job's end and its
webhooks' deliveries are one commit; a delivery is leased to one deliverer at a time, retried
until it is recorded, and its attempts are kept."""
from __future__ import annotations

import time

import pytest

from opengp import lifecycle
from opengp.core import Conflict, Job, Kind, Level, Message, Status
from opengp.store.outbox import DELIVERED, FAILED, PENDING, Attempt, open_outbox
from opengp.store.webhooks import Webhook


@pytest.fixture
def store(each_store):
    return each_store


@pytest.fixture
def boxes(store):
    return open_outbox(store)


def hook(hook_id: str, service: str = "Demo/Tools", name: str | None = None, active: bool = True) -> Webhook:
    now = time.time()
    return Webhook(hook_id, service, name or hook_id, f"http://receiver.example/{hook_id}", active=active,
                   created=now, modified=now)


def ended_job(store, status: Status = Status.SUCCEEDED, service: str = "Demo/Tools", kind: Kind = Kind.GP) -> Job:
    job = Job.new(service, "Echo", {"text": "hi"}, kind=kind)
    store.create(job)
    assert store.claim(job.id, "w1") is not None
    assert lifecycle.end(store, job.id, status) is not None
    return job


def test_a_jobs_end_owes_one_delivery_to_each_active_webhook_of_its_service(store, boxes):
    hooks, box = boxes
    hooks.add(hook("a"))
    hooks.add(hook("b"))
    hooks.add(hook("off", active=False))
    hooks.add(hook("elsewhere", service="Other"))
    job = ended_job(store, Status.FAILED)
    due = box.claim_due("me", lease=30)
    assert sorted(d.id for d in due) == [f"{job.id}:a", f"{job.id}:b"]
    assert {(d.job_id, d.status, d.service, d.task, d.state) for d in due} == {
        (job.id, "failed", "Demo/Tools", "Echo", PENDING)}
    # a message added to the ended job is no second end; admin operations owe nothing
    lifecycle.note(store, store.get(job.id), Message.now(Level.INFO, "later"))
    ended_job(store, kind=Kind.ADMIN)
    for d in due:
        box.record(d, "me", Attempt(time.time(), 200, None), DELIVERED, d.next_attempt)
    assert box.claim_due("me", lease=30) == []


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED])
def test_every_kind_of_end_is_owed(store, boxes, status):
    hooks, box = boxes
    hooks.add(hook("a"))
    job = ended_job(store, status)
    assert [(d.job_id, d.status) for d in box.claim_due("me", lease=30)] == [(job.id, status.value)]


def test_a_queued_job_cancelled_or_failed_is_owed_too(store, boxes):
    hooks, box = boxes
    hooks.add(hook("a"))
    job = Job.new("Demo/Tools", "Echo", {})
    store.create(job)
    lifecycle.cancel(store, job)
    assert [d.status for d in box.claim_due("me", lease=30)] == ["cancelled"]


def test_a_lease_keeps_others_off_until_it_runs_out_or_is_recorded(store, boxes):
    hooks, box = boxes
    hooks.add(hook("a"))
    ended_job(store)
    first = box.claim_due("one", lease=0.3)
    assert len(first) == 1 and box.claim_due("two", lease=30) == []
    time.sleep(0.5)                        # "one" died holding it: the lease runs out
    again = box.claim_due("two", lease=30)
    assert [d.id for d in again] == [first[0].id]
    assert not box.record(first[0], "one", Attempt(time.time(), 200, None), DELIVERED, 0)  # too late
    retry_at = time.time() + 0.3
    assert box.record(again[0], "two", Attempt(time.time(), 503, "HTTP 503"), PENDING, retry_at)
    assert box.claim_due("two", lease=30) == []            # not due yet
    time.sleep(0.4)
    third = box.claim_due("two", lease=30)
    assert [(d.attempts, [a.code for a in d.history]) for d in third] == [(1, [503])]
    assert box.record(third[0], "two", Attempt(time.time(), None, "refused"), FAILED, 0)
    total, page = box.history("a")
    assert total == 1 and page[0].state == FAILED and [a.code for a in page[0].history] == [503, None]


def test_release_lets_go_of_every_lease(store, boxes):
    hooks, box = boxes
    hooks.add(hook("a"))
    ended_job(store)
    assert len(box.claim_due("gone", lease=300)) == 1
    assert box.release() == 1
    assert len(box.claim_due("me", lease=30)) == 1


def test_webhook_names_are_unique_per_service_and_go_with_it(store, boxes):
    hooks, _ = boxes
    hooks.add(hook("a", name="same"))
    with pytest.raises(Conflict):
        hooks.add(hook("b", name="same"))
    hooks.add(hook("c", name="same", service="Other"))
    with pytest.raises(Conflict):
        hooks.replace(hook("c", name="same").evolve(service="Demo/Tools"))
    assert hooks.remove_service("Demo/Tools") == 1
    assert [h.id for h in hooks.list("Other")] == ["c"] and hooks.get("a") is None


def _callbacks_job(store, **callbacks: str) -> Job:
    job = Job.new("Demo/Tools", "Echo", {}, options={"callbacks": callbacks})
    store.create(job)
    return job


def _due(box) -> dict[str, str]:
    return {d.target: d.status for d in box.claim_due("me", lease=30)}


def test_a_jobs_callbacks_wait_for_their_events(store, boxes):
    _, box = boxes
    urls = {"started": "http://client.example/started", "succeeded": "http://client.example/ok",
            "failed": "http://client.example/failed"}
    job = _callbacks_job(store, **urls)
    assert _due(box) == {}                                  # nothing has happened yet
    store.claim(job.id, "w1")
    started = box.claim_due("me", lease=30)
    assert [(d.target, d.status, d.url, d.kind) for d in started] == [
        ("started", "executing", urls["started"], "callback")]
    box.record(started[0], "me", Attempt(time.time(), 204, None), DELIVERED, 0)
    lifecycle.end(store, job.id, Status.SUCCEEDED)
    assert _due(box) == {"succeeded": "succeeded"}          # failed's event never came: dropped
    total, _ = box.history("failed")
    assert total == 1 and box.history("failed")[1][0].state == "dropped"


def test_a_job_that_never_started_sends_no_started_callback(store, boxes):
    _, box = boxes
    job = _callbacks_job(store, started="http://c.example/s", failed="http://c.example/f")
    lifecycle.cancel(store, job)
    assert _due(box) == {"failed": "cancelled"}


def test_a_started_callback_not_yet_delivered_still_goes_before_the_end(store, boxes):
    """The deliverer that held "started" died; by the time the job ends both are due, and the
    one that started comes first."""
    _, box = boxes
    job = _callbacks_job(store, started="http://c.example/s", succeeded="http://c.example/ok")
    store.claim(job.id, "w1")
    box.claim_due("gone", lease=300)        # "started" taken by a server that then died...
    box.release()
    lifecycle.end(store, job.id, Status.SUCCEEDED)
    due = box.claim_due("me", lease=30)
    assert [d.target for d in sorted(due, key=lambda d: d.next_attempt)] == ["started", "succeeded"]
