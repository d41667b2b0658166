"""Asynchronous jobs over HTTP: submit, poll, results, inputs, messages, progress, cancel."""
from __future__ import annotations

import time

import pytest

from .helpers import TERMINAL, error_of, job, result, submit, wait

JOBS = "/Test/Jobs/GPServer"


def test_submit_poll_and_fetch_results(client):
    job_id = submit(client, f"{JOBS}/Add", a="40", b="2")
    assert job_id.startswith("j") and len(job_id) == 33
    body = wait(client, f"{JOBS}/Add", job_id)
    assert body["jobStatus"] == "esriJobSucceeded"
    assert body["results"] == {"result": {"paramUrl": "results/result"}}
    assert body["inputs"] == {"a": {"paramUrl": "inputs/a"}, "b": {"paramUrl": "inputs/b"}}
    assert result(client, f"{JOBS}/Add", job_id, "result") == {
        "paramName": "result", "dataType": "GPLong", "value": 42}
    echoed = client.get(f"{JOBS}/Add/jobs/{job_id}/inputs/a", params={"f": "json"}).json()
    assert echoed == {"paramName": "a", "dataType": "GPLong", "value": 40}


def test_submit_by_get_with_query_string_as_restapi_does(client):
    r = client.get(f"{JOBS}/Add/submitJob", params={
        "a": "1", "b": "", "env:outSR": "", "env:processSR": "", "returnZ": "False",
        "returnM": "False", "f": "json"})
    job_id = r.json()["jobId"]
    wait(client, f"{JOBS}/Add", job_id)
    assert result(client, f"{JOBS}/Add", job_id, "result")["value"] == 3  # b="" -> default 2


def test_service_level_job_url_and_list_forms(client):
    job_id = submit(client, f"{JOBS}/Stats", values="[1.5, 2.5, 4]", label="sum")
    wait(client, f"{JOBS}/Stats", job_id)
    body = client.get(f"{JOBS}/jobs/{job_id}", params={"f": "json"}).json()
    assert body["jobStatus"] == "esriJobSucceeded"
    listed = client.get(f"{JOBS}/jobs/{job_id}/results", params={"f": "json"}).json()
    assert {r["paramName"]: r["value"] for r in listed} == {"total": 8.0, "count": 3, "title": "Sum"}


def test_inputs_name_every_parameter_and_each_answers_even_when_left_unset(client):
    """ArcGIS's job resource has an ``inputs`` entry for every input parameter of the task, and
    each ``inputs/<name>`` answers with the value the job ran with: an optional one the caller
    left unset is its default, or null.  (The demo's Echo has two optional inputs without a
    default: ``when`` and ``tags``.)"""
    echo = "/Demo/Tools/GPServer/Echo"
    job_id = submit(client, echo, text="hi")
    polled = wait(client, echo, job_id)                                       # GET: the fast path
    posted = client.post(f"{echo}/jobs/{job_id}", data={"f": "json"}).json()  # the route
    task = client.get(echo, params={"f": "json"}).json()
    names = [p["name"] for p in task["parameters"] if p["direction"] == "esriGPParameterDirectionInput"]
    assert names == ["text", "number", "count", "flag", "when", "tags"]
    for body in (polled, posted):
        assert body["inputs"] == {name: {"paramUrl": f"inputs/{name}"} for name in names}
    each = {name: client.get(f"{echo}/jobs/{job_id}/{polled['inputs'][name]['paramUrl']}",
                             params={"f": "json"}).json() for name in names}
    assert each["text"] == {"paramName": "text", "dataType": "GPString", "value": "hi"}
    assert [each[name]["value"] for name in ("number", "count", "flag")] == [1.5, 1, False]     # the defaults
    assert each["when"] == {"paramName": "when", "dataType": "GPDate", "value": None}
    assert each["tags"]["paramName"] == "tags" and each["tags"]["value"] is None
    listed = client.get(f"{echo}/jobs/{job_id}/inputs", params={"f": "json"}).json()
    assert listed == [each[name] for name in names]
    for other in ("out_text", "nothing"):       # an output, or no parameter at all: not an input
        assert error_of(client.get(f"{echo}/jobs/{job_id}/inputs/{other}", params={"f": "json"}))["code"] == 404
    page = client.get(f"{echo}/jobs/{job_id}", params={"f": "html"}).text
    assert all(f'<th scope="row">{name}</th>' in page for name in names)


