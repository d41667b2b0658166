"""The real ArcGIS API for Python (``arcgis``) drives the demo server.

``import_toolbox(url)`` without a GIS uses a plain session, so nothing here
talks to arcgis.com.  Every client call runs in a thread with a deadline: a
client stuck polling fails the test instead of hanging the suite.
"""
from __future__ import annotations

import concurrent.futures
import inspect
import math
import time
from datetime import datetime, timezone
from typing import Any, Callable

import httpx
import pytest

from conftest import require

pytestmark = pytest.mark.clients

try:
    from arcgis.features import FeatureSet
    from arcgis.geoprocessing import import_toolbox
except Exception as exc:  # noqa: BLE001 - any import failure means the client is unusable here
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None

DEADLINE = 60.0
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="arcgis-client")


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one client call with a deadline (re-raising what it raised)."""
    return _POOL.submit(fn, *args, **kwargs).result(timeout=DEADLINE)


@pytest.fixture(scope="module")
def services(server) -> str:
    require(_IMPORT_ERROR is None, f"the arcgis package is not importable: {_IMPORT_ERROR}")
    return f"{server.url}/arcgis/rest/services"


@pytest.fixture(scope="module")
def tools(services: str) -> Any:
    return call(import_toolbox, f"{services}/Demo/Tools/GPServer")


@pytest.fixture(scope="module")
def sync_tools(services: str) -> Any:
    return call(import_toolbox, f"{services}/Demo/ToolsSync/GPServer")


def points(*xy: tuple[float, float], wkid: int = 4326) -> Any:
    return FeatureSet.from_dict({
        "geometryType": "esriGeometryPoint", "spatialReference": {"wkid": wkid},
        "features": [{"geometry": {"x": x, "y": y}, "attributes": {"name": f"p{i}"}}
                     for i, (x, y) in enumerate(xy)],
    })


def geodesic_area_m2(rings: list[list[list[float]]]) -> float:
    """Area of an Esri polygon in WGS84 on the ellipsoid (exterior minus holes)."""
    from pyproj import Geod
    from shapely.geometry import Polygon

    geod = Geod(ellps="WGS84")
    return sum(abs(geod.geometry_area_perimeter(Polygon(r))[0]) for r in rings[:1]) - sum(
        abs(geod.geometry_area_perimeter(Polygon(r))[0]) for r in rings[1:])


def test_import_toolbox_publishes_every_demo_task_with_its_parameters(tools: Any) -> None:
    for name in ("buffer_features", "project_features", "clip_features", "summarize_features",
                 "echo", "slow", "fail", "write_report"):
        assert callable(getattr(tools, name, None)), f"{name} missing from the imported toolbox"
    params = inspect.signature(tools.buffer_features).parameters
    assert {"input_features", "distance", "dissolve", "future"} <= set(params)
    assert params["dissolve"].default is False


def test_synchronous_buffer_returns_a_500_m_circle_around_the_point(sync_tools: Any) -> None:
    out = call(sync_tools.buffer_features, input_features=points((10.0, 50.0)),
               distance={"distance": 500, "units": "esriMeters"})
    assert isinstance(out, FeatureSet)
    assert out.geometry_type == "esriGeometryPolygon"
    assert len(out.features) == 1
    feature = out.features[0]
    assert feature.attributes["name"] == "p0"           # attributes travel with the feature
    rings = feature.geometry["rings"]
    area = geodesic_area_m2(rings)
    assert area == pytest.approx(math.pi * 500 ** 2, rel=0.01)
    xs = [x for x, _ in rings[0]]
    ys = [y for _, y in rings[0]]
    assert (min(xs) + max(xs)) / 2 == pytest.approx(10.0, abs=1e-4)
    assert (min(ys) + max(ys)) / 2 == pytest.approx(50.0, abs=1e-4)


def test_synchronous_scalars_round_trip_with_their_types(sync_tools: Any) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    out = call(sync_tools.echo, text="héllo wörld", number=2.5, count=-3, flag=True, when=when,
               tags=["a", "b c"])
    assert out.out_text == "héllo wörld"
    assert out.out_number == 2.5 and isinstance(out.out_number, float)
    assert out.out_count == -3 and isinstance(out.out_count, int)
    assert out.out_flag is True
    # GPDate results travel as epoch milliseconds; this client hands them back as they came
    assert out.out_when == int(when.timestamp() * 1000)
    assert out.out_tags == ["a", "b c"]


def test_asynchronous_task_with_features_and_multiple_outputs(tools: Any) -> None:
    line = FeatureSet.from_dict({
        "geometryType": "esriGeometryPolyline", "spatialReference": {"wkid": 4326},
        "features": [{"geometry": {"paths": [[[10.0, 50.0], [10.0, 50.1]]]}, "attributes": {}}],
    })
    out = call(tools.summarize_features, input_features=line)
    assert out.count == 1
    # 0.1 degree of latitude at 50 N is about 11.12 km on the ellipsoid
    length = out.total_length.to_dict()     # the client's LinearUnit
    assert length["distance"] == pytest.approx(11_120, rel=0.005)
    assert length["units"].lower() == "esrimeters"
    assert isinstance(out.extent, FeatureSet) and len(out.extent.features) == 1


def test_asynchronous_project_reprojects_the_features(tools: Any) -> None:
    out = call(tools.project_features, input_features=points((10.0, 50.0)), out_wkid=3857)
    geometry = out.features[0].geometry
    assert geometry["x"] == pytest.approx(1113194.9, abs=0.5)
    assert geometry["y"] == pytest.approx(6446275.8, abs=0.5)
    assert out.spatial_reference["wkid"] == 3857


@pytest.mark.parametrize("which", ["tools", "sync_tools"])
def test_a_failing_task_raises_with_the_tools_message(request: pytest.FixtureRequest, which: str) -> None:
    toolbox = request.getfixturevalue(which)
    with pytest.raises(Exception) as exc:
        call(toolbox.fail, message="the river layer is empty")
    assert "the river layer is empty" in str(exc.value)


def test_future_job_reports_status_and_can_be_cancelled(tools: Any, services: str) -> None:
    job = call(tools.slow, seconds=30, stages=3, future=True)
    deadline = time.monotonic() + 20
    while job.status != "esriJobExecuting":
        assert time.monotonic() < deadline, f"job never started: {job.status}"
        time.sleep(0.1)
    job_id = job.jobid if hasattr(job, "jobid") else job._jobid
    assert call(job.cancel) is True
    url = f"{services}/Demo/Tools/GPServer/Slow/jobs/{job_id}"
    deadline = time.monotonic() + 5
    while (body := httpx.get(url, params={"f": "json"}).json())["jobStatus"] != "esriJobCancelled":
        assert time.monotonic() < deadline, f"not cancelled on the server: {body['jobStatus']}"
        time.sleep(0.05)
    assert any("Cancel" in m["description"] for m in body["messages"])
    assert job.cancelled()


def test_file_output_is_a_url_the_client_can_download(tools: Any) -> None:
    out = call(tools.write_report, input_features=points((1.0, 2.0), (3.0, 4.0)), title="Two points")
    url = out if isinstance(out, str) else out.url if hasattr(out, "url") else out["url"]
    text = httpx.get(url).text
    assert text.splitlines()[0] == "# Two points"
    rows = [line.split(",") for line in text.splitlines()[2:]]
    # the client numbers features itself (OBJECTID); ours keep their names and places
    assert [(r[0], r[1], r[2], r[-1]) for r in rows] == [("Point", "1.0", "2.0", "p0"), ("Point", "3.0", "4.0", "p1")]
