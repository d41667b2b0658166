"""The REST face's fast path (api/arcgis/fastpath.py) answers exactly as the route does.

It exists only to skip FastAPI's middleware for hot requests; it once had its own parsing and
drifted (``returnMessages=on`` showed messages on one path and not on the other).  Each request
here goes once through what ``opengp serve`` runs (the fast path first) and once straight into
the FastAPI app (the route), and the two answers must be the same bytes.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from opengp.api.app import asgi_app
from opengp.api.arcgis.fastpath import JobStatusFastPath
from opengp.config import load_settings

TOOLBOX = Path(__file__).resolve().parents[1] / "toolboxes" / "testing.py"
CONFIG = f"""
[server]
workers = 1

[[services]]
folder = "Test"
name = "Jobs"
toolbox = "{TOOLBOX}"
execution_type = "asynchronous"
public = true

[[services]]
folder = "Test"
name = "Members"
toolbox = "{TOOLBOX}"
allowed = ["role:user"]
"""
JOBS = "/arcgis/rest/services/Test/Jobs/GPServer"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _comparable(response: httpx.Response) -> tuple:
    """Status, type, redirect, the anti-framing headers of a page, and body, with a new job's id
    (each submit makes one) taken out."""
    body = response.content
    if response.headers.get("content-type") == "application/json":
        data = json.loads(body)
        if isinstance(data, dict) and data.get("jobId", "").startswith("j") and "jobStatus" in data:
            data["jobId"] = "<new>"
        body = json.dumps(data).encode()
    location = response.headers.get("location", "").split("/jobs/")[0]
    framing = (response.headers.get("x-frame-options"), response.headers.get("content-security-policy"))
    return response.status_code, response.headers.get("content-type"), location, framing, body


def _requests(job_id: str) -> list[tuple[str, str, dict]]:
    status = f"{JOBS}/Noop/jobs/{job_id}"
    reads = [("GET", f"{status}?f=json", {}), ("GET", f"{JOBS}/jobs/{job_id}?f=json", {}),   # the plain case
             ("GET", status, {}), ("GET", f"{status}/", {})]
    reads += [("GET", f"{status}?f=json&returnMessages={v}", {}) for v in
             ("on", "junk", "", "TRUE", "false", "off", "0", "No")]
    reads += [("GET", f"{status}?f=pjson", {}),
              ("GET", f"{status}/results/result?f=json", {}), ("GET", f"{status}/results/nothing?f=json", {}),
              ("GET", f"{JOBS}/Add/jobs/{job_id}?f=json", {}), ("GET", f"{JOBS}/Noop/jobs/jnothing?f=json", {}),
              ("GET", f"{status}?f=json&token=forged", {}),
              ("GET", f"/arcgis/rest/services/Test/Members/GPServer/Noop/jobs/{job_id}?f=json", {})]
    submits = [("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "json", "a": "1"}}),
               ("POST", f"{JOBS}/Add/submitJob?f=pjson", {"data": {"a": "1", "b": "2"}}),
               ("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "json", "a": "one"}}),
               ("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "json"}}),
               ("POST", f"{JOBS}/Nothing/submitJob", {"data": {"f": "json"}}),
               ("POST", "/arcgis/rest/services/Test/Members/GPServer/Noop/submitJob", {"data": {"f": "json"}}),
               ("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "json", "a": "1", "env:outSR": "nowhere"}}),
               ("POST", f"{JOBS}/Add/submitJob", {"content": b"f=json&a=%FF", "headers": FORM}),
               ("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "html", "a": "1"}}),
               ("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "html", "a": "one"}}),     # the form again, a page
               ("POST", f"{JOBS}/Add/submitJob", {"data": {"f": "json", "a": "1"},          # a browser's, signed out
                                                  "headers": {"cookie": "agstoken=forged"}})]
    return reads + submits


async def _compare(tmp_path: Path) -> list[tuple]:
    config = tmp_path / "opengp.toml"
    config.write_text(CONFIG)
    served = asgi_app(load_settings(config, data_dir=tmp_path / "data"))
    fast_path = served
    while not isinstance(fast_path, JobStatusFastPath):     # inside the guard and the body limit
        fast_path = fast_path.app
    app, after = fast_path.app, fast_path.next      # the FastAPI app; what the fast path passes on to
    passed_on = []

    async def counted(scope, receive, send):
        passed_on.append(scope["path"])
        await after(scope, receive, send)

    fast_path.next = counted
    async with app.router.lifespan_context(app):
        fast = httpx.AsyncClient(transport=httpx.ASGITransport(served), base_url="http://testserver")
        route = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")
        job_id = (await route.post(f"{JOBS}/Noop/submitJob", data={"f": "json"})).json()["jobId"]
        for _ in range(500):
            status = (await route.get(f"{JOBS}/Noop/jobs/{job_id}?f=json")).json()["jobStatus"]
            if status == "esriJobSucceeded":
                break
            await asyncio.sleep(0.02)
        differences = []
        for method, url, kwargs in _requests(job_id):
            a = await fast.request(method, url, **kwargs)
            assert not passed_on, f"the fast path did not take {method} {url}"
            b = await route.request(method, url, **kwargs)
            if _comparable(a) != _comparable(b):
                differences.append((method, url, _comparable(a), _comparable(b)))
        return differences


@pytest.mark.timeout(120)
def test_the_fast_path_answers_as_the_route(tmp_path):
    assert asyncio.run(_compare(tmp_path)) == []
