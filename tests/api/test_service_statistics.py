"""A GP service's ``statistics`` over HTTP (``/arcgis/admin/services/<svc>.GPServer/statistics``):
jobs running and waiting now, the service's instances, and the jobs that ended with their run
time, equal to what was run."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterator

import httpx
import pytest

from conftest import SCALEOUT, Server, client_as
from .helpers import PASSWORDS, started_with_users, submit, wait

ADMIN = "/arcgis/admin/services"
GP = "/arcgis/rest/services/Test/Jobs/GPServer"


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = started_with_users(tmp_path_factory.mktemp("statistics"), demo=False, workers=3)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv) -> Iterator[httpx.Client]:
    with client_as(srv, "root", PASSWORDS["root"]) as c:
        yield c


def statistics(c: httpx.Client, key: str) -> dict[str, Any]:
    body = c.get(f"{ADMIN}/{key}.GPServer/statistics", params={"f": "json"}).json()
    assert "summary" in body, body
    return body["summary"]


def test_statistics_count_the_jobs_running_waiting_and_ended(srv, root):
    before = statistics(root, "Test/Jobs")
    assert before["busy"] == before["waiting"] == before["transactions"] == before["totalBusyTime"] == 0
    assert before["max"] == 2 and (before["folderName"], before["serviceName"], before["type"]) == (
        "Test", "Jobs", "GPServer")
    # long enough to be seen running (the service's 3 s maxUsageTime, raised through admin edit)
    edited = root.post(f"{ADMIN}/Test/Jobs.GPServer/edit", data={"f": "json", "service": json.dumps(
        {"maxUsageTime": 60})}).json()
    assert edited.get("status") == "success", edited
    done = [submit(root, f"{GP}/Sleep", seconds="0.4"), submit(root, f"{GP}/Fail")]
    for job in done:
        wait(root, f"{GP}/{'Sleep' if job == done[0] else 'Fail'}", job)
    long = [submit(root, f"{GP}/Sleep", seconds="60") for _ in range(3)]
    for job in long[:2]:
        wait(root, f"{GP}/Sleep", job, until={"esriJobExecuting"})
    try:
        now = statistics(root, "Test/Jobs")
        assert (now["busy"], now["waiting"], now["max"], now["transactions"]) == (2, 1, 2, 2)
        assert now["isStatisticsAvailable"] is True and now["startTime"] > 0
        if not SCALEOUT:        # exactly the run time of the two that ended, from the store
            with sqlite3.connect(srv.data_dir / "opengp.db") as db:
                ran = sum(f - s for f, s in db.execute(
                    f"SELECT finished, started FROM jobs WHERE id IN ('{done[0]}', '{done[1]}')"))
            assert now["totalBusyTime"] == round(ran * 1000)
        assert 400 <= now["totalBusyTime"] < 5000
    finally:
        for job in long:
            root.post(f"{GP}/Sleep/jobs/{job}/cancel", data={"f": "json"})
        for job in long:
            wait(root, f"{GP}/Sleep", job)
    after = statistics(root, "Test/Jobs")
    assert (after["busy"], after["waiting"], after["transactions"]) == (0, 0, 5)    # cancelled jobs ended too


def test_without_a_service_limit_max_is_the_worker_pool(root):
    """Retry has no max_instances: locally its jobs are limited by the 3 workers; on a scale-out
    deployment the Celery workers' number is not known to the API server, and max is left out."""
    assert statistics(root, "Retry").get("max") == (None if SCALEOUT else 3)


def test_who_may_read_statistics(srv, root):
    with client_as(srv, "pat", PASSWORDS["pat"]) as pat:     # a publisher, not of this service
        denied = pat.get(f"{ADMIN}/Test/Jobs.GPServer/statistics", params={"f": "json"}).json()
    assert denied["status"] == "error" and denied["code"] == 403
    missing = root.get(f"{ADMIN}/Test/Nope.GPServer/statistics", params={"f": "json"}).json()
    assert missing["status"] == "error" and missing["code"] == 404
    anonymous = httpx.get(f"{srv.url}{ADMIN}/Test/Jobs.GPServer/statistics", params={"f": "json"}).json()
    assert anonymous["code"] == 499
