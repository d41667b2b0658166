"""Usage reports over HTTP (``/arcgis/admin/usagereports``): real jobs run (succeeded, failed,
timed out), and the report's data says exactly what was run; definitions are kept, read back,
edited and deleted; bad ones get the admin dialect's errors."""
from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Iterator

import httpx
import pytest

from conftest import SCALEOUT, Server, client_as
from .helpers import PASSWORDS, started_with_users, submit, wait

REPORTS = "/arcgis/admin/usagereports"
GP = "/arcgis/rest/services"
METRICS = ["RequestCount", "RequestsFailed", "RequestsTimedOut", "RequestMaxResponseTime", "RequestAvgResponseTime",
           "RequestMaxWaitTime"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = started_with_users(tmp_path_factory.mktemp("usage"), demo=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv) -> Iterator[httpx.Client]:
    with client_as(srv, "root", PASSWORDS["root"]) as c:
        yield c


def run(c: httpx.Client, service: str, task: str, **params: Any) -> tuple[str, str]:
    url = f"{GP}/{service}/GPServer/{task}"
    job = submit(c, url, **params)
    return job, wait(c, url, job, timeout=60)["jobStatus"]


@pytest.fixture(scope="module")
def jobs_run(srv, root) -> dict[str, Any]:
    """What the tests count: on Test/Jobs (maxUsageTime 3 s) two jobs succeed, one fails and one
    times out; on Retry one succeeds.  Their run and wait times, from the store itself."""
    since = time.time() - 1
    ran = [run(root, "Test/Jobs", "Sleep", seconds="0.3"), run(root, "Test/Jobs", "Noop"),
           run(root, "Test/Jobs", "Fail"), run(root, "Test/Jobs", "Sleep", seconds="30"),
           run(root, "Retry", "Noop")]
    assert [status for _, status in ran] == ["esriJobSucceeded", "esriJobSucceeded", "esriJobFailed",
                                             "esriJobTimedOut", "esriJobSucceeded"]
    rows = {}
    if not SCALEOUT:
        with sqlite3.connect(srv.data_dir / "opengp.db") as db:
            rows = {r[0]: r[1:] for r in db.execute("SELECT id, created, started, finished FROM jobs")}
    return {"since": since, "until": time.time() + 1, "ids": [job for job, _ in ran], "rows": rows}


def post(c: httpx.Client, path: str, **data: Any) -> dict[str, Any]:
    r = c.post(path, data={"f": "json", **data})
    assert r.status_code == 200, r.text
    return r.json()


def add(c: httpx.Client, report: dict[str, Any]) -> dict[str, Any]:
    return post(c, f"{REPORTS}/add", usagereport=json.dumps(report))


def custom(name: str, since: float, until: float, uris: list[str], metrics: list[str] = METRICS,
           minutes: int = 1) -> dict[str, Any]:
    return {"reportname": name, "since": "CUSTOM", "from": int(since * 1000), "to": int(until * 1000),
            "aggregationInterval": minutes, "queries": [{"resourceURIs": uris, "metrics": metrics}],
            "metadata": {"title": name, "managerReport": False}}


def totals(data: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """Each series of the first query summed (counts) or reduced (times) over its slices."""
    out = {}
    for series in data["report"]["report-data"][0]:
        values = [v for v in series["data"] if v is not None]
        metric = series["metric-type"]
        key = (series["resourceURI"], metric)
        if metric.startswith("Requests") or metric == "RequestCount":
            out[key] = sum(values)
        elif "Max" in metric:
            out[key] = max(values, default=None)
        else:
            out[key] = values
    return out


def test_a_reports_data_is_what_was_run(root, jobs_run):
    made = add(root, custom("jobs-today", jobs_run["since"], jobs_run["until"],
                            ["services/Test/Jobs.GPServer", "services/Retry.GPServer", "services/Test", "services/"]))
    assert made == {"status": "success"}
    data = root.get(f"{REPORTS}/jobs-today/data", params={"f": "json", "filter": '{"machines": "*"}'}).json()
    report = data["report"]
    assert report["reportname"] == "jobs-today" and report["metadata"] == {"title": "jobs-today",
                                                                          "managerReport": False}
    slices = report["time-slices"]
    assert slices == sorted(slices) and slices[-1] == int(jobs_run["until"] * 1000)
    assert all(len(s["data"]) == len(slices) for s in report["report-data"][0])
    got = totals(data)
    jobs, retry = "services/Test/Jobs.GPServer", "services/Retry.GPServer"
    assert [got[(jobs, m)] for m in ("RequestCount", "RequestsFailed", "RequestsTimedOut")] == [4, 2, 1]
    assert [got[(retry, m)] for m in ("RequestCount", "RequestsFailed", "RequestsTimedOut")] == [1, 0, 0]
    assert got[("services/Test", "RequestCount")] == 4          # the folder: its one busy service
    assert got[("services/", "RequestCount")] == 5              # the site
    assert 2.5 <= got[(jobs, "RequestMaxResponseTime")] < 10    # the timed-out job, stopped at ~3 s
    if jobs_run["rows"]:        # exactly the store's run and wait times
        runs = {j: f - s for j, (c, s, f) in jobs_run["rows"].items() if j in jobs_run["ids"][:4]}
        waits = {j: s - c for j, (c, s, f) in jobs_run["rows"].items() if j in jobs_run["ids"][:4]}
        assert got[(jobs, "RequestMaxResponseTime")] == pytest.approx(max(runs.values()))
        assert got[(jobs, "RequestMaxWaitTime")] == pytest.approx(max(waits.values()))
        series = next(s for s in report["report-data"][0]
                      if (s["resourceURI"], s["metric-type"]) == (jobs, "RequestAvgResponseTime"))
        counts = next(s for s in report["report-data"][0]
                      if (s["resourceURI"], s["metric-type"]) == (jobs, "RequestCount"))
        weighted = sum(a * n for a, n in zip(series["data"], counts["data"]) if a is not None)
        assert weighted / 4 == pytest.approx(sum(runs.values()) / 4)


def test_the_machine_filter(root, jobs_run):
    add(root, custom("by-machine", jobs_run["since"], jobs_run["until"], ["services/"], ["RequestCount"]))
    url = f"{REPORTS}/by-machine/data"

    def count(flt: str | None) -> Any:
        params = {"f": "json", **({"filter": flt} if flt is not None else {})}
        return totals(root.get(url, params=params).json()).get(("services/", "RequestCount"))

    assert count(None) == count('{"machines": "*"}') == 5
    assert count('{"machines": ["no-such-host"]}') == 0
    for junk in ('{"machines": 7}', '{"machines": ["host\\u0000"]}', '{"machines": "a,b\\u0000"}'):
        bad = root.get(url, params={"f": "json", "filter": junk}).json()
        assert bad["status"] == "error" and bad["code"] == 400 and "machines" in bad["messages"][-1], junk


def test_a_report_is_listed_read_edited_and_deleted(root):
    start = time.time() - 3600
    definition = custom("lifecycle", start, start + 1800, ["services/Test/Jobs.GPServer"], ["RequestCount"], 5)
    add(root, definition)
    listed = root.get(REPORTS, params={"f": "json"}).json()["metrics"]
    assert "lifecycle" in [r["reportname"] for r in listed]
    read = root.get(f"{REPORTS}/lifecycle", params={"f": "json"}).json()
    assert read == {**definition, "queries": [{"resourceURIs": ["services/Test/Jobs.GPServer"],
                                               "metrics": ["RequestCount"]}]}
    # the arcgis package posts back what it read, metrics as one comma-separated string
    edited = {**read, "aggregationInterval": 10, "queries": [{"resourceURIs": ["services/Test/Jobs.GPServer"],
                                                              "metrics": ["RequestCount,RequestsFailed"]}]}
    assert post(root, f"{REPORTS}/lifecycle/edit", usagereport=json.dumps(edited)) == {"status": "success"}
    read = root.get(f"{REPORTS}/lifecycle", params={"f": "json"}).json()
    assert read["aggregationInterval"] == 10 and read["queries"][0]["metrics"] == ["RequestCount", "RequestsFailed"]
    data = root.get(f"{REPORTS}/lifecycle/data", params={"f": "json"}).json()["report"]
    assert len(data["time-slices"]) == 3 and [s["data"] for s in data["report-data"][0]] == [[0, 0, 0]] * 2
    assert post(root, f"{REPORTS}/lifecycle/delete") == {"status": "success"}
    gone = root.get(f"{REPORTS}/lifecycle", params={"f": "json"}).json()
    assert gone["status"] == "error" and gone["code"] == 404 and "lifecycle" in gone["messages"][0]


def test_last_day_reports_use_arcgis_default_interval(root, jobs_run):
    add(root, {"reportname": "daily", "since": "LAST_DAY",
               "queries": [{"resourceURIs": ["services/Test/Jobs.GPServer"], "metrics": ["RequestCount"]}]})
    report = root.get(f"{REPORTS}/daily/data", params={"f": "json"}).json()["report"]
    assert len(report["time-slices"]) == 48                     # 24 hours by 30 minutes
    assert sum(report["report-data"][0][0]["data"]) == 4


BAD = [
    ({"since": "LAST_DAY", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "reportname"),
    ({"reportname": "b", "since": "YESTERDAY", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]},
     "since"),
    ({"reportname": "b", "since": "CUSTOM", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]},
     "from"),
    ({"reportname": "b", "since": "CUSTOM", "from": 2000, "to": 1000,
      "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "after"),
    ({"reportname": "b", "queries": [{"resourceURIs": ["services/"], "metrics": ["Bogus"]}]}, "Bogus"),
    ({"reportname": "b", "queries": [{"resourceURIs": ["services/"], "metrics": ["ServiceRunningInstancesMax"]}]},
     "ServiceRunningInstancesMax"),
    ({"reportname": "b", "queries": [{"resourceURIs": ["services/Nope.GPServer"], "metrics": ["RequestCount"]}]},
     "Nope"),
    ({"reportname": "b", "queries": [{"resourceURIs": ["services/Test/Map.MapServer"], "metrics": ["RequestCount"]}]},
     "GPServer"),
    ({"reportname": "b", "queries": []}, "queries"),
    ({"reportname": "b", "aggregationInterval": "often",
      "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "aggregationInterval"),
    ({"reportname": "b", "since": "LAST_YEAR", "aggregationInterval": 1,
      "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "time slices"),
    ({"reportname": "add", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "add"),
    # past the year 9999: too large for a float (once a 500), or for a date
    ({"reportname": "b", "since": "CUSTOM", "from": 0, "to": "1" + "0" * 400,
      "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "'to'"),
    ({"reportname": "b", "since": "CUSTOM", "from": 0, "to": 10**17, "aggregationInterval": 10**9,
      "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}, "'to'"),
    ({"reportname": "b\x00", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]},
     "reportname"),
]


@pytest.mark.parametrize("report, said", BAD)
def test_bad_definitions_get_admin_errors(root, report, said):
    body = add(root, report)
    assert body["status"] == "error" and body["code"] == 400, body
    assert any(said in m for m in body["messages"]), body
    assert "b" not in [r["reportname"] for r in root.get(REPORTS, params={"f": "json"}).json()["metrics"]]


def test_other_mistakes_get_admin_errors(root, srv):
    assert post(root, f"{REPORTS}/add", usagereport="{not json")["code"] == 400
    assert post(root, f"{REPORTS}/add")["code"] == 400
    add(root, {"reportname": "twice", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]})
    again = add(root, {"reportname": "twice", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]})
    assert again["code"] == 400 and "twice" in again["messages"][0]
    renamed = post(root, f"{REPORTS}/twice/edit", usagereport=json.dumps(
        {"reportname": "other", "queries": [{"resourceURIs": ["services/"], "metrics": ["RequestCount"]}]}))
    assert renamed["code"] == 400 and "renamed" in renamed["messages"][-1]
    assert root.get(f"{REPORTS}/twice/delete", params={"f": "json"}).json()["code"] == 400     # a GET changes nothing
    assert root.get(f"{REPORTS}/nothing/data", params={"f": "json"}).json()["code"] == 404
    with client_as(srv, "pat", PASSWORDS["pat"]) as pat:         # a publisher: not the site's reports
        denied = pat.get(REPORTS, params={"f": "json"}).json()
        assert denied["status"] == "error" and denied["code"] == 403
    anonymous = httpx.get(f"{srv.url}{REPORTS}", params={"f": "json"}).json()
    assert anonymous["status"] == "error" and anonymous["code"] == 499
