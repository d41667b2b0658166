"""The demo tools are plain functions: call them as Python, check the geography.

Areas and lengths are checked geodesically (pyproj.Geod on the WGS84
ellipsoid), independently of how the tools measure.  Tools that need a
JobContext get a real one on a MemoryStore; their buffered messages are read
back with ``take_pending``.
"""
from __future__ import annotations

import csv
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from opengp import DataFile, FeatureSet, JobContext, LinearUnit
from opengp.store import MemoryStore
from opengp.toolboxes import demo
from opengp.tools.gptypes import DumpEnv, gp_type_for

GEOD = Geod(ellps="WGS84")


def geodesic_area(geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geometry)[0])


def texts(ctx: JobContext) -> list[str]:
    return [m.text for m in ctx.take_pending()[0]]


@pytest.fixture
def ctx(tmp_path: Path) -> JobContext:
    return JobContext("j1", MemoryStore(), tmp_path / "scratch")


# -- BufferFeatures ------------------------------------------------------------------

def test_buffer_of_a_point_is_a_circle_of_that_radius_on_the_ground():
    out = demo.buffer_features(FeatureSet.from_geometries([Point(10, 50)], [{"name": "a"}]),
                               LinearUnit(500, "esriMeters"))
    (feature,) = out.features
    assert feature.attributes == {"name": "a"}
    assert geodesic_area(feature.geometry) == pytest.approx(math.pi * 500**2, rel=0.01)
    assert feature.geometry.centroid.distance(Point(10, 50)) < 1e-6
    assert out.wkid == 4326 and out.geometry_type == "esriGeometryPolygon"


def test_buffer_area_in_a_metric_crs():
    # the same check measured in a local equal-area projection (LAEA at the point) instead of on the ellipsoid
    out = demo.buffer_features(FeatureSet.from_geometries([Point(10, 50)]), LinearUnit(500))
    laea = Transformer.from_crs(4326, "+proj=laea +lat_0=50 +lon_0=10 +datum=WGS84 +units=m", always_xy=True)
    projected = shapely.transform(out.geometries[0], lambda c: np.column_stack(laea.transform(c[:, 0], c[:, 1])))
    assert projected.area == pytest.approx(math.pi * 500**2, rel=0.01)


@pytest.mark.parametrize("where", [(10, 50), (150, -30), (-70, 75), (179.9, 0)])
def test_buffers_are_true_wherever_the_features_are(where):
    # features on both sides of the world in one set: each buffer is still a 500 m circle
    points = [Point(*where), Point(-where[0] / 2, -where[1] / 3)]
    out = demo.buffer_features(FeatureSet.from_geometries(points), LinearUnit(500))
    for geometry in out.geometries:
        assert geodesic_area(geometry) == pytest.approx(math.pi * 500**2, rel=0.01)


def test_buffer_units_are_converted():
    miles = demo.buffer_features(FeatureSet.from_geometries([Point(0, 0)]), LinearUnit(1, "esriMiles"))
    assert geodesic_area(miles.features[0].geometry) == pytest.approx(math.pi * 1609.344**2, rel=0.01)


def test_buffer_of_a_line_and_of_a_projected_input():
    line = LineString([(10, 50), (10, 50.01)])                    # ~1112 m long
    out = demo.buffer_features(FeatureSet.from_geometries([line]), LinearUnit(100))
    expected = 2 * 100 * GEOD.geometry_length(line) + math.pi * 100**2
    assert geodesic_area(out.geometries[0]) == pytest.approx(expected, rel=0.01)
    # input in Web Mercator: the distance is still metres on the ground, not Mercator metres
    mercator = demo.project_features(FeatureSet.from_geometries([Point(10, 60)]), 3857)
    buffered = demo.buffer_features(mercator, LinearUnit(500))
    assert buffered.wkid == 3857
    back = demo.project_features(buffered, 4326)
    assert geodesic_area(back.geometries[0]) == pytest.approx(math.pi * 500**2, rel=0.01)