def test_job_of_another_task_is_not_found(client):
    job_id = submit(client, f"{JOBS}/Noop")
    assert error_of(client.get(f"{JOBS}/Add/jobs/{job_id}", params={"f": "json"}))["code"] == 404


def test_messages_honour_return_messages(client):
    job_id = submit(client, f"{JOBS}/Noop", value="v")
    body = wait(client, f"{JOBS}/Noop", job_id)
    texts = [m["description"] for m in body["messages"]]
    assert texts[0] == "Submitted."
    assert any(t.startswith("Succeeded at") for t in texts)
    assert all(m["type"] == "esriJobMessageTypeInformative" for m in body["messages"])
    quiet = job(client, f"{JOBS}/Noop", job_id, returnMessages="False")
    assert "messages" not in quiet


@pytest.mark.parametrize("value, shown", [("on", True), ("junk", True), ("", True), ("TRUE", True),
                                           ("false", False), ("off", False), ("0", False), ("No", False)])
def test_return_messages_reads_alike_on_the_fast_path_and_the_route(client, value, shown):
    """A GET status poll is answered by the fast path, a POST by the route; they parsed
    returnMessages each their own way (``on`` and ``junk``: messages on one, none on the other)."""
    job_id = submit(client, f"{JOBS}/Noop", value="v")
    wait(client, f"{JOBS}/Noop", job_id)
    params = {"f": "json", "returnMessages": value}
    fast = client.get(f"{JOBS}/Noop/jobs/{job_id}", params=params).json()
    route = client.post(f"{JOBS}/Noop/jobs/{job_id}", data=params).json()
    assert ("messages" in fast) == ("messages" in route) == shown, (fast, route)


def test_failed_job_reports_the_tools_error(client):
    job_id = submit(client, f"{JOBS}/Fail", message="no data in the area of interest")
    body = wait(client, f"{JOBS}/Fail", job_id)
    assert body["jobStatus"] == "esriJobFailed"
    assert "results" not in body
    errors = [m["description"] for m in body["messages"] if m["type"] == "esriJobMessageTypeError"]
    assert "no data in the area of interest" in errors
    warnings = [m["description"] for m in body["messages"] if m["type"] == "esriJobMessageTypeWarning"]
    assert "about to fail" in warnings
    err = error_of(client.get(f"{JOBS}/Fail/jobs/{job_id}/results/result", params={"f": "json"}))
    assert err["code"] == 400


def test_progress_and_stage_visible_while_executing(client):
    job_id = submit(client, f"{JOBS}/Sleep", seconds="1.5")
    body = wait(client, f"{JOBS}/Sleep", job_id, until={"esriJobExecuting"})
    deadline = time.monotonic() + 3
    while "percent" not in body.get("progress", {}) and time.monotonic() < deadline:
        body = job(client, f"{JOBS}/Sleep", job_id)
    assert 0 <= body["progress"]["percent"] <= 100
    assert body["progress"]["message"] == "Sleeping"
    done = wait(client, f"{JOBS}/Sleep", job_id)
    assert "progress" not in done and done["jobStatus"] == "esriJobSucceeded"


def test_chatty_tool_is_coalesced_and_loses_nothing_at_the_end(client):
    job_id = submit(client, f"{JOBS}/Chatty", n="3000")
    body = wait(client, f"{JOBS}/Chatty", job_id)
    assert body["jobStatus"] == "esriJobSucceeded"
    steps = [m for m in body["messages"] if m["description"].startswith("step ")]
    assert len(steps) == 30


def test_cancel_a_tool_that_never_checks_stops_within_a_second(client):
    job_id = submit(client, f"{JOBS}/Stubborn", seconds="60")
    wait(client, f"{JOBS}/Stubborn", job_id, until={"esriJobExecuting"})
    t0 = time.monotonic()
    r = client.post(f"{JOBS}/Stubborn/jobs/{job_id}/cancel", data={"f": "json"}).json()
    assert r["jobId"] == job_id and r["jobStatus"] in {"esriJobCancelling", "esriJobCancelled"}
    body = wait(client, f"{JOBS}/Stubborn", job_id, timeout=5)
    assert body["jobStatus"] == "esriJobCancelled"
    assert time.monotonic() - t0 < 1.0
    # the killed worker was replaced: the service still runs jobs
    again = submit(client, f"{JOBS}/Noop")
    assert wait(client, f"{JOBS}/Noop", again)["jobStatus"] == "esriJobSucceeded"


