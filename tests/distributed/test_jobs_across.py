"""Jobs on Celery workers behind two API servers: results, cancel and timeouts across processes."""
from __future__ import annotations

import time

import httpx

from api.helpers import job, result, submit, wait

from .helpers import alive, clients, pid_of, stored

JOBS = "/Dist/Jobs/GPServer"


def test_jobs_run_on_workers_and_results_come_back_through_either_server(rabbit):
    a, b = clients(rabbit)
    ids = [submit(c, f"{JOBS}/Add", a=str(i), b="100") for i, c in enumerate([a, b, a, b])]
    for i, job_id in enumerate(ids):
        assert wait(b if i % 2 == 0 else a, f"{JOBS}/Add", job_id)["jobStatus"] == "esriJobSucceeded"
        assert result(a, f"{JOBS}/Add", job_id, "result")["value"] == i + 100
        assert stored(rabbit, job_id).attempts == 1
    r = b.post("/Dist/Sync/GPServer/Add/execute", data={"f": "json", "a": "1", "b": "2"})
    assert r.json()["results"][0]["value"] == 3


def test_a_job_submitted_on_one_server_is_seen_and_cancelled_on_the_other(rabbit):
    a, b = clients(rabbit)
    job_id = submit(a, f"{JOBS}/Sleep", seconds="60")
    assert job(b, f"{JOBS}/Sleep", job_id)["jobStatus"] in {"esriJobSubmitted", "esriJobExecuting"}
    wait(b, f"{JOBS}/Sleep", job_id, until={"esriJobExecuting"})
    started = time.monotonic()
    b.post(f"{JOBS}/Sleep/jobs/{job_id}/cancel", data={"f": "json"})
    body = wait(a, f"{JOBS}/Sleep", job_id, timeout=10)
    assert body["jobStatus"] == "esriJobCancelled"
    assert time.monotonic() - started < 3
    # a queued job cancelled on the other server never runs
    queued = [submit(a, "/Dist/One/GPServer/Sleep", seconds="2") for _ in range(2)]
    b.post(f"/Dist/One/GPServer/Sleep/jobs/{queued[1]}/cancel", data={"f": "json"})
    assert wait(a, "/Dist/One/GPServer/Sleep", queued[1])["jobStatus"] == "esriJobCancelled"
    assert wait(b, "/Dist/One/GPServer/Sleep", queued[0])["jobStatus"] == "esriJobSucceeded"
    assert stored(rabbit, queued[1]).started is None


def test_cancel_stops_a_tool_that_ignores_it_on_a_remote_worker(rabbit):
    a, b = clients(rabbit)
    job_id = submit(a, f"{JOBS}/Pid", seconds="60")
    pid = pid_of(a, f"{JOBS}/Pid", job_id)
    assert rabbit.worker_of(pid) is not None
    started = time.monotonic()
    b.post(f"{JOBS}/Pid/jobs/{job_id}/cancel", data={"f": "json"})
    body = wait(b, f"{JOBS}/Pid", job_id, timeout=10)
    assert body["jobStatus"] == "esriJobCancelled"
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 2
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the pool process running the cancelled job is still there"
    after = submit(b, f"{JOBS}/Add", a="1")         # the worker replaced its pool process
    assert wait(a, f"{JOBS}/Add", after)["jobStatus"] == "esriJobSucceeded"


def test_max_usage_time_holds_on_workers(rabbit):
    a, b = clients(rabbit)
    job_id = submit(a, "/Dist/Timed/GPServer/Stubborn", seconds="60")
    body = wait(b, "/Dist/Timed/GPServer/Stubborn", job_id, timeout=15)
    assert body["jobStatus"] == "esriJobTimedOut"
    run = stored(rabbit, job_id)
    assert 3 <= run.finished - run.started < 5
    assert any("maximum usage time" in m["description"] for m in body["messages"])


def test_admin_jobs_query_on_postgresql(rabbit):
    """The admin query's exact total comes from PostgreSQL's count tables (sum() is numeric
    there: it once reached the JSON encoder as a Decimal and answered HTTP 500)."""
    a, b = clients(rabbit)
    ids = [submit(a, f"{JOBS}/Add", a=str(i), b="1") for i in range(3)]
    for job_id in ids:
        wait(b, f"{JOBS}/Add", job_id)
    token = httpx.post(f"{rabbit.urls[1]}/arcgis/tokens/generateToken", data={
        "username": "admin", "password": "admin-password-1", "client": "requestip", "f": "json"}).json()["token"]
    r = httpx.get(f"{rabbit.urls[1]}/arcgis/admin/services/Dist/Jobs.GPServer/jobs/query",
                  params={"f": "json", "number": 1000, "token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["total"], int) and body["total"] >= 3
    assert set(ids) <= set(body["results"])


def test_a_finished_job_dismissed_through_one_server_is_gone_on_the_other_at_once(rabbit):
    """Server B answers finished jobs from memory (store/cache.py); a deletion made through A
    reaches it by NOTIFY within moments: B never keeps answering the old job."""
    a, b = clients(rabbit)
    job_id = submit(a, f"{JOBS}/Add", a="1", b="2")
    assert wait(b, f"{JOBS}/Add", job_id)["jobStatus"] == "esriJobSucceeded"
    before = job(b, f"{JOBS}/Add", job_id)      # B keeps it now
    assert job(b, f"{JOBS}/Add", job_id) == before
    r = httpx.delete(f"{rabbit.urls[0]}/ogcapi/jobs/{job_id}", timeout=30)
    assert r.status_code == 200, r.text

    def gone() -> bool:
        r = b.get(f"{JOBS}/Add/jobs/{job_id}", params={"f": "json"})
        return r.status_code != 200 or "error" in r.json()

    started = time.monotonic()
    while not gone():
        assert time.monotonic() - started < 1, "server B still answers a job dismissed through A"
        time.sleep(0.01)