def test_dissolve_merges_overlapping_buffers():
    near = FeatureSet.from_geometries([Point(10, 50), Point(10.001, 50)])      # ~72 m apart
    apart = demo.buffer_features(near, LinearUnit(100))
    merged = demo.buffer_features(near, LinearUnit(100), dissolve=True)
    assert len(apart) == 2 and len(merged) == 1
    assert merged.features[0].attributes == {"count": 2}
    assert merged.geometries[0].geom_type == "Polygon"
    union_area = geodesic_area(merged.features[0].geometry)
    assert max(geodesic_area(g) for g in apart.geometries) < union_area < sum(geodesic_area(g) for g in apart.geometries)


def test_dissolve_keeps_separate_buffers_as_parts_of_one_feature():
    far = FeatureSet.from_geometries([Point(10, 50), Point(11, 50)])
    merged = demo.buffer_features(far, LinearUnit(100), dissolve=True)
    assert len(merged) == 1 and merged.geometries[0].geom_type == "MultiPolygon"
    assert len(merged.geometries[0].geoms) == 2


def test_dissolve_of_nothing_is_an_empty_feature_set():
    out = demo.buffer_features(FeatureSet.from_geometries([]), LinearUnit(100), dissolve=True)
    assert len(out) == 0
    assert gp_type_for(FeatureSet).dump(out, DumpEnv())["features"] == []


def test_buffer_reports_its_stage_and_progress(ctx: JobContext):
    demo.buffer_features(FeatureSet.from_geometries([Point(0, 0)]), LinearUnit(10), ctx=ctx)
    messages, progress = ctx.take_pending()
    assert [m.text for m in messages] == ["Buffering"]
    assert progress.percent == 100 and progress.stage == "Buffering"


def test_buffer_of_an_invalid_polygon_does_not_crash():
    bowtie = Polygon([(0, 0), (0.01, 0.01), (0.01, 0), (0, 0.01), (0, 0)])
    out = demo.buffer_features(FeatureSet.from_geometries([bowtie]), LinearUnit(10))
    assert out.geometries[0].is_valid
    assert out.geometries[0].contains(Point(0.001, 0.005)) and out.geometries[0].contains(Point(0.009, 0.005))


# -- ProjectFeatures -------------------------------------------------------------------

def test_project_to_web_mercator():
    out = demo.project_features(FeatureSet.from_geometries([Point(10, 50)], [{"k": 1}]), 3857)
    assert out.wkid == 3857 and out.features[0].attributes == {"k": 1}
    assert out.geometries[0].x == pytest.approx(1113194.91, abs=0.01)
    assert out.geometries[0].y == pytest.approx(6446275.84, abs=0.01)


def test_project_by_esri_wkid_and_back():
    there = demo.project_features(FeatureSet.from_geometries([box(10, 50, 11, 51)]), 102100)
    assert there.spatial_reference == {"wkid": 102100}
    assert there.geometries[0].bounds == pytest.approx((1113194.91, 6446275.84, 1224514.40, 6621293.72), abs=0.01)
    back = demo.project_features(there, 4326)
    assert back.geometries[0].equals_exact(box(10, 50, 11, 51), tolerance=1e-9)


def test_project_to_an_unknown_wkid_fails_with_a_message():
    with pytest.raises(ValueError, match="unknown spatial reference wkid 999999"):
        demo.project_features(FeatureSet.from_geometries([Point(10, 50)]), 999999)


# -- ClipFeatures ------------------------------------------------------------------------

def test_clip_keeps_only_what_lies_inside():
    lines = FeatureSet.from_geometries([LineString([(0, 0), (10, 0)]), LineString([(20, 20), (30, 20)])],
                                       [{"k": 1}, {"k": 2}])
    clip = FeatureSet.from_geometries([box(-1, -1, 5, 1)])
    out = demo.clip_features(lines, clip)
    assert [f.attributes for f in out] == [{"k": 1}]
    assert out.geometries[0].equals(LineString([(0, 0), (5, 0)]))


