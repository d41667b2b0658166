"""The server log over HTTP: records kept in the store from the server and its workers, read
through the admin API's ``logs/query`` as ArcGIS shapes it (level, time range, service, job
id, pages), bounded by its row cap; JSON lines on stderr naming the job and the request; the
``X-Request-Id`` of every answer."""
from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any, Iterator

import httpx
import pytest

from conftest import Server, add_user, client_as
from .helpers import submit, wait

GP = "/arcgis/rest/services/Test/Jobs/GPServer"
LOGS = "/arcgis/admin/logs"
PASSWORD = "root password"


def _server(tmp: Any, settings: str) -> Server:
    server = Server(tmp, demo=False)
    server.config.write_text(server.config.read_text().replace("[server]\n", "[server]\n" + settings, 1))
    add_user(server.data_dir, "root", "administrator", PASSWORD)
    add_user(server.data_dir, "pub", "publisher", PASSWORD)
    return server.start()


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = _server(tmp_path_factory.mktemp("logs"), 'log_store_level = "INFO"\n')
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(srv) -> Iterator[httpx.Client]:
    with client_as(srv, "root", PASSWORD) as c:
        yield c


def query(admin: httpx.Client, **params: Any) -> dict[str, Any]:
    r = admin.get(f"{LOGS}/query", params={"f": "json", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "logMessages" in body, body
    return body


def of_jobs(admin: httpx.Client, *job_ids: str, n: int, timeout: float = 20, **params: Any) -> list[dict[str, Any]]:
    """The records of these jobs once there are ``n`` (records reach the store within a second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = query(admin, filter=json.dumps({"jobIds": list(job_ids)}), level="DEBUG", **params)["logMessages"]
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def run(client: httpx.Client, task: str, request_id: str | None = None, **params: Any) -> str:
    headers = {"X-Request-Id": request_id} if request_id else {}
    r = client.post(f"{GP}/{task}/submitJob", data={"f": "json", **params}, headers=headers)
    assert r.status_code == 200, r.text
    if request_id:
        assert r.headers["x-request-id"] == request_id
    job_id = r.json()["jobId"]
    wait(client, GP, job_id)
    return job_id


def test_a_failed_jobs_error_is_logged_with_its_job_and_the_request_that_submitted_it(srv, admin):
    request_id = f"test-{secrets.token_hex(6)}"
    with httpx.Client(base_url=srv.url, timeout=30) as anon:
        job_id = run(anon, "Fail", request_id, message="no such river")
    [line] = [m for m in of_jobs(admin, job_id, n=1) if m["type"] == "SEVERE"]
    assert "no such river" in line["message"]
    assert (line["jobID"], line["requestID"], line["source"]) == (job_id, request_id, "Test/Jobs.GPServer")
    assert line["machine"] and line["process"] and isinstance(line["time"], int)
    # by service (as ArcGIS names it, or by its key) and by job id
    for service in ("Test/Jobs.GPServer", "Test/Jobs"):
        found = query(admin, filter=json.dumps({"services": [service]}), level="SEVERE", pageSize=10000)
        assert job_id in {m["jobID"] for m in found["logMessages"]}
    elsewhere = query(admin, filter=json.dumps({"services": ["Test/Sync.GPServer"]}), level="DEBUG")
    assert job_id not in {m["jobID"] for m in elsewhere["logMessages"]}
    by_id = query(admin, jobId=job_id, level="SEVERE")["logMessages"]
    assert [m["jobID"] for m in by_id] == [job_id]
    by_request = query(admin, filter=json.dumps({"requestIds": [request_id]}), level="DEBUG")["logMessages"]
    assert {m["jobID"] for m in by_request} == {job_id}


def test_a_query_answers_records_at_its_level_and_above(srv, admin):
    with httpx.Client(base_url=srv.url, timeout=30) as anon:
        quiet = run(anon, "LogLines", message="quiet", level="info")
        loud = run(anon, "LogLines", message="loud", level="warning")
    assert {m["type"] for m in of_jobs(admin, quiet, loud, n=2)} == {"INFO", "WARNING"}
    assert [m["message"] for m in query(admin, jobId=quiet)["logMessages"]] == []      # WARNING by default
    assert [m["message"] for m in query(admin, jobId=loud)["logMessages"]] == ["loud 0"]
    assert [m["message"] for m in query(admin, jobId=quiet, level="info")["logMessages"]] == ["quiet 0"]
    assert query(admin, jobId=loud, level="SEVERE")["logMessages"] == []


def test_a_query_answers_its_time_range_newest_first(srv, admin):
    with httpx.Client(base_url=srv.url, timeout=30) as anon:
        first = run(anon, "LogLines", message="first")
        time.sleep(0.05)
        second = run(anon, "LogLines", message="second")
    records = of_jobs(admin, first, second, n=2)
    assert [m["message"] for m in records] == ["second 0", "first 0"]
    t_first, t_second = records[1]["time"], records[0]["time"]
    assert t_first < t_second
    ids = json.dumps({"jobIds": [first, second]})
    # ArcGIS's order: startTime is the most recent time, endTime the oldest (both included)
    assert [m["message"] for m in query(admin, filter=ids, startTime=t_first)["logMessages"]] == ["first 0"]
    assert [m["message"] for m in query(admin, filter=ids, endTime=t_second)["logMessages"]] == ["second 0"]
    both = query(admin, filter=ids, startTime=t_second, endTime=t_first)
    assert len(both["logMessages"]) == 2 and both["startTime"] == t_second and not both["hasMore"]
    assert query(admin, filter=ids, startTime=t_first - 1)["logMessages"] == []


def test_pages_follow_has_more_from_end_time_to_start_time_without_repeats(srv, admin):
    with httpx.Client(base_url=srv.url, timeout=30) as anon:
        job_id = run(anon, "LogLines", message="line", count=5, pause=0.005)
    assert len(of_jobs(admin, job_id, n=5)) == 5
    pages, start = [], None
    while True:
        page = query(admin, jobId=job_id, pageSize=2, **({"startTime": start} if start else {}))
        pages.append(page)
        if not page["hasMore"]:
            break
        start = page["endTime"]
        assert len(pages) < 10
    assert [len(p["logMessages"]) for p in pages] == [2, 2, 1]
    assert [m["message"] for p in pages for m in p["logMessages"]] == [f"line {i}" for i in (4, 3, 2, 1, 0)]


def test_the_request_id_is_echoed_made_when_missing_and_replaced_when_not_sane(srv):
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        assert c.get("/arcgis/rest/info?f=json", headers={"X-Request-Id": "abc-123.x:y"}).headers[
            "x-request-id"] == "abc-123.x:y"
        made = c.get("/arcgis/rest/info?f=json").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        assert c.get("/arcgis/rest/info?f=json").headers["x-request-id"] != made
        for insane in ("two words", "x" * 65, "<script>"):
            replaced = c.get("/arcgis/rest/info?f=json", headers={"X-Request-Id": insane}).headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{32}", replaced)
        # the status fast path and errors carry it too
        job_id = submit(c, f"{GP}/Noop")
        assert c.get(f"{GP}/jobs/{job_id}?f=json", headers={"X-Request-Id": "poll-1"}).headers[
            "x-request-id"] == "poll-1"
        assert c.get("/no/such/page", headers={"X-Request-Id": "lost-1"}).headers["x-request-id"] == "lost-1"


@pytest.mark.parametrize("params", [
    {"level": "LOUD"}, {"startTime": "yesterday"}, {"endTime": "1e400"}, {"pageSize": "0"}, {"pageSize": "many"},
    {"pageSize": "10001"}, {"filter": "{not json"}, {"filter": "[1, 2]"}, {"filter": '{"service": ["Test/Jobs"]}'},
    {"filter": '{"services": [{"a": 1}]}'}, {"filter": '{"processIds": ["one"]}'}, {"filterType": "xml"},
    {"startTime": "1000000000000", "endTime": "2000000000000"}, {"sinceServerStart": "maybe"},
    # a process number no column holds (once a 500: too large for SQLite, or PostgreSQL's integer)
    {"filter": json.dumps({"processIds": [str(10**30)]})}, {"filter": json.dumps({"processIds": [2**31]})},
    {"filter": json.dumps({"processIds": [-1]})},
    # a NUL no text column holds (PostgreSQL's driver refuses the parameter)
    {"filter": json.dumps({"jobIds": ["j\x00"]})}, {"filter": json.dumps({"requestIds": ["r\x00"]})},
    {"filter": json.dumps({"services": ["Test/Jobs\x00"]})}, {"filter": json.dumps({"machines": ["m\x00"]})},
    {"jobId": "j\x00"},
])
def test_bad_parameters_answer_in_the_admin_error_format(admin, params):
    r = admin.get(f"{LOGS}/query", params={"f": "json", **params})
    assert r.status_code != 500
    body = r.json()
    assert body["status"] == "error" and body["code"] == 400 and body["messages"], body


def test_only_administrators_read_the_logs(srv):
    with client_as(srv, None) as anon, client_as(srv, "pub", PASSWORD) as pub:
        assert anon.get(f"{LOGS}/query?f=json").json()["code"] == 499
        for path in ("", "/query", "/settings"):
            body = pub.get(f"{LOGS}{path}?f=json").json()
            assert (body["status"], body["code"]) == ("error", 403), body


def test_settings_say_what_is_kept_and_are_the_configurations(admin):
    assert "query" in admin.get(f"{LOGS}?f=json").json()["operations"]
    settings = admin.get(f"{LOGS}/settings?f=json").json()["settings"]
    assert (settings["logLevel"], settings["maxLogFileAge"], settings["maxLogRecords"]) == ("INFO", 90, 100_000)
    refused = admin.post(f"{LOGS}/settings/edit", data={"f": "json", "logLevel": "DEBUG"}).json()
    assert refused["status"] == "error" and "log_store_level" in " ".join(refused["messages"])


# -- a server of their own: JSON lines, a small row cap ----------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Iterator[Server]:
    server = _server(tmp_path_factory.mktemp("logs-small"),
                     'log_format = "json"\nlog_store_rows = 5\npurge_interval = 0.5\n')
    yield server
    server.stop()


@pytest.mark.local_only     # the server's (and its local workers') own stderr
def test_json_lines_on_stderr_carry_the_job_and_request_ids(small):
    request_id = f"json-{secrets.token_hex(6)}"
    with httpx.Client(base_url=small.url, timeout=30) as anon:
        job_id = run(anon, "Fail", request_id, message="json please")
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in small.log.read_text().splitlines() if line.startswith("{")]
        about = [line for line in lines if job_id in line["message"]]
        if about or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert about, lines
    for line in about:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert (line["job_id"], line["request_id"]) == (job_id, request_id), line
    assert any(line["level"] == "ERROR" and "json please" in line["message"] for line in about)


def test_the_row_cap_trims_the_oldest_lines(small):
    with httpx.Client(base_url=small.url, timeout=30) as anon, client_as(small, "root", PASSWORD) as admin:
        job_id = run(anon, "LogLines", message="capped", count=12, pause=0.002)
        deadline = time.monotonic() + 15
        while True:
            found = query(admin, level="DEBUG")["logMessages"]
            mine = [m["message"] for m in found if m["jobID"] == job_id]
            if (len(found) <= 5 and mine and mine[0] == "capped 11") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(found) <= 5, found
    assert mine[0] == "capped 11" and "capped 0" not in mine
