"""The real ArcGIS API for Python (``arcgis``) drives the demo server over HTTP.

How the client is pointed at opengp without ArcGIS Online: ``import_toolbox(url)``
with no ``gis`` (and ``arcgis.env.active_gis`` left at None) builds a plain
anonymous ``EsriSession``; the generated functions do the same when called
without ``gis=``.  ``GIS()`` itself is never constructed: with no arguments it
connects to arcgis.com.  To prove nothing leaves the machine, name resolution
for any host other than the loopback fails fast for the whole module (and the
test fails) instead of waiting on a network that is not there.

Every client call runs in a daemon thread with a deadline: a client stuck
polling (``arcgis`` polls forever on a status it does not know) fails the test
and cannot keep the interpreter alive after the session either.
"""
from __future__ import annotations

import inspect
import math
import time
from datetime import datetime, timezone
from typing import Any, Callable

import httpx
import pytest

from .guards import call as guarded_call, loopback_only
from conftest import add_user, require

pytestmark = pytest.mark.clients

try:
    import arcgis
    from arcgis.features import FeatureSet
    from arcgis.geoprocessing import DataFile, LinearUnit, import_toolbox
except Exception as exc:  # noqa: BLE001 - any import failure means the client is unusable here
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None

DEADLINE = 60.0
TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}
TASKS = {"buffer_features", "project_features", "clip_features", "summarize_features",
         "echo", "slow", "fail", "write_report"}


def call(fn: Callable[..., Any], *args: Any, timeout: float = DEADLINE, **kwargs: Any) -> Any:
    return guarded_call(fn, *args, timeout=timeout, **kwargs)


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline() -> Any:
    """Refuse name resolution of anything but the loopback while the client runs."""
    yield from loopback_only()


@pytest.fixture(scope="module")
def services(server, offline) -> str:
    require(_IMPORT_ERROR is None, f"the arcgis package is not importable: {_IMPORT_ERROR}")
    # with an active GIS the client would send everything through it (and its portal)
    assert arcgis.env.active_gis is None
    return f"{server.url}/arcgis/rest/services"


@pytest.fixture(scope="module")
def tools(services: str) -> Any:
    """Demo/Tools: an asynchronous service (submitJob, then polling)."""
    return call(import_toolbox, f"{services}/Demo/Tools/GPServer")


@pytest.fixture(scope="module")
def sync_tools(services: str) -> Any:
    """Demo/ToolsSync: the same tools, synchronous (execute)."""
    return call(import_toolbox, f"{services}/Demo/ToolsSync/GPServer")


@pytest.fixture(params=["sync", "async"])
def toolbox(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("sync_tools" if request.param == "sync" else "tools")


@pytest.fixture
def out_sr_3857() -> Any:
    """``arcgis.env.out_spatial_reference`` set for one test (the client sends it as ``env:outSR``)."""
    arcgis.env.out_spatial_reference = 3857
    try:
        yield 3857
    finally:
        arcgis.env.out_spatial_reference = None


# -- helpers ---------------------------------------------------------------------------------------

def points(*xy: tuple[float, float], wkid: int = 4326) -> Any:
    return FeatureSet.from_dict({
        "geometryType": "esriGeometryPoint", "spatialReference": {"wkid": wkid},
        "features": [{"geometry": {"x": x, "y": y}, "attributes": {"name": f"p{i}"}}
                     for i, (x, y) in enumerate(xy)],
    })


def lonlat_rings(rings: list[list[list[float]]], wkid: int) -> list[list[tuple[float, float]]]:
    if wkid == 4326:
        return [[(x, y) for x, y in ring] for ring in rings]
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(wkid, 4326, always_xy=True)
    return [list(zip(*to_wgs.transform([p[0] for p in ring], [p[1] for p in ring]))) for ring in rings]


def geodesic_area_m2(rings: list[list[tuple[float, float]]]) -> float:
    """Area on the WGS84 ellipsoid of Esri rings in lon/lat (outer rings minus holes by orientation)."""
    from pyproj import Geod
    from shapely.geometry import Polygon

    geod = Geod(ellps="WGS84")
    # Esri outer rings run clockwise (negative signed area for pyproj), holes anticlockwise
    return -sum(geod.geometry_area_perimeter(Polygon(r))[0] for r in rings)


def geodesic_distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    from pyproj import Geod

    return Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2]