def test_clip_cuts_polygons_to_the_clip_area():
    polygons = FeatureSet.from_geometries([box(0, 0, 4, 4), box(10, 10, 11, 11)], [{"k": 1}, {"k": 2}])
    out = demo.clip_features(polygons, FeatureSet.from_geometries([box(2, 2, 6, 6), box(3, -1, 5, 1)]))
    assert [f.attributes for f in out] == [{"k": 1}]
    assert out.geometries[0].equals(box(2, 2, 4, 4).union(box(3, 0, 4, 1)))
    assert out.geometry_type == "esriGeometryPolygon"


def test_clip_drops_what_only_touches_the_clip_edge():
    # a polygon sharing an edge with the clip polygon, a line touching it at one point
    touching = FeatureSet.from_geometries([box(1, 0, 2, 1), box(0.5, 0, 1.5, 1)])
    out = demo.clip_features(touching, FeatureSet.from_geometries([box(0, 0, 1, 1)]))
    assert [g.geom_type for g in out.geometries] == ["Polygon"]           # no stray LineString
    assert out.geometries[0].equals(box(0.5, 0, 1, 1))
    lines = FeatureSet.from_geometries([LineString([(1, 0.5), (3, 0.5)])])
    assert len(demo.clip_features(lines, FeatureSet.from_geometries([box(0, 0, 1, 1)]))) == 0
    dumped = gp_type_for(FeatureSet).dump(out, DumpEnv())
    assert list(dumped["features"][0]["geometry"]) == ["rings"]


def test_clip_of_multipoints_keeps_them_multipoints():
    points = FeatureSet.from_geometries([MultiPoint([(0.5, 0.5), (5, 5)])])
    points.geometry_type = "esriGeometryMultipoint"
    out = demo.clip_features(points, FeatureSet.from_geometries([box(0, 0, 1, 1)]))
    assert out.geometries[0].equals(MultiPoint([(0.5, 0.5)])) and out.geometries[0].geom_type == "MultiPoint"


def test_clip_polygons_in_another_sr_are_projected_first():
    points = FeatureSet.from_geometries([Point(10, 50), Point(11, 50)])
    clip = demo.project_features(FeatureSet.from_geometries([box(9.5, 49.5, 10.5, 50.5)]), 3857)
    out = demo.clip_features(points, clip)
    assert [g.x for g in out.geometries] == [10] and out.wkid == 4326


def test_clip_needs_polygons_to_clip_with():
    points = FeatureSet.from_geometries([Point(0, 0)])
    with pytest.raises(ValueError, match="no polygons"):
        demo.clip_features(points, FeatureSet.from_geometries([LineString([(0, 0), (1, 1)])]))


def test_clip_by_an_invalid_polygon_does_not_crash():
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])          # two triangles, touching at the middle
    points = FeatureSet.from_geometries([Point(0.1, 0.5), Point(0.5, 0.1), Point(0.9, 0.5)])
    out = demo.clip_features(points, FeatureSet.from_geometries([bowtie]))
    assert sorted(g.x for g in out.geometries) == [0.1, 0.9]


# -- SummarizeFeatures ----------------------------------------------------------------------

def test_summarize_counts_and_measures():
    line = LineString([(10, 50), (10, 50.1)])
    square = box(10, 50, 10.01, 50.01)
    fs = FeatureSet.from_geometries([line, square, None])
    out = demo.summarize_features(fs)
    assert out.count == 3                                        # a row without geometry still counts
    assert out.total_length.units == "esriMeters"
    assert out.total_length.meters == pytest.approx(11_120, rel=0.005)   # 0.1 degree of latitude at 50 N
    assert out.total_length.meters == pytest.approx(GEOD.geometry_length(line), abs=0.01)
    assert out.total_area.units == "esriSquareMeters"
    assert out.total_area.square_meters == pytest.approx(geodesic_area(square), rel=1e-6)
    (extent,) = out.extent.geometries
    assert extent.equals(box(10, 50, 10.01, 50.1))
    assert out.extent.spatial_reference == {"wkid": 4326}


def test_summarize_adds_up_features_far_apart():
    squares = [box(10, 50, 10.01, 50.01), box(-120, -40, -119.99, -39.99)]
    out = demo.summarize_features(FeatureSet.from_geometries(squares))
    assert out.total_area.square_meters == pytest.approx(sum(geodesic_area(s) for s in squares), rel=1e-6)


