"""Live job updates across API servers (PostgreSQL LISTEN/NOTIFY, store/notify.py).

A job runs on a Celery worker; a client of the *other* API server sees each of
its updates within moments, not at that server's 2 s (pages) or 0.5 s
(synchronous execute) poll.
"""
from __future__ import annotations

import time

import httpx
import orjson
import psycopg

from api.helpers import submit

from .conftest import Deployment, _admin_url
from .helpers import clients, stored

STAGES = "/Dist/Jobs/GPServer/Stages"


def stream_events(base_url: str, task_url: str, job_id: str) -> list[tuple[float, dict]]:
    """The job's server-sent events (time received, state) until it ends."""
    events: list[tuple[float, dict]] = []
    url = f"{base_url}/arcgis/rest/services{task_url}/jobs/{job_id}/events"
    with httpx.stream("GET", url, timeout=30) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append((time.time(), orjson.loads(line[6:])))
                if events[-1][1]["terminal"]:
                    break
    return events


def assert_updates_arrive_promptly(dep: Deployment, submit_to: httpx.Client, watch_on: str) -> None:
    """Run a job of 4 stages 0.5 s apart through one server while streaming it from another."""
    job_id = submit(submit_to, STAGES, count="4", pause="0.5")
    events = stream_events(watch_on, STAGES, job_id)
    run = stored(dep, job_id)
    assert events[-1][1]["status"] == "succeeded"
    # the end arrives at once, not at the next poll (up to 2 s later)
    assert events[-1][0] - run.finished < 1.0, (events[-1][0] - run.finished)
    seen = {}          # stage message -> index of the event that first carried it
    for i, (_, state) in enumerate(events):
        for m in state["messages"]:
            seen.setdefault(m["text"], i)
    for n in range(1, 5):
        text = f"Stage {n} of 4"
        made = next(m.time for m in run.messages if m.text == text)
        assert events[seen[text]][0] - made < 1.0, (text, events[seen[text]][0] - made)
    # each stage in an event of its own: polling every 2 s would bundle stages 0.5 s apart
    assert len({seen[f"Stage {n} of 4"] for n in range(1, 5)}) == 4, [s for _, s in events]


def test_a_job_page_on_one_server_streams_a_job_run_through_the_other(rabbit):
    a, _ = clients(rabbit)
    assert_updates_arrive_promptly(rabbit, a, rabbit.urls[1])


def test_synchronous_execute_returns_as_soon_as_the_remote_worker_finishes(rabbit):
    _, b = clients(rabbit)
    b.post("/Dist/Sync/GPServer/Add/execute", data={"f": "json", "a": "0"})     # the service loads in workers
    lags = []
    for i in range(5):
        r = b.post("/Dist/Sync/GPServer/Add/execute", data={"f": "json", "a": str(i), "b": "1"})
        answered = time.time()
        assert r.json()["results"][0]["value"] == i + 1
        finished = _last_finished(rabbit, "Dist/Sync")
        lags.append(answered - finished)
    # waiting by polling every 0.5 s would lag 0.25 s on average, and each run by up to 0.5 s
    assert max(lags) < 0.3, lags


def test_live_updates_resume_after_the_listener_connection_is_killed(rabbit):
    before = _listeners(rabbit)
    assert len(before) == 2                 # one per API server
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        for pid in before:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = _listeners(rabbit)
        if len(after) == 2 and not after & before:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"listeners did not reconnect: {before} -> {_listeners(rabbit)}")
    a, b = clients(rabbit)
    assert a.get("/", params={"f": "json"}).status_code == 200     # the servers kept serving
    assert_updates_arrive_promptly(rabbit, b, rabbit.urls[0])


def _listeners(dep: Deployment) -> set[int]:
    """Backend pids of the deployment's API servers' LISTEN connections."""
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                            (dep.database, "opengp-listen")).fetchall()
    return {r[0] for r in rows}


def _last_finished(dep: Deployment, service: str) -> float:
    with psycopg.connect(dep.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT finished FROM jobs WHERE service = %s ORDER BY created DESC LIMIT 1",
                           (service,)).fetchone()
    assert row is not None and row[0] is not None
    return row[0]


_ORDER = ["esriJobSubmitted", "esriJobWaiting", "esriJobExecuting", "esriJobSucceeded"]


def test_status_polls_on_the_other_server_follow_the_job_in_order_and_its_results_are_there_at_once(rabbit):
    """Server B answers a running job's status polls from memory (store/cache.py, ``peek``),
    kept right by the workers' notifications: every stage shows, the status never goes back,
    the end shows within moments, and the results are there the moment a poll says so."""
    a, b = clients(rabbit)
    job_id = submit(a, STAGES, count="4", pause="0.5")
    url = f"{STAGES}/jobs/{job_id}"
    statuses, texts, done_at = [], set(), None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = b.get(url, params={"f": "json"}).json()
        statuses.append(body["jobStatus"])
        texts.update(m["description"] for m in body["messages"])
        if body["jobStatus"] == "esriJobSucceeded":
            done_at = time.time()
            results = b.get(f"{url}/results/result", params={"f": "json"})    # decided afresh, never from memory
            assert results.status_code == 200 and results.json()["value"] == 4, results.text
            break
        time.sleep(0.02)
    assert done_at is not None, statuses[-5:]
    ranks = [_ORDER.index(s) for s in statuses]
    assert ranks == sorted(ranks), statuses          # never back, though two processes wrote it
    assert {f"Stage {n} of 4" for n in range(1, 5)} <= texts
    assert done_at - stored(rabbit, job_id).finished < 1.0


def test_a_status_poll_after_a_cancel_through_the_other_server_shows_it(rabbit):
    """B keeps the running job in memory for its polls; a cancel through A reaches B's memory
    with the cancel's own commit, so the polls that follow it show it."""
    a, b = clients(rabbit)
    for _ in range(3):
        job_id = submit(a, STAGES, count="40", pause="0.5")
        url = f"{STAGES}/jobs/{job_id}"
        deadline = time.monotonic() + 30
        while b.get(url, params={"f": "json"}).json()["jobStatus"] != "esriJobExecuting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        for _ in range(5):
            b.get(url, params={"f": "json"})            # polled: B answers from memory now
        assert a.post(f"{url}/cancel", data={"f": "json"}).status_code == 200
        # almost always the very next poll; under load B's listener may take its turn after the
        # request: still well before the 5 s an unfinished job is kept without a notification
        cancelled = time.monotonic()
        while (shown := b.get(url, params={"f": "json"}).json()["jobStatus"]) == "esriJobExecuting":
            assert time.monotonic() - cancelled < 1.0, "server B kept showing the cancelled job executing"
            time.sleep(0.01)
        assert shown in ("esriJobCancelling", "esriJobCancelled"), shown