def test_cancel_a_cooperative_tool_lets_it_stop_itself(client):
    job_id = submit(client, f"{JOBS}/Sleep", seconds="30")
    wait(client, f"{JOBS}/Sleep", job_id, until={"esriJobExecuting"})
    client.get(f"{JOBS}/Sleep/jobs/{job_id}/cancel", params={"f": "json"})
    body = wait(client, f"{JOBS}/Sleep", job_id, timeout=5)
    assert body["jobStatus"] == "esriJobCancelled"
    assert any("Cancel" in m["description"] for m in body["messages"])


def test_cancel_a_finished_job_changes_nothing(client):
    job_id = submit(client, f"{JOBS}/Noop")
    wait(client, f"{JOBS}/Noop", job_id)
    r = client.post(f"{JOBS}/Noop/jobs/{job_id}/cancel", data={"f": "json"}).json()
    assert r["jobStatus"] == "esriJobSucceeded"


def test_job_past_max_usage_time_is_timed_out(client):
    job_id = submit(client, f"{JOBS}/Stubborn", seconds="60")  # the service allows 3 s
    t0 = time.monotonic()
    body = wait(client, f"{JOBS}/Stubborn", job_id, timeout=15)
    assert body["jobStatus"] == "esriJobTimedOut"
    assert 2.5 < time.monotonic() - t0 < 6
    assert any("maximum usage time" in m["description"] for m in body["messages"])


def test_max_instances_holds_jobs_waiting_first_in_first_out(client):
    # Test/Jobs allows 2 at once; the server has 3 workers.
    # (on the scale-out deployment a worker marks held jobs waiting when their doorbell reaches it:
    # the states may take a moment to settle, so the jobs run long enough to look more than once)
    ids = [submit(client, f"{JOBS}/Sleep", seconds="1.5") for _ in range(5)]
    settled = ["esriJobExecuting"] * 2 + ["esriJobWaiting"] * 3
    deadline = time.monotonic() + 10      # the state holds for 1.5 s once reached; reaching it may be slow
    while True:
        statuses = [job(client, f"{JOBS}/Sleep", i)["jobStatus"] for i in ids]
        if statuses == settled or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert statuses[:2] == ["esriJobExecuting"] * 2, statuses
    assert statuses[2:] == ["esriJobWaiting"] * 3, statuses
    order: list[str] = []
    deadline = time.monotonic() + 15
    while len(order) < 5 and time.monotonic() < deadline:
        # newest first within a look: jobs 1 and 2 end together, so 3 and 4 start together; read
        # oldest first, 3 could be read just before and 4 just after.  Read newest first, a job
        # seen started means every older one has started too, unless one overtook it.
        started = {i for i in reversed(ids)
                   if i not in order and job(client, f"{JOBS}/Sleep", i)["jobStatus"] in {"esriJobExecuting"} | TERMINAL}
        order += [i for i in ids if i in started]
        time.sleep(0.02)
    assert order[2:] == ids[2:]
    assert all(wait(client, f"{JOBS}/Sleep", i)["jobStatus"] == "esriJobSucceeded" for i in ids)


def test_file_output_is_served_by_url(client):
    job_id = submit(client, f"{JOBS}/WriteFile", text="a file from a tool")
    wait(client, f"{JOBS}/WriteFile", job_id)
    value = result(client, f"{JOBS}/WriteFile", job_id, "result")["value"]
    assert value["url"].endswith(f"/arcgis/rest/directories/arcgisjobs/test/jobs_gpserver/{job_id}/scratch/out.txt")
    assert client.get(value["url"]).text == "a file from a tool"


def test_job_files_cannot_escape_the_jobs_directory(server):
    import httpx
    r = httpx.get(server.url + "/arcgis/rest/directories/arcgisjobs/../opengp.db")
    assert r.status_code in (200, 404) and b"SQLite" not in r.content


def test_a_result_larger_than_a_pipe_buffer_comes_back_whole(client):
    """Workers send results over a pipe: a big one must not break off mid-read (it did
    once uvloop made the pipe non-blocking) and pass for a dead worker."""
    value = "0123456789abcdef" * 40_000          # 640 KB, ten times a pipe's buffer
    job_id = submit(client, f"{JOBS}/Noop", value=value)
    body = wait(client, f"{JOBS}/Noop", job_id)
    assert body["jobStatus"] == "esriJobSucceeded", body["messages"]
    out = result(client, f"{JOBS}/Noop", job_id, "result")
    assert out.get("value") == value, str(out)[:300]
