"""The demo tools are plain functions: call them as Python, check the geography."""
from __future__ import annotations

import math

import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box

from opengp import FeatureSet, LinearUnit
from opengp.toolboxes import demo

GEOD = Geod(ellps="WGS84")


def geodesic_area(geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geometry)[0])


def test_buffer_of_a_point_is_a_circle_of_that_radius_on_the_ground():
    out = demo.buffer_features(FeatureSet.from_geometries([Point(10, 50)], [{"name": "a"}]),
                               LinearUnit(500, "esriMeters"))
    (feature,) = out.features
    assert feature.attributes == {"name": "a"}
    assert geodesic_area(feature.geometry) == pytest.approx(math.pi * 500**2, rel=0.01)
    assert feature.geometry.centroid.distance(Point(10, 50)) < 1e-6


def test_buffer_units_are_converted():
    miles = demo.buffer_features(FeatureSet.from_geometries([Point(0, 0)]), LinearUnit(1, "esriMiles"))
    assert geodesic_area(miles.features[0].geometry) == pytest.approx(math.pi * 1609.344**2, rel=0.01)


def test_dissolve_merges_overlapping_buffers():
    near = FeatureSet.from_geometries([Point(10, 50), Point(10.001, 50)])      # ~72 m apart
    apart = demo.buffer_features(near, LinearUnit(100))
    merged = demo.buffer_features(near, LinearUnit(100), dissolve=True)
    assert len(apart) == 2 and len(merged) == 1
    assert merged.features[0].attributes == {"count": 2}
    assert geodesic_area(merged.features[0].geometry) < sum(geodesic_area(f.geometry) for f in apart)


def test_project_to_web_mercator():
    out = demo.project_features(FeatureSet.from_geometries([Point(10, 50)]), 3857)
    assert out.wkid == 3857
    assert out.geometries[0].x == pytest.approx(1113194.91, abs=0.01)
    assert out.geometries[0].y == pytest.approx(6446275.84, abs=0.01)


def test_clip_keeps_only_what_lies_inside():
    lines = FeatureSet.from_geometries([LineString([(0, 0), (10, 0)]), LineString([(20, 20), (30, 20)])],
                                       [{"k": 1}, {"k": 2}])
    clip = FeatureSet.from_geometries([box(-1, -1, 5, 1)])
    out = demo.clip_features(lines, clip)
    assert [f.attributes for f in out] == [{"k": 1}]
    assert out.geometries[0].length == pytest.approx(5)


def test_clip_polygons_in_another_sr_are_projected_first():
    points = FeatureSet.from_geometries([Point(10, 50), Point(11, 50)])
    clip = demo.project_features(FeatureSet.from_geometries([box(9.5, 49.5, 10.5, 50.5)]), 3857)
    assert [g.x for g in demo.clip_features(points, clip).geometries] == [10]


def test_summarize_counts_and_measures():
    fs = FeatureSet.from_geometries([LineString([(10, 50), (10, 50.1)]), box(10, 50, 10.01, 50.01)])
    out = demo.summarize_features(fs)
    assert out.count == 2
    assert out.total_length.meters == pytest.approx(11_120, rel=0.005)
    assert out.total_area.square_meters == pytest.approx(geodesic_area(box(10, 50, 10.01, 50.01)), rel=0.01)
    assert out.extent.geometries[0].bounds == pytest.approx((10, 50, 10.01, 50.1))


def test_fail_raises_its_message():
    with pytest.raises(RuntimeError, match="broken on purpose"):
        demo.fail("broken on purpose")


def test_echo_returns_its_inputs():
    out = demo.echo("hi", 2.5, 3, True, None, ["a"])
    assert (out.out_text, out.out_number, out.out_count, out.out_flag, out.out_tags) == ("hi", 2.5, 3, True, ["a"])