def test_summarize_subtracts_holes_and_measures_projected_input():
    with_hole = Polygon(box(10, 50, 10.1, 50.1).exterior.coords, [box(10.02, 50.02, 10.04, 50.04).exterior.coords])
    expected = geodesic_area(box(10, 50, 10.1, 50.1)) - geodesic_area(box(10.02, 50.02, 10.04, 50.04))
    assert demo.summarize_features(FeatureSet.from_geometries([with_hole])).total_area.square_meters == (
        pytest.approx(expected, rel=1e-6))
    mercator = demo.project_features(FeatureSet.from_geometries([with_hole]), 3857)
    assert demo.summarize_features(mercator).total_area.square_meters == pytest.approx(expected, rel=1e-4)


def test_summarize_of_nothing():
    out = demo.summarize_features(FeatureSet.from_geometries([]))
    assert (out.count, out.total_length.meters, out.total_area.square_meters, len(out.extent)) == (0, 0, 0, 0)


def test_summary_outputs_travel_as_their_gp_types():
    out = demo.summarize_features(FeatureSet.from_geometries([box(0, 0, 1, 1)]))
    assert gp_type_for(LinearUnit).dump(out.total_length, DumpEnv()) == {"distance": 0.0, "units": "esriMeters"}
    extent = gp_type_for(FeatureSet).dump(out.extent, DumpEnv())
    assert extent["geometryType"] == "esriGeometryPolygon"


# -- Fail, Echo, Slow, WriteReport ------------------------------------------------------------

def test_fail_raises_its_message():
    with pytest.raises(RuntimeError, match="^broken on purpose$"):
        demo.fail("broken on purpose")
    with pytest.raises(RuntimeError, match="This tool always fails."):
        demo.fail()


def test_fail_warns_first(ctx: JobContext):
    with pytest.raises(RuntimeError):
        demo.fail("x", ctx=ctx)
    assert texts(ctx) == ["About to fail on purpose."]


def test_echo_returns_its_inputs():
    when = datetime(2008, 1, 1, tzinfo=timezone.utc)
    out = demo.echo("hi", 2.5, 3, True, when, ["a"])
    assert (out.out_text, out.out_number, out.out_count, out.out_flag, out.out_when, out.out_tags) == (
        "hi", 2.5, 3, True, when, ["a"])


def test_echo_defaults_and_messages(ctx: JobContext):
    out = demo.echo(ctx=ctx)
    assert (out.out_text, out.out_number, out.out_count, out.out_flag, out.out_when, out.out_tags) == (
        "hello", 1.5, 1, False, None, [])
    assert texts(ctx) == ["Echoing 'hello'"]


def test_slow_reports_stages_and_stops_when_cancelled(ctx: JobContext):
    assert demo.slow(0.01, 2, ctx=ctx) == "Finished 2 stages in 0.01 seconds"
    messages, progress = ctx.take_pending()
    assert [m.text for m in messages] == ["Stage 1 of 2", "Stage 2 of 2"]
    assert progress.percent == 100
    ctx.request_cancel()
    assert demo.slow(10, 1, ctx=ctx) == "cancelled"


def test_write_report_writes_a_csv_in_the_work_folder(ctx: JobContext):
    fs = FeatureSet.from_geometries([Point(10, 50), None], [{"name": "a"}, {"name": "b", "n": 1}])
    out = demo.write_report(fs, "My report", ctx=ctx)
    assert isinstance(out, DataFile) and out.path == ctx.workdir / "report.csv"
    rows = list(csv.reader(out.path.open()))
    assert rows == [["# My report"], ["geometry_type", "centroid_x", "centroid_y", "n", "name"],
                    ["Point", "10.0", "50.0", "", "a"], ["", "", "", "1", "b"]]
    assert texts(ctx) == ["Wrote 2 rows to report.csv"]
    url = "http://h/arcgis/rest/directories/arcgisjobs/demo/tools_gpserver/j1/scratch"
    assert gp_type_for(DataFile).dump(out, DumpEnv(workdir=ctx.workdir, files_url=url)) == {
        "url": f"{url}/report.csv"}
