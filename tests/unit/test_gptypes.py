"""GP data types: request values in, stored JSON, result JSON out."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from opengp import ArealUnit, DataFile, FeatureSet, LinearUnit, RasterData, RecordSet
from opengp.tools.gptypes import DumpEnv, InvalidValue, ParseEnv, gp_type_for

ENV = ParseEnv()


def parse(hint, raw):
    return gp_type_for(hint).parse(raw, ENV)


def dump(hint, value, env=DumpEnv()):
    return gp_type_for(hint).dump(value, env)


# -- scalars -------------------------------------------------------------------

def test_data_type_names_follow_arcgis():
    names = {hint: gp_type_for(hint).data_type for hint in
             (str, int, float, bool, datetime, LinearUnit, ArealUnit, DataFile, RasterData, FeatureSet,
              RecordSet, list[int])}
    assert names == {
        str: "GPString", int: "GPLong", float: "GPDouble", bool: "GPBoolean", datetime: "GPDate",
        LinearUnit: "GPLinearUnit", ArealUnit: "GPArealUnit", DataFile: "GPDataFile",
        RasterData: "GPRasterDataLayer", FeatureSet: "GPFeatureRecordSetLayer", RecordSet: "GPRecordSet",
        list[int]: "GPMultiValue:GPLong",
    }


@pytest.mark.parametrize("raw,value", [("345", 345), (" -7 ", -7), ("3.0", 3), (12, 12), (2.0, 2),
                                       ("2147483647", 2**31 - 1), ("-2147483648", -(2**31))])
def test_long_accepts_32_bit_integers(raw, value):
    assert parse(int, raw) == value


@pytest.mark.parametrize("raw", ["3.5", "abc", "", "2147483648", "-2147483649", True, 1.5, "1e400"])
def test_long_rejects_what_is_not_a_32_bit_integer(raw):
    with pytest.raises(InvalidValue):
        parse(int, raw)


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_long_round_trips_through_text(n):
    assert parse(int, str(n)) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_double_round_trips_through_text(x):
    assert parse(float, repr(x)) == x


@pytest.mark.parametrize("raw", ["nan", "inf", "-Infinity", "one", True])
def test_double_rejects_non_finite_and_non_numbers(raw):
    with pytest.raises(InvalidValue):
        parse(float, raw)


@pytest.mark.parametrize("raw,value", [("true", True), ("True", True), ("1", True), ("false", False),
                                       ("False", False), ("0", False), (True, True), (False, False)])
def test_boolean_accepts_what_clients_send(raw, value):
    assert parse(bool, raw) is value


def test_boolean_rejects_anything_else():
    with pytest.raises(InvalidValue, match="true or false"):
        parse(bool, "maybe")


def test_date_is_epoch_milliseconds_utc():
    when = parse(datetime, "1199145600000")
    assert when == datetime(2008, 1, 1, tzinfo=timezone.utc)
    assert gp_type_for(datetime).to_json(when) == 1199145600000
    assert parse(datetime, "2008-01-01T00:00:00Z") == when           # ISO for people typing
    assert dump(datetime, datetime(2008, 1, 1)) == 1199145600000      # naive means UTC


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.just(timezone.utc)))
def test_date_round_trips_to_the_millisecond(when):
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    gp = gp_type_for(datetime)
    assert gp.parse(gp.to_json(when), ENV) == when


def test_date_rejects_text_that_is_no_date():
    with pytest.raises(InvalidValue, match="epoch milliseconds"):
        parse(datetime, "yesterday")


def test_string_keeps_text_and_encodes_json_objects():
    assert parse(str, "héllo") == "héllo"
    assert parse(str, {"a": 1}) == '{"a":1}'


# -- multivalue ------------------------------------------------------------------

def test_multivalue_reads_json_arrays_and_semicolon_lists():
    assert parse(list[int], "[1, 2, 3]") == [1, 2, 3]
    assert parse(list[str], "a;b;c") == ["a", "b", "c"]
    assert parse(list[str], ["x"]) == ["x"]
    assert dump(list[datetime], [datetime(2008, 1, 1, tzinfo=timezone.utc)]) == [1199145600000]


def test_multivalue_names_the_bad_item():
    with pytest.raises(InvalidValue, match="item 1"):
        parse(list[int], "[1, \"two\"]")
    with pytest.raises(InvalidValue, match="JSON array"):
        parse(list[int], {"a": 1})


# -- units -----------------------------------------------------------------------

def test_linear_unit_in_and_out():
    unit = parse(LinearUnit, '{"distance": 345.678, "units": "esriMiles"}')
    assert unit == LinearUnit(345.678, "esriMiles")
    assert unit.meters == pytest.approx(345.678 * 1609.344)
    assert dump(LinearUnit, unit) == {"distance": 345.678, "units": "esriMiles"}


def test_areal_unit_in_and_out():
    unit = parse(ArealUnit, {"area": 12.5, "units": "esriSquareKilometers"})
    assert unit.square_meters == pytest.approx(12.5e6)
    assert dump(ArealUnit, unit) == {"area": 12.5, "units": "esriSquareKilometers"}


@pytest.mark.parametrize("raw,problem", [
    ('{"distance": 1, "units": "esriParsecs"}', "unknown linear unit"),
    ('{"units": "esriMeters"}', "missing 'distance'"),
    ("5", "JSON object"),
    ("{not json", "as JSON"),
])
def test_linear_unit_errors_say_what_is_wrong(raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(LinearUnit, raw)


# -- files -------------------------------------------------------------------------

def test_data_file_input_is_a_url():
    assert parse(DataFile, '{"url": "https://example.com/f.csv"}') == DataFile(url="https://example.com/f.csv")
    assert parse(RasterData, {"url": "https://x/r.tif", "format": "tif"}) == RasterData(url="https://x/r.tif",
                                                                                      format="tif")
    with pytest.raises(InvalidValue, match="itemID"):
        parse(DataFile, '{"itemID": "abc"}')
    with pytest.raises(InvalidValue, match="url"):
        parse(DataFile, "{}")


def test_file_outputs_become_urls_under_the_job_folder(tmp_path: Path):
    workdir = tmp_path / "job" / "scratch"
    (workdir / "sub").mkdir(parents=True)
    (workdir / "sub" / "out.csv").write_text("a,b\n")
    env = DumpEnv(workdir=workdir, files_url="http://h/arcgis/rest/directories/arcgisjobs/x_gpserver/j1/scratch")
    assert dump(DataFile, DataFile(path=workdir / "sub" / "out.csv"), env) == {
        "url": "http://h/arcgis/rest/directories/arcgisjobs/x_gpserver/j1/scratch/sub/out.csv"}
    (workdir / "dem.tif").write_bytes(b"II*\x00")
    assert dump(RasterData, RasterData(path=Path("dem.tif")), env)["format"] == "tif"


def test_file_outside_the_job_folder_is_copied_in(tmp_path: Path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("hello")
    workdir = tmp_path / "job" / "scratch"           # not created yet: the tool never used it
    env = DumpEnv(workdir=workdir, files_url="http://h/files")
    assert dump(DataFile, DataFile(path=outside), env) == {"url": "http://h/files/elsewhere.txt"}
    assert (workdir / "elsewhere.txt").read_text() == "hello"


def test_missing_output_file_is_a_clear_error(tmp_path: Path):
    env = DumpEnv(workdir=tmp_path, files_url="http://h/files")
    with pytest.raises(InvalidValue, match="does not exist"):
        dump(DataFile, DataFile(path=tmp_path / "nope.csv"), env)


# -- features ------------------------------------------------------------------------

POLYGON_WITH_HOLE = {
    # Esri order: exterior clockwise, hole counter-clockwise
    "rings": [[[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]],
              [[2, 2], [4, 2], [4, 4], [2, 4], [2, 2]]],
}


def feature_set(geometry_type, *geometries, wkid=4326):
    return {"geometryType": geometry_type, "spatialReference": {"wkid": wkid},
            "features": [{"geometry": g, "attributes": {"id": i}} for i, g in enumerate(geometries)]}


@pytest.mark.parametrize("geometry_type,geometry,expected", [
    ("esriGeometryPoint", {"x": 1.5, "y": 2.5}, Point(1.5, 2.5)),
    ("esriGeometryMultipoint", {"points": [[1, 2], [3, 4]]}, None),
    ("esriGeometryPolyline", {"paths": [[[0, 0], [1, 1], [2, 0]]]}, LineString([(0, 0), (1, 1), (2, 0)])),
    ("esriGeometryPolygon", POLYGON_WITH_HOLE, None),
])
def test_esri_features_round_trip(geometry_type, geometry, expected):
    fs = parse(FeatureSet, feature_set(geometry_type, geometry))
    if expected is not None:
        assert fs.geometries[0].equals(expected)
    out = dump(FeatureSet, fs)
    assert out["geometryType"] == geometry_type
    assert out["spatialReference"] == {"wkid": 4326}
    assert out["features"][0]["attributes"] == {"id": 0}
    assert parse(FeatureSet, out).geometries[0].equals(fs.geometries[0])
    assert out["exceededTransferLimit"] is False and out["hasZ"] is False


def test_polygon_holes_are_read_and_written_in_esri_ring_order():
    fs = parse(FeatureSet, feature_set("esriGeometryPolygon", POLYGON_WITH_HOLE))
    assert fs.geometries[0].area == pytest.approx(100 - 4)
    rings = dump(FeatureSet, fs)["features"][0]["geometry"]["rings"]
    exterior, hole = (Polygon(r).exterior for r in rings)
    assert not exterior.is_ccw and hole.is_ccw


def test_counter_clockwise_exteriors_from_sloppy_writers_are_still_polygons():
    ccw = {"rings": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    fs = parse(FeatureSet, feature_set("esriGeometryPolygon", ccw))
    assert fs.geometries[0].area == pytest.approx(1)


@given(st.lists(st.tuples(st.floats(-170, 170), st.floats(-80, 80), st.floats(0.01, 5)), min_size=1, max_size=4))
def test_random_polygons_survive_the_round_trip(squares):
    shapes = [Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)]) for x, y, d in squares]
    geometry = MultiPolygon(shapes) if len(shapes) > 1 else shapes[0]
    fs = FeatureSet.from_geometries([geometry])
    back = parse(FeatureSet, dump(FeatureSet, fs))
    assert back.geometries[0].area == pytest.approx(geometry.area)


def test_envelope_geometry_becomes_a_polygon():
    fs = parse(FeatureSet, feature_set("esriGeometryEnvelope", {"xmin": 0, "ymin": 0, "xmax": 2, "ymax": 3}))
    assert fs.geometries[0].area == 6


def test_geojson_is_accepted_on_input():
    fs = parse(FeatureSet, {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10, 50]}, "properties": {"n": 1}}]})
    assert fs.wkid == 4326 and fs.features[0].attributes == {"n": 1}
    assert parse(FeatureSet, '{"type": "Point", "coordinates": [1, 2]}').geometries[0].equals(Point(1, 2))


def test_out_sr_reprojects_feature_results():
    fs = FeatureSet.from_geometries([Point(10, 50)], [{"name": "a"}])
    out = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 3857}))
    point = out["features"][0]["geometry"]
    assert out["spatialReference"] == {"wkid": 3857}
    assert point["x"] == pytest.approx(1113194.91, abs=0.01)
    assert point["y"] == pytest.approx(6446275.84, abs=0.01)
    # Esri's own WKID for Web Mercator works too
    esri = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 102100}))
    assert esri["features"][0]["geometry"]["x"] == pytest.approx(point["x"])


def test_same_sr_is_left_alone():
    fs = FeatureSet.from_geometries([Point(1, 2)], sr={"wkid": 4326, "latestWkid": 4326})
    assert fs.to_sr(4326) is fs


@pytest.mark.parametrize("raw,problem", [
    ({"features": [{"geometry": {"foo": 1}}]}, "feature 0: bad geometry"),
    ({"features": [{"geometry": {"x": 1, "y": 2}}, "nope"]}, "feature 1 is not a JSON object"),
    ({"features": "many"}, "must be a JSON array"),
    ({"spatialReference": {"wkid": 999999}, "features": []}, "unknown spatial reference"),
    ({"url": "https://services/x/FeatureServer/0"}, "layer URLs are not supported"),
    ("[1, 2]", "JSON object"),
])
def test_bad_feature_sets_name_the_problem(raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(FeatureSet, raw)


def test_fields_are_inferred_from_attributes():
    fs = FeatureSet.from_geometries([Point(0, 0)], [{"OBJECTID": 1, "name": "a", "pop": 2.5, "ok": True,
                                                      "when": datetime(2008, 1, 1, tzinfo=timezone.utc)}])
    out = dump(FeatureSet, fs)
    types = {f["name"]: f["type"] for f in out["fields"]}
    assert types == {"OBJECTID": "esriFieldTypeOID", "name": "esriFieldTypeString",
                     "pop": "esriFieldTypeDouble", "ok": "esriFieldTypeSmallInteger",
                     "when": "esriFieldTypeDate"}
    assert out["features"][0]["attributes"]["when"] == 1199145600000


def test_record_set_in_and_out():
    rs = parse(RecordSet, {"fields": [{"name": "a", "type": "esriFieldTypeInteger"}],
                           "features": [{"attributes": {"a": 1}}, {"attributes": {"a": 2}}]})
    assert [r["a"] for r in rs] == [1, 2]
    out = dump(RecordSet, [{"a": 3}])
    assert out["features"] == [{"attributes": {"a": 3}}] and out["exceededTransferLimit"] is False
    with pytest.raises(InvalidValue, match="record 0"):
        parse(RecordSet, {"features": [{"geometry": {}}]})


# -- hints ---------------------------------------------------------------------------

@pytest.mark.parametrize("hint", [dict, list[list[int]], int | str, complex])
def test_unpublishable_hints_are_refused(hint):
    with pytest.raises(TypeError):
        gp_type_for(hint)


def test_defaults_are_described_in_wire_form():
    assert gp_type_for(LinearUnit).describe_default(LinearUnit(100)) == {"distance": 100, "units": "esriMeters"}
    assert gp_type_for(str).describe_default(None) == ""
    assert gp_type_for(int).describe_default(None) is None
    assert gp_type_for(datetime).describe_default(datetime(2008, 1, 1, tzinfo=timezone.utc)) == 1199145600000
    assert math.isclose(gp_type_for(float).describe_default(1.5), 1.5)
    assert gp_type_for(list[str]).describe_default(("a",)) == ["a"]
