"""OWSLib (``owslib.ogcapi.processes``), a real OGC API - Processes client, against
opengp's ``/ogcapi``: it lists, describes and executes processes (OWSLib has no job
API: the asynchronous job is then followed over plain HTTP, as its users do)."""
from __future__ import annotations

import time

import httpx
import pytest

from conftest import require

pytestmark = pytest.mark.clients

try:
    from owslib.ogcapi.processes import Processes
except Exception as exc:  # noqa: BLE001 - any import failure means the client is unusable here
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None


@pytest.fixture(scope="module")
def processes(server):
    require(_IMPORT_ERROR is None, f"owslib is not installed: {_IMPORT_ERROR}")
    return Processes(f"{server.url}/ogcapi")


def test_owslib_lists_and_describes_processes(processes):
    listed = processes.processes()
    ids = [p["id"] for p in listed]
    assert "Demo.Tools.BufferFeatures" in ids and len(ids) == 10           # the first page, as OWSLib reads it
    echo = processes.process("Demo.ToolsSync.Echo")
    assert echo["id"] == "Demo.ToolsSync.Echo"
    for pid in ("Demo.ToolsSync.Echo", "Demo.Tools.BufferFeatures"):       # every process runs either way
        assert processes.process(pid)["jobControlOptions"] == ["sync-execute", "async-execute", "dismiss"]
    assert echo["inputs"]["count"]["schema"]["type"] == "integer"
    assert echo["outputs"]["out_text"]["schema"] == {"type": "string"}


def test_owslib_executes_synchronously(processes):
    out = processes.execute("Demo.ToolsSync.Echo", inputs={"text": "from owslib", "count": 3})
    assert out["out_text"] == "from owslib" and out["out_count"] == 3


def test_owslib_default_execute_of_an_asynchronous_service_returns_its_results(processes):
    """OWSLib executes synchronously unless told ``async_=True``: the job is waited for."""
    features = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [7.44, 46.95]}, "properties": {"n": 1}}]}
    out = processes.execute("Demo.Tools.BufferFeatures", inputs={"input_features": {"value": features}})
    assert "jobID" not in out and out["result"]["mediaType"] == "application/geo+json"
    assert out["result"]["value"]["features"][0]["geometry"]["type"] == "Polygon"


def finished(url: str) -> str:
    """Poll an OGC job until it ends; its URL, once it succeeded."""
    deadline = time.monotonic() + 30
    while (info := httpx.get(url).json())["status"] not in ("successful", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert info["status"] == "successful", info
    return url


def test_owslib_executes_a_synchronous_service_as_a_job_when_asked(processes, server):
    status = processes.execute("Demo.ToolsSync.Echo", inputs={"text": "as a job"}, async_=True)
    assert status["type"] == "process" and status["status"] in ("accepted", "running", "successful")
    url = finished(f"{server.url}/ogcapi/jobs/{status['jobID']}")
    assert httpx.get(f"{url}/results").json()["out_text"] == "as a job"


def test_owslib_executes_asynchronously_and_the_job_runs_to_its_results(processes, server):
    features = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [7.44, 46.95]}, "properties": {"n": 1}}]}
    status = processes.execute("Demo.Tools.BufferFeatures", inputs={"input_features": {"value": features}},
                               async_=True)
    assert status["type"] == "process" and status["status"] in ("accepted", "running", "successful")
    url = finished(f"{server.url}/ogcapi/jobs/{status['jobID']}")
    results = httpx.get(f"{url}/results").json()
    assert results["result"]["mediaType"] == "application/geo+json"
    assert results["result"]["value"]["features"][0]["geometry"]["type"] == "Polygon"
