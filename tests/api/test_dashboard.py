"""The dashboard's figures as JSON (``/arcgis/admin/console/dashboard?f=json``) and who sees
them: administrators every service, publishers their own, nobody without signing in."""
from __future__ import annotations

import json
from urllib.parse import quote, unquote
from typing import Iterator

import httpx
import pytest

from conftest import Server, client_as
from .helpers import PASSWORDS, started_with_users, submit, wait

DASHBOARD = "/arcgis/admin/console/dashboard"


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = started_with_users(tmp_path_factory.mktemp("dashboard"), demo=False)
    yield server
    server.stop()


def test_the_figures_are_the_jobs_run_and_each_sees_their_services(srv):
    gp = "/arcgis/rest/services/Test/Jobs/GPServer"
    with client_as(srv, "root", PASSWORDS["root"]) as root, client_as(srv, "pat", PASSWORDS["pat"]) as pat:
        for task, params in (("Noop", {}), ("Noop", {}), ("Fail", {"message": "no space left"})):
            job = submit(root, f"{gp}/{task}", **params)
            wait(root, f"{gp}/{task}", job)
        held = [submit(root, f"{gp}/Sleep", seconds="20") for _ in range(3)]      # max_instances 2: one waits
        for job in held[:2]:
            wait(root, f"{gp}/Sleep", job, until={"esriJobExecuting"})
        try:
            d = root.get(DASHBOARD, params={"f": "json"}).json()
            per_minute = d["jobsPerMinute"]
            assert len(per_minute["minutes"]) == 60 and per_minute["minutes"] == sorted(per_minute["minutes"])
            assert (sum(per_minute["succeeded"]), sum(per_minute["failed"]), sum(per_minute["timed_out"])) == (2, 1, 0)
            assert d["queues"] == [{"service": "Test/Jobs", "waiting": 1, "running": 2}]
            assert [(x["service"], x["count"]) for x in d["durations"]] == [("Test/Jobs", 3)]
            assert 0 <= d["durations"][0]["p50"] <= d["durations"][0]["p90"] <= d["durations"][0]["p99"]
            (failure,) = d["failures"]
            assert failure["error"] == "no space left" and failure["task"] == "Fail"
            assert failure["url"].endswith(f"/GPServer/Fail/jobs/{failure['jobId']}")
            # a publisher sees the services they administer: none of these config-file ones
            theirs = pat.get(DASHBOARD, params={"f": "json"}).json()
            assert theirs["queues"] == theirs["durations"] == theirs["failures"] == []
            assert sum(sum(v) for k, v in theirs["jobsPerMinute"].items() if k != "minutes") == 0
        finally:
            for job in held:
                root.post(f"{gp}/Sleep/jobs/{job}/cancel", data={"f": "json"})
    page = httpx.get(f"{srv.url}{DASHBOARD}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/arcgis/login?next=")
    with client_as(srv, "root", PASSWORDS["root"]) as root:
        html = root.get(DASHBOARD)
        assert html.headers["x-frame-options"] == "DENY"
        assert 'id="jobs-per-minute"' in html.text and "/dashboard.js" in html.text
        part = root.get(DASHBOARD, params={"part": "charts"})
        assert part.text.count('data-series="succeeded"') >= 1 and "<html" not in part.text
        assert json.loads(root.get(DASHBOARD, params={"f": "pjson"}).text)["queues"] is not None


def test_a_stale_sign_in_goes_to_sign_in_again(srv):
    """A token that expired or was revoked (in the URL, or the sign-in cookie) is sent to sign in,
    as the console's other pages do, and the way back leaves the stale token out."""
    r = httpx.get(f"{srv.url}{DASHBOARD}", params={"token": "stale", "part": "charts"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/arcgis/login?next=")
    back = unquote(r.headers["location"].split("next=", 1)[1])
    assert back == f"{DASHBOARD}?part=charts"
    r = httpx.get(f"{srv.url}{DASHBOARD}", cookies={"agstoken": "stale"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/arcgis/login?next={quote(DASHBOARD, safe='')}"
    assert 'agstoken=""' in r.headers.get("set-cookie", "")        # the stale cookie is dropped