def centre_of(ring: list[tuple[float, float]]) -> tuple[float, float]:
    from shapely.geometry import Polygon

    c = Polygon(ring).centroid
    return c.x, c.y


def type_name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else annotation.__name__


def http_job(services: str, job_id: str) -> dict[str, Any]:
    r = httpx.get(f"{services}/Demo/Tools/GPServer/Slow/jobs/{job_id}", params={"f": "json"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def cancel_over_http(services: str, job_id: str) -> None:
    """Teardown: a job left running keeps the client's poller thread alive."""
    if http_job(services, job_id)["jobStatus"] not in TERMINAL:
        httpx.get(f"{services}/Demo/Tools/GPServer/Slow/jobs/{job_id}/cancel", params={"f": "json"}, timeout=10)


def job_id_of(job: Any) -> str:
    # GPJob has no public id attribute; its repr is "<Slow GP Job: <id>>"
    return job._jobid


# -- import_toolbox --------------------------------------------------------------------------------

def test_import_toolbox_reads_the_services_execution_type(tools: Any, sync_tools: Any) -> None:
    # the generated module calls submitJob when True, execute when False
    assert tools._use_async is True
    assert sync_tools._use_async is False


def test_import_toolbox_generates_a_function_per_task_with_its_parameters(toolbox: Any) -> None:
    for name in TASKS:
        assert callable(getattr(toolbox, name, None)), f"{name} missing from the imported toolbox"

    buffer = inspect.signature(toolbox.buffer_features).parameters
    assert list(buffer)[:3] == ["input_features", "distance", "dissolve"]
    assert {n: type_name(buffer[n].annotation) for n in list(buffer)[:3]} == {
        "input_features": "FeatureSet", "distance": "LinearUnit", "dissolve": "bool"}
    assert buffer["distance"].default == {"distance": 100, "units": "esriMeters"}
    assert buffer["dissolve"].default is False
    assert {"gis", "future"} <= set(buffer)
    assert type_name(inspect.signature(toolbox.buffer_features).return_annotation) == "FeatureSet"

    echo = inspect.signature(toolbox.echo)
    assert {n: (type_name(p.annotation), p.default) for n, p in echo.parameters.items()
            if n in ("text", "number", "count", "flag", "when")} == {
        "text": ("str", "hello"), "number": ("float", 1.5), "count": ("int", 1),
        "flag": ("bool", False), "when": ("datetime", None)}
    # several outputs: the function returns a named tuple
    assert type_name(echo.return_annotation) == "tuple"

    slow = inspect.signature(toolbox.slow).parameters
    assert (slow["seconds"].default, slow["stages"].default) == (10.0, 5)
    assert inspect.signature(toolbox.fail).parameters["message"].default == "This tool always fails."
    assert type_name(inspect.signature(toolbox.write_report).return_annotation) == "DataFile"
    # the task description becomes the docstring
    assert "Buffer each feature by a distance" in toolbox.buffer_features.__doc__


# -- features and scalars --------------------------------------------------------------------------

def test_synchronous_buffer_returns_a_500_m_circle_around_the_point(sync_tools: Any) -> None:
    out = call(sync_tools.buffer_features, input_features=points((10.0, 50.0)),
               distance={"distance": 500, "units": "esriMeters"})
    assert isinstance(out, FeatureSet)
    assert out.geometry_type == "esriGeometryPolygon"
    assert out.spatial_reference["wkid"] == 4326
    assert len(out.features) == 1
    feature = out.features[0]
    assert feature.attributes["name"] == "p0"           # attributes travel with the feature
    rings = lonlat_rings(feature.geometry["rings"], 4326)
    assert geodesic_area_m2(rings) == pytest.approx(math.pi * 500 ** 2, rel=0.01)
    assert geodesic_distance_m(centre_of(rings[0]), (10.0, 50.0)) < 1.0
    assert all(geodesic_distance_m(p, (10.0, 50.0)) == pytest.approx(500, abs=2) for p in rings[0])


def test_asynchronous_buffer_with_units_and_dissolve(tools: Any) -> None:
    # two points 5 km apart, 0.5 km each: dissolved into one feature of two discs.
    # LinearUnit(0.5, "Kilometers") is the client's documented form (see the quirk below).
    pts = points((10.0, 50.0), (10.0 + 5000 / 71_700, 50.0))
    out = call(tools.buffer_features, input_features=pts, distance=LinearUnit(0.5, "Kilometers"), dissolve=True)
    assert isinstance(out, FeatureSet)
    assert len(out.features) == 1
    assert out.features[0].attributes.get("count") == 2
    rings = lonlat_rings(out.features[0].geometry["rings"], 4326)
    assert len(rings) == 2
    assert geodesic_area_m2(rings) == pytest.approx(2 * math.pi * 500 ** 2, rel=0.01)
    centres = sorted(centre_of(r) for r in rings)
    for centre, (x, y) in zip(centres, sorted((f.geometry["x"], f.geometry["y"]) for f in pts.features)):
        assert geodesic_distance_m(centre, (x, y)) < 1.0

    undissolved = call(tools.buffer_features, input_features=pts, distance=LinearUnit(0.5, "Kilometers"))
    assert [f.attributes["name"] for f in undissolved.features] == ["p0", "p1"]


def test_scalars_round_trip_with_their_python_types(toolbox: Any) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    out = call(toolbox.echo, text="héllo wörld & co=1", number=2.5, count=-3, flag=True, when=when,
               tags=["a", "b c"])
    assert out._fields == ("out_text", "out_number", "out_count", "out_flag", "out_when", "out_tags")
    assert out.out_text == "héllo wörld & co=1"
    assert out.out_number == 2.5 and isinstance(out.out_number, float)
    assert out.out_count == -3 and type(out.out_count) is int
    assert out.out_flag is True
    # GPDate results travel as epoch milliseconds; this client hands them back unconverted
    assert out.out_when == int(when.timestamp() * 1000)
    assert out.out_tags == ["a", "b c"]


def test_defaults_from_the_task_metadata_are_what_the_tool_receives(toolbox: Any) -> None:
    # the client sends every input: defaults as published, unset ones (when, tags) as ""
    out = call(toolbox.echo)
    assert (out.out_text, out.out_number, out.out_count, out.out_flag) == ("hello", 1.5, 1, False)
    assert out.out_when is None
    assert out.out_tags == []


def test_multiple_outputs_come_back_as_a_named_tuple(toolbox: Any) -> None:
    square = FeatureSet.from_dict({
        "geometryType": "esriGeometryPolygon", "spatialReference": {"wkid": 4326},
        "features": [{"geometry": {"rings": [[[10.0, 50.0], [10.0, 50.01], [10.01, 50.01], [10.01, 50.0],
                                               [10.0, 50.0]]]}, "attributes": {}}],
    })
    line = FeatureSet.from_dict({
        "geometryType": "esriGeometryPolyline", "spatialReference": {"wkid": 4326},
        "features": [{"geometry": {"paths": [[[10.0, 50.0], [10.0, 50.1]]]}, "attributes": {}}],
    })
    out = call(toolbox.summarize_features, input_features=line)
    assert out._fields == ("count", "total_length", "total_area", "extent")
    assert out.count == 1
    # 0.1 degree of latitude at 50 N is about 11.12 km on the ellipsoid
    assert isinstance(out.total_length, LinearUnit)
    length = out.total_length.to_dict()
    assert length["distance"] == pytest.approx(11_120, rel=0.005)
    assert length["units"].lower() == "esrimeters"       # the client title-cases it: "Esrimeters"
    assert isinstance(out.extent, FeatureSet) and len(out.extent.features) == 1
    xs = [x for x, _ in out.extent.features[0].geometry["rings"][0]]
    ys = [y for _, y in out.extent.features[0].geometry["rings"][0]]
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((10.0, 10.0, 50.0, 50.1))

    out = call(toolbox.summarize_features, input_features=square)
    # GPArealUnit has no class in the client: it comes back as the JSON object
    expected = geodesic_area_m2([[(10.0, 50.0), (10.0, 50.01), (10.01, 50.01), (10.01, 50.0), (10.0, 50.0)]])
    assert out.total_area["units"] == "esriSquareMeters"
    assert out.total_area["area"] == pytest.approx(expected, rel=0.005)


def test_two_feature_inputs(sync_tools: Any) -> None:
    line = FeatureSet.from_dict({
        "geometryType": "esriGeometryPolyline", "spatialReference": {"wkid": 4326},
        "features": [{"geometry": {"paths": [[[0.0, 0.5], [2.0, 0.5]]]}, "attributes": {"name": "road"}}],
    })
    box = FeatureSet.from_dict({
        "geometryType": "esriGeometryPolygon", "spatialReference": {"wkid": 4326},
        "features": [{"geometry": {"rings": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}, "attributes": {}}],
    })
    out = call(sync_tools.clip_features, input_features=line, clip_features=box)
    assert len(out.features) == 1
    assert out.features[0].attributes["name"] == "road"
    path = out.features[0].geometry["paths"][0]
    assert sorted(path) == [[0.0, 0.5], [1.0, 0.5]]


def test_asynchronous_project_reprojects_the_features(tools: Any) -> None:
    out = call(tools.project_features, input_features=points((10.0, 50.0)), out_wkid=3857)
    geometry = out.features[0].geometry
    assert geometry["x"] == pytest.approx(1113194.9, abs=0.5)
    assert geometry["y"] == pytest.approx(6446275.8, abs=0.5)
    assert out.spatial_reference["wkid"] == 3857


def test_env_out_spatial_reference_reprojects_feature_results(toolbox: Any, out_sr_3857: int) -> None:
    out = call(toolbox.buffer_features, input_features=points((10.0, 50.0)),
               distance=LinearUnit(500, "Meters"))
    assert out.spatial_reference["wkid"] == out_sr_3857
    rings = out.features[0].geometry["rings"]
    # Web Mercator metres: the circle is centred on (1113194.9, 6446275.8) ...
    assert centre_of([tuple(p) for p in rings[0]]) == pytest.approx((1113194.9, 6446275.8), abs=2)
    # ... and is still 500 m around the point on the ground
    lonlat = lonlat_rings(rings, out_sr_3857)
    assert geodesic_area_m2(lonlat) == pytest.approx(math.pi * 500 ** 2, rel=0.01)


def test_file_output_is_a_url_the_client_can_download(tools: Any) -> None:
    out = call(tools.write_report, input_features=points((1.0, 2.0), (3.0, 4.0)), title="Two points")
    assert isinstance(out, DataFile)
    url = out.to_dict()["url"]
    assert url.startswith("http://127.0.0.1:")
    text = httpx.get(url, timeout=10).text
    assert text.splitlines()[0] == "# Two points"
    rows = [line.split(",") for line in text.splitlines()[2:]]
    # the client numbers features itself (OBJECTID); ours keep their names and places
    assert [(r[0], r[1], r[2], r[-1]) for r in rows] == [("Point", "1.0", "2.0", "p0"), ("Point", "3.0", "4.0", "p1")]


# -- failures --------------------------------------------------------------------------------------

def test_a_failing_task_raises_with_the_tools_message(toolbox: Any) -> None:
    with pytest.raises(Exception) as exc:
        call(toolbox.fail, message="the river layer is empty")
    assert "the river layer is empty" in str(exc.value)


def test_an_invalid_input_raises_with_the_servers_explanation(sync_tools: Any) -> None:
    with pytest.raises(Exception) as exc:
        call(sync_tools.echo, count="many")
    assert "Invalid value for parameter 'count'" in str(exc.value)


def test_an_invalid_input_to_an_asynchronous_task_creates_no_job(tools: Any) -> None:
    # the server refuses the submitJob with an error body; this client indexes
    # body["jobId"] straight away, so the user sees KeyError('jobId'), not the details
    with pytest.raises(KeyError, match="jobId"):
        call(tools.echo, count="many")


# -- future=True -----------------------------------------------------------------------------------

def test_future_job_reports_status_messages_and_result(tools: Any, services: str) -> None:
    job = call(tools.slow, seconds=1.5, stages=3, future=True)
    try:
        assert call(lambda: job.status) in {"esriJobSubmitted", "esriJobExecuting", "esriJobSucceeded"}
        assert call(job.result) == "Finished 3 stages in 1.5 seconds"
        assert job.done() and not job.cancelled()
        assert call(lambda: job.status) == "esriJobSucceeded"
        descriptions = [m["description"] for m in call(lambda: job.messages)]
        assert [d for d in descriptions if d.startswith("Stage ")] == ["Stage 1 of 3", "Stage 2 of 3", "Stage 3 of 3"]
    finally:
        cancel_over_http(services, job_id_of(job))


def test_future_job_can_be_cancelled(tools: Any, services: str) -> None:
    job = call(tools.slow, seconds=30, stages=3, future=True)
    job_id = job_id_of(job)
    try:
        deadline = time.monotonic() + 20
        while (status := call(lambda: job.status)) != "esriJobExecuting":
            assert status == "esriJobSubmitted", f"unexpected status before cancel: {status}"
            assert time.monotonic() < deadline, "job never started"
            time.sleep(0.1)
        assert not job.done()
        assert call(job.cancel) is True
        assert job.cancelled()
        assert call(job.result) is None      # the client's answer for a cancelled job

        # the job really ends cancelled on the server, long before its 30 s
        deadline = time.monotonic() + 10
        while (body := http_job(services, job_id))["jobStatus"] != "esriJobCancelled":
            assert body["jobStatus"] in {"esriJobExecuting", "esriJobCancelling"}, body
            assert time.monotonic() < deadline, f"not cancelled on the server: {body['jobStatus']}"
            time.sleep(0.05)
        assert "results" not in body
        assert any("cancel" in m["description"].lower() for m in body["messages"]), body["messages"]
        assert "Stage 3 of 3" not in [m["description"] for m in body["messages"]]
    finally:
        cancel_over_http(services, job_id)


def test_the_client_logs_in_runs_a_restricted_task_and_owns_its_job(server, services: str) -> None:
    """The way spec/arcgis-clients.md says arcgis talks to a stand-alone server: EsriGenTokenAuth
    finds the token service in rest/info, then sends X-Esri-Authorization on every call."""
    from arcgis.auth import EsriGenTokenAuth, EsriSession

    from opengp.store.sql import SqlStore

    add_user(server.data_dir, "gis_analyst", "user", "analyst password")
    session = EsriSession(referer="http")
    session.auth = EsriGenTokenAuth(token_url=f"{server.url}/arcgis/tokens/generateToken", referer="http",
                                    username="gis_analyst", password="analyst password", session=session)
    toolbox = call(import_toolbox, f"{services}/Demo/Tools/GPServer", gis=session)
    job = call(toolbox.echo, text="with a token", gis=session, future=True)
    assert call(job.result).out_text == "with a token"
    store = SqlStore(server.store_url, migrate=False)     # SQLite, or a deployment's PostgreSQL
    try:
        assert store.get(job_id_of(job)).owner == "gis_analyst"
    finally:
        store.close()
    # Test/Members is open to role:user only: the logged-in client runs it, an anonymous one cannot
    members = call(import_toolbox, f"{services}/Test/Members/GPServer", gis=session)
    assert call(members.add, a=2, b=40, gis=session) == 42
    # (anonymous import_toolbox of it dies in the client with a RecursionError on the 499 body,
    # as spec/arcgis-clients.md describes; the server's answer is what we check)
    anonymous = httpx.get(f"{services}/Test/Members/GPServer", params={"f": "json"}).json()
    assert anonymous["error"]["code"] == 499
