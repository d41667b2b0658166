"""The admin API's service jobs: query, read, cancel, delete, purgeQueue, statistics."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import pytest

from conftest import client_as, TOOLBOXES, Server, add_user
from .helpers import wait

CONFIG = """
[server]
workers = 2
purge_interval = 0.5

[[services]]
folder = "Ops"
name = "Jobs"
toolbox = "{toolbox}"
public = true
max_instances = 1

[[services]]
folder = "Ops"
name = "Brief"
toolbox = "{toolbox}"
public = true
retention = 1
"""
PASSWORDS = {"root": "root password", "alice": "alice password"}
GP = "/arcgis/rest/services/Ops/Jobs/GPServer"
ADMIN = "/arcgis/admin/services/Ops/Jobs.GPServer/jobs"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("admin"), demo=False)
    server.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    for name, role in (("root", "administrator"), ("alice", "user")):
        add_user(server.data_dir, name, role, PASSWORDS[name])
    server.start()
    yield server
    server.stop()


def client_for(srv, name: str | None) -> httpx.Client:
    return client_as(srv, name, PASSWORDS.get(name) if name else None)


@pytest.fixture(scope="module")
def root(srv):
    with client_for(srv, "root") as c:
        yield c


@pytest.fixture(scope="module")
def seeded(srv, root):
    """12 anonymous and 8 alice jobs (Noop), then 1 failed, all finished; returns ids newest first."""
    ids = []
    with client_for(srv, "alice") as alice:
        for i in range(20):
            who = alice if i % 5 in (1, 3) else root.__class__(base_url=srv.url, timeout=30)
            ids.append(who.post(f"{GP}/Noop/submitJob", data={"f": "json", "value": str(i)}).json()["jobId"])
            time.sleep(0.01)          # distinct creation times
        failed = alice.post(f"{GP}/Fail/submitJob", data={"f": "json"}).json()["jobId"]
        ids.append(failed)
        for job_id in ids:
            wait(alice if job_id == failed else root, f"{GP}/Noop" if job_id != failed else f"{GP}/Fail", job_id)
    return list(reversed(ids))


def query(c, **params) -> dict:
    return c.get(f"{ADMIN}/query", params={"f": "json", **params}).json()


def test_only_administrators_may_use_it(srv, root):
    with client_for(srv, None) as anonymous, client_for(srv, "alice") as alice:
        assert anonymous.get(f"{ADMIN}/query", params={"f": "json"}).json()["code"] == 499
        refused = alice.get(f"{ADMIN}/query", params={"f": "json"}).json()
        assert refused["status"] == "error" and refused["code"] == 403
    assert "total" in query(root)


def test_query_pages_newest_first(root, seeded):
    first = query(root, number=8)
    assert first["total"] == len(seeded) and first["num"] == 8 and first["start"] == 1 and first["nextStart"] == 9
    assert list(first["results"]) == seeded[:8]
    second = query(root, number=8, start=9)
    third = query(root, number=8, start=17)
    assert list(second["results"]) == seeded[8:16]
    assert list(third["results"]) == seeded[16:] and third["nextStart"] == -1
    assert first["results"][seeded[0]] == "Failed" and first["results"][seeded[1]] == "Succeeded"


def test_query_filters_by_status_user_and_time(root, seeded):
    failed = query(root, jobStatus="esriJobFailed")
    assert list(failed["results"]) == [seeded[0]] and failed["query"]["status"] == ["esriJobFailed"]
    assert query(root, status="esriJobSucceeded")["total"] == len(seeded) - 1     # arcgis sends status=
    alices = query(root, userName="alice", number=100)
    assert alices["total"] == 9 and alices["query"]["userName"] == "alice"
    record = root.get(f"{ADMIN}/{seeded[5]}", params={"f": "json"}).json()
    t = record["submittedTime"] / 1000
    iso = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    for start in (str(t), str(int(t * 1000))):            # seconds, and milliseconds as arcgis sends
        later = query(root, startTime=start, number=100)
        assert seeded[5] in later["results"] and set(later["results"]) <= set(seeded[:7])
    whole_second = query(root, startTime=iso, number=100)    # the ISO form has no fraction: from t's second
    assert seeded[5] in whole_second["results"]
    assert whole_second["query"]["startTime"] == int(t) * 1000
    earlier = query(root, endTime=str(t - 0.0001), number=100)
    assert seeded[5] not in earlier["results"] and seeded[6] in earlier["results"]


@pytest.mark.parametrize("params,problem", [
    ({"startTime": "yesterday"}, "startTime"), ({"endTime": "2024-13-45T00:00:00"}, "endTime"),
    ({"jobStatus": "esriJobExploded"}, "Unknown jobStatus"), ({"number": "-1"}, "number"),
    ({"number": "ten"}, "number"), ({"start": "0"}, "start"),
])
def test_bad_query_values_get_clear_errors(root, params, problem):
    body = query(root, **params)
    assert body["status"] == "error" and body["code"] == 400
    assert problem in " ".join(body["messages"])


def test_one_jobs_full_record(root, seeded):
    record = root.get(f"{ADMIN}/{seeded[0]}", params={"f": "json"}).json()
    assert record["jobID"] == seeded[0] and record["status"] == "esriJobFailed" and record["username"] == "alice"
    assert record["endTime"] >= record["startTime"] >= record["submittedTime"]
    assert record["expires"] > record["endTime"]
    assert record["url"].endswith(f"/Ops/Jobs/GPServer/Fail/jobs/{seeded[0]}")
    assert any("Failed to execute" in m["description"] for m in record["messages"])
    missing = root.get(f"{ADMIN}/jnope", params={"f": "json"}).json()
    assert missing["status"] == "error" and missing["code"] == 404


def test_delete_one_and_many_with_their_files(srv, root):
    ids = [root.post(f"{GP}/WriteFile/submitJob", data={"f": "json"}).json()["jobId"] for _ in range(3)]
    for job_id in ids:
        wait(root, f"{GP}/WriteFile", job_id)
    folders = [srv.data_dir / "arcgisjobs" / "ops" / "jobs_gpserver" / j for j in ids]
    assert all(f.is_dir() for f in folders)
    assert root.post(f"{ADMIN}/{ids[0]}/delete", data={"f": "json"}).json() == {"status": "success"}
    assert root.post(f"{ADMIN}/delete", data={"f": "json", "jobIds": ",".join(ids[1:])}).json()["deleted"] == ids[1:]
    assert not any(f.exists() for f in folders)
    for job_id in ids:
        assert root.get(f"{ADMIN}/{job_id}", params={"f": "json"}).json()["code"] == 404


def test_purge_queue_cancels_what_has_not_started_and_delete_stops_a_running_job(root):
    running = root.post(f"{GP}/Sleep/submitJob", data={"f": "json", "seconds": "20"}).json()["jobId"]
    wait(root, f"{GP}/Sleep", running, until={"esriJobExecuting"})
    queued = [root.post(f"{GP}/Noop/submitJob", data={"f": "json"}).json()["jobId"] for _ in range(3)]
    assert root.post(f"{ADMIN}/purgeQueue", data={"f": "json"}).json() == {"status": "success", "cancelled": 3}
    for job_id in queued:
        assert root.get(f"{GP}/Noop/jobs/{job_id}", params={"f": "json"}).json()["jobStatus"] == "esriJobCancelled"
    assert root.get(f"{GP}/Sleep/jobs/{running}", params={"f": "json"}).json()["jobStatus"] == "esriJobExecuting"
    assert root.post(f"{ADMIN}/{running}/delete", data={"f": "json"}).json() == {"status": "success"}
    assert root.get(f"{ADMIN}/{running}", params={"f": "json"}).json()["code"] == 404


def test_statistics(root, seeded):
    stats = root.post(f"{ADMIN}/statistics", data={"f": "json"}).json()
    assert stats["failed"] >= 1 and stats["succeeded"] >= len(seeded) - 1
    assert stats["total"] >= stats["failed"] + stats["succeeded"] + stats["cancelled"]


def test_finished_jobs_and_their_files_go_when_their_retention_ends(srv, root):
    brief = "/arcgis/rest/services/Ops/Brief/GPServer/WriteFile"
    job_id = root.post(f"{brief}/submitJob", data={"f": "json"}).json()["jobId"]
    assert wait(root, brief, job_id)["jobStatus"] == "esriJobSucceeded"
    record = root.get(f"/arcgis/admin/services/Ops/Brief.GPServer/jobs/{job_id}", params={"f": "json"}).json()
    assert record["expires"] == pytest.approx(record["endTime"] + 1000, abs=5)
    folder = srv.data_dir / "arcgisjobs" / "ops" / "brief_gpserver" / job_id
    assert folder.is_dir()
    deadline = time.monotonic() + 10
    while root.get(f"{brief}/jobs/{job_id}", params={"f": "json"}).json().get("jobStatus"):
        assert time.monotonic() < deadline, "the job outlived its retention"
        time.sleep(0.2)
    assert not folder.exists()
