"""GP data types: request values in, stored JSON, result JSON out (docs/gp-types.md)."""
from __future__ import annotations

import math
import typing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import (
    LinearRing, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, box,
)

from opengp import ArealUnit, DataFile, FeatureSet, LinearUnit, RasterData, RecordSet
from opengp.tools.gptypes import DumpEnv, InvalidValue, ParseEnv, gp_type_for

ENV = ParseEnv()
UTC = timezone.utc
JAN_2008 = datetime(2008, 1, 1, tzinfo=UTC)
JAN_2008_MS = 1199145600000


def parse(hint, raw):
    return gp_type_for(hint).parse(raw, ENV)


def dump(hint, value, env=DumpEnv()):
    return gp_type_for(hint).dump(value, env)


def stored(hint, raw):
    """What a job keeps (parse -> to_json) after a JSON round trip, read back as the tool sees it."""
    gp = gp_type_for(hint)
    return gp.parse(orjson.loads(orjson.dumps(gp.to_json(gp.parse(raw, ENV)))), ENV)


# -- hints -> types ------------------------------------------------------------------

@pytest.mark.parametrize("hint,data_type", [
    (str, "GPString"), (int, "GPLong"), (float, "GPDouble"), (bool, "GPBoolean"), (datetime, "GPDate"),
    (LinearUnit, "GPLinearUnit"), (ArealUnit, "GPArealUnit"), (DataFile, "GPDataFile"),
    (RasterData, "GPRasterDataLayer"), (FeatureSet, "GPFeatureRecordSetLayer"), (RecordSet, "GPRecordSet"),
    (list[int], "GPMultiValue:GPLong"), (list[str], "GPMultiValue:GPString"),
    (list[datetime], "GPMultiValue:GPDate"), (list[FeatureSet], "GPMultiValue:GPFeatureRecordSetLayer"),
    (typing.List[float], "GPMultiValue:GPDouble"),
])
def test_every_hint_has_the_arcgis_data_type(hint, data_type):
    assert gp_type_for(hint).data_type == data_type


@pytest.mark.parametrize("hint,problem", [
    (dict, "cannot be published"),
    (dict[str, int], "cannot be published"),
    (list[list[int]], "nested lists"),
    (int | str, "union"),
    (typing.Union[int, float], "union"),
    (typing.Optional[int], "union"),          # Optional is the parameter's business (params.py), not a type
    (list[int | None], "union"),
    (complex, "cannot be published"),
    (bytes, "cannot be published"),
])
def test_unpublishable_hints_are_refused_with_a_reason(hint, problem):
    with pytest.raises(TypeError, match=problem):
        gp_type_for(hint)


# -- GPString --------------------------------------------------------------------------

def test_string_keeps_text_as_sent():
    assert parse(str, "héllo wörld ") == "héllo wörld "
    assert parse(str, "a;b") == "a;b"
    assert parse(str, "") == ""


def test_string_turns_other_values_into_text():
    assert parse(str, 12) == "12"
    assert parse(str, {"a": 1}) == '{"a":1}'          # JSON a client decoded for us is re-encoded
    assert parse(str, [1, "x"]) == '[1,"x"]'
    assert dump(str, 2.5) == "2.5"


def test_string_default_is_described_as_empty_text():
    assert gp_type_for(str).describe_default(None) == ""
    assert gp_type_for(str).describe_default("x") == "x"


# -- GPLong ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,value", [
    ("345", 345), (" -7 ", -7), ("+8", 8), ("3.0", 3), ("1e3", 1000), (12, 12), (2.0, 2),
    ("2147483647", 2**31 - 1), ("-2147483648", -(2**31)), ("-0002147483648", -(2**31)), (0, 0), ("000", 0),
])
def test_long_accepts_32_bit_integers(raw, value):
    got = parse(int, raw)
    assert got == value and type(got) is int


@pytest.mark.parametrize("raw", [
    "3.5", 1.5, "abc", "", " ", "1_000", "١٢٣", "0x10", "nan", "inf", "1e400", float("nan"), None, [1], {"a": 1},
])
def test_long_rejects_what_is_not_an_integer(raw):
    with pytest.raises(InvalidValue, match="expected an integer"):
        parse(int, raw)


@pytest.mark.parametrize("raw", [True, False])
def test_long_rejects_booleans(raw):
    with pytest.raises(InvalidValue, match="integer"):
        parse(int, raw)


@pytest.mark.parametrize("raw", ["2147483648", "-2147483649", 2**31, "1e10", 1e10, "9" * 5000])
def test_long_rejects_what_does_not_fit_32_bits(raw):
    with pytest.raises(InvalidValue, match="32-bit"):
        parse(int, raw)


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_long_round_trips(n):
    assert parse(int, str(n)) == n
    assert parse(int, float(n)) == n
    assert stored(int, str(n)) == n
    assert dump(int, n) == n


@given(st.integers().filter(lambda n: not -(2**31) <= n < 2**31))
def test_long_refuses_every_integer_outside_32_bits(n):
    with pytest.raises(InvalidValue):
        parse(int, str(n))


# -- GPDouble ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,value", [
    ("1.414", 1.414), (" -0.25 ", -0.25), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("-1.5E-3", -0.0015),
    (3, 3.0), (2.5, 2.5),
])
def test_double_accepts_numbers(raw, value):
    got = parse(float, raw)
    assert got == value and type(got) is float


@pytest.mark.parametrize("raw", [
    "nan", "NaN", "inf", "-Infinity", "1e400", float("nan"), float("inf"), -float("inf"),
])
def test_double_rejects_nan_and_infinity(raw):
    with pytest.raises(InvalidValue, match="finite"):
        parse(float, raw)


@pytest.mark.parametrize("raw", ["one", "", "1,5", "1_0.5", "١.٥", True, None, [1.0], 10**400])
def test_double_rejects_non_numbers(raw):
    with pytest.raises(InvalidValue):
        parse(float, raw)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_double_round_trips_exactly(x):
    assert parse(float, repr(x)) == x
    assert stored(float, repr(x)) == x
    assert dump(float, x) == x


# -- GPBoolean -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,value", [
    ("true", True), ("True", True), ("TRUE", True), (" true ", True), ("1", True), ("yes", True), (1, True),
    ("false", False), ("False", False), ("0", False), ("no", False), (0, False),
    (True, True), (False, False),
])
def test_boolean_accepts_what_clients_send(raw, value):
    assert parse(bool, raw) is value


@pytest.mark.parametrize("raw", ["maybe", "2", "", "truthy", None, 2])
def test_boolean_rejects_anything_else(raw):
    with pytest.raises(InvalidValue, match="true or false"):
        parse(bool, raw)


def test_boolean_results_are_json_booleans():
    assert dump(bool, True) is True
    assert orjson.dumps(dump(bool, False)) == b"false"


# -- GPDate ----------------------------------------------------------------------------------

def test_date_is_epoch_milliseconds_utc():
    when = parse(datetime, str(JAN_2008_MS))
    assert when == JAN_2008 and when.tzinfo is UTC
    assert parse(datetime, JAN_2008_MS) == JAN_2008                      # JSON number, as stored
    assert gp_type_for(datetime).to_json(when) == JAN_2008_MS
    assert dump(datetime, JAN_2008) == JAN_2008_MS


def test_date_keeps_milliseconds_and_dates_before_1970():
    assert parse(datetime, "1199145600001") == JAN_2008 + timedelta(milliseconds=1)
    assert parse(datetime, "-1") == datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert parse(datetime, "-2208988800000") == datetime(1900, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", [
    "2008-01-01T00:00:00Z", "2008-01-01T00:00:00+00:00", "2008-01-01T01:00:00+01:00",
    "2007-12-31T19:00:00-05:00", "2008-01-01T00:00:00", "2008-01-01",
])
def test_date_accepts_iso_8601_as_utc(text):
    when = parse(datetime, text)
    assert when == JAN_2008
    assert when.utcoffset() == timedelta(0)          # aware, and in UTC whatever offset was sent


def test_date_from_python_is_normalized_to_utc():
    cet = timezone(timedelta(hours=1))
    assert parse(datetime, datetime(2008, 1, 1, 1, tzinfo=cet)).tzinfo is UTC
    assert dump(datetime, datetime(2008, 1, 1)) == JAN_2008_MS                # naive means UTC
    assert dump(datetime, datetime(2008, 1, 1, 1, tzinfo=cet)) == JAN_2008_MS


@pytest.mark.parametrize("raw,problem", [
    ("yesterday", "epoch milliseconds or an ISO 8601 date"),
    ("", "epoch milliseconds"),
    (True, "epoch milliseconds"),
    ("1e20", "not a representable date"),
    ("nan", "not a representable date"),
    (float("inf"), "not a representable date"),
])
def test_date_rejects_what_is_no_date(raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(datetime, raw)


@given(st.integers(min_value=-62135596800000, max_value=253402300799999))   # years 1 to 9999
def test_date_round_trips_every_millisecond(ms):
    gp = gp_type_for(datetime)
    when = gp.parse(str(ms), ENV)
    assert when.tzinfo is UTC and when.microsecond % 1000 == 0
    assert gp.to_json(when) == ms


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_date_round_trips_to_the_millisecond(when):
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)
    assert stored(datetime, when) == when


# -- GPMultiValue ---------------------------------------------------------------------------------

def test_multivalue_reads_json_arrays():
    assert parse(list[int], "[1, 2, 3]") == [1, 2, 3]
    assert parse(list[str], '["a;b", "c"]') == ["a;b", "c"]
    assert parse(list[str], ["x"]) == ["x"]
    assert parse(list[float], "[]") == []


def test_multivalue_reads_semicolon_lists_as_html_forms_send_them():
    assert parse(list[str], "a;b;c") == ["a", "b", "c"]
    assert parse(list[int], "1;2") == [1, 2]
    assert parse(list[str], "single") == ["single"]
    assert parse(list[bool], "true;0") == [True, False]


def test_multivalue_members_are_parsed_and_written_by_their_type():
    assert parse(list[datetime], f"[{JAN_2008_MS}]") == [JAN_2008]
    assert dump(list[datetime], [JAN_2008]) == [JAN_2008_MS]
    assert stored(list[LinearUnit], '[{"distance": 1, "units": "esriMiles"}]') == [LinearUnit(1, "esriMiles")]
    fs = parse(list[FeatureSet], '[{"features": [{"geometry": {"x": 1, "y": 2}}]}, {"features": []}]')
    assert [len(f) for f in fs] == [1, 0]


@pytest.mark.parametrize("hint,raw,problem", [
    (list[int], '[1, "two"]', "item 1: expected an integer, got 'two'"),
    (list[int], "1;2;x", "item 2: expected an integer"),
    (list[float], "[1, NaN]", "JSON"),                      # not JSON at all
    (list[datetime], '[0, "soon"]', "item 1"),
    (list[LinearUnit], '[{"distance": 1, "units": "esriFurlongs"}]', "item 0: unknown linear unit"),
])
def test_multivalue_errors_name_the_item(hint, raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(hint, raw)


@pytest.mark.parametrize("raw", [{"a": 1}, 5, "[1, 2"])
def test_multivalue_needs_an_array(raw):
    with pytest.raises(InvalidValue, match="JSON array"):
        parse(list[int], raw)


def test_multivalue_default_is_a_json_array():
    assert gp_type_for(list[str]).describe_default(("a", "b")) == ["a", "b"]
    assert gp_type_for(list[str]).describe_default(None) is None


# -- GPLinearUnit / GPArealUnit -------------------------------------------------------------------

@pytest.mark.parametrize("units,meters", [
    ("esriMeters", 1.0), ("esriKilometers", 1000.0), ("esriCentimeters", 0.01), ("esriMillimeters", 0.001),
    ("esriDecimeters", 0.1), ("esriFeet", 0.3048), ("esriInches", 0.0254), ("esriYards", 0.9144),
    ("esriMiles", 1609.344), ("esriNauticalMiles", 1852.0), ("esriUSSurveyFeet", 0.3048006096),
])
def test_linear_units_convert_to_metres(units, meters):
    unit = parse(LinearUnit, {"distance": 2, "units": units})
    assert unit.meters == pytest.approx(2 * meters, rel=1e-9)


@pytest.mark.parametrize("units,square_meters", [
    ("esriSquareMeters", 1.0), ("esriSquareKilometers", 1e6), ("esriHectares", 1e4), ("esriAres", 100.0),
    ("esriAcres", 4046.8564224), ("esriSquareFeet", 0.3048**2), ("esriSquareYards", 0.9144**2),
    ("esriSquareMiles", 1609.344**2), ("esriSquareInches", 0.0254**2), ("esriSquareCentimeters", 1e-4),
    ("esriSquareMillimeters", 1e-6), ("esriSquareDecimeters", 0.01),
])
def test_areal_units_convert_to_square_metres(units, square_meters):
    unit = parse(ArealUnit, {"area": 3, "units": units})
    assert unit.square_meters == pytest.approx(3 * square_meters, rel=1e-9)


def test_linear_unit_in_and_out():
    unit = parse(LinearUnit, '{"distance": 345.678, "units": "esriMiles"}')
    assert unit == LinearUnit(345.678, "esriMiles")
    assert dump(LinearUnit, unit) == {"distance": 345.678, "units": "esriMiles"}
    assert stored(LinearUnit, '{"distance": "5", "units": "esriFeet"}') == LinearUnit(5.0, "esriFeet")


def test_areal_unit_in_and_out():
    unit = parse(ArealUnit, '{"area": 12.5, "units": "esriSquareKilometers"}')
    assert unit == ArealUnit(12.5, "esriSquareKilometers")
    assert dump(ArealUnit, unit) == {"area": 12.5, "units": "esriSquareKilometers"}


@pytest.mark.parametrize("units", ["Esrimeters", "esrimeters", "meters", " ESRIMETERS "])
def test_unit_names_are_matched_without_regard_to_case_or_the_esri_prefix(units):
    # the arcgis client sends "Esrimeters"; results always use the standard spelling
    unit = parse(LinearUnit, {"distance": 2, "units": units})
    assert unit.meters == 2
    assert dump(LinearUnit, unit) == {"distance": 2.0, "units": "esriMeters"}
    assert dump(ArealUnit, parse(ArealUnit, {"area": 1, "units": "EsriSquareKilometers"})) == {
        "area": 1.0, "units": "esriSquareKilometers"}


def test_units_default_to_metres_when_not_sent():
    assert parse(LinearUnit, '{"distance": 5}') == LinearUnit(5, "esriMeters")
    assert parse(ArealUnit, '{"area": 5}') == ArealUnit(5, "esriSquareMeters")


@pytest.mark.parametrize("hint,raw,problem", [
    (LinearUnit, '{"distance": 1, "units": "esriParsecs"}', "unknown linear unit 'esriParsecs'"),
    (LinearUnit, '{"distance": 1, "units": "esriSquareMeters"}', "unknown linear unit"),
    (LinearUnit, '{"distance": 1, "units": "esriMetres"}', "unknown linear unit"),
    (ArealUnit, '{"area": 1, "units": "esriMeters"}', "unknown areal unit 'esriMeters'"),
    (LinearUnit, '{"distance": 1, "units": ["esriMeters"]}', "'units' must be a string"),
    (LinearUnit, '{"units": "esriMeters"}', "missing 'distance'"),
    (ArealUnit, '{"distance": 1}', "missing 'area'"),
    (LinearUnit, '{"distance": "far"}', "expected a number"),
    (LinearUnit, '{"distance": "nan"}', "finite"),
    (LinearUnit, "5", "JSON object"),
    (LinearUnit, "{not json", "as JSON"),
])
def test_unit_errors_say_what_is_wrong(hint, raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(hint, raw)


def test_unit_defaults_are_described_in_wire_form():
    assert gp_type_for(LinearUnit).describe_default(LinearUnit(100)) == {"distance": 100, "units": "esriMeters"}
    assert gp_type_for(ArealUnit).describe_default(None) is None


# -- GPDataFile / GPRasterDataLayer ------------------------------------------------------------------

FILES_URL = "http://h/arcgis/rest/directories/arcgisjobs/demo/tools_gpserver/j1/scratch"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "arcgisjobs" / "demo" / "tools_gpserver" / "j1" / "scratch"
    path.mkdir(parents=True)
    return path


def test_file_inputs_are_urls():
    assert parse(DataFile, '{"url": "https://example.com/f.csv"}') == DataFile(url="https://example.com/f.csv")
    assert parse(RasterData, {"url": "https://x/r.tif", "format": "tif"}) == RasterData(url="https://x/r.tif",
                                                                                      format="tif")
    assert parse(RasterData, {"url": "https://x/r"}) == RasterData(url="https://x/r", format="")
    assert stored(DataFile, {"url": "https://x/f.csv"}) == DataFile(url="https://x/f.csv")


@pytest.mark.parametrize("hint", [DataFile, RasterData])
def test_unknown_upload_items_are_refused_clearly(hint):
    """itemID names an upload (uploads/upload); one that is not there is refused at submit."""
    with pytest.raises(InvalidValue, match=r"no uploaded file with itemID '4b0c2d1f'"):
        parse(hint, '{"itemID": "4b0c2d1f"}')


@pytest.mark.parametrize("hint", [DataFile, RasterData])
def test_an_upload_item_parses_to_its_file_and_stores_as_its_id(hint, tmp_path):
    from opengp.tools.gptypes import ParseEnv, gp_type_for

    item = "i" + "a" * 32
    (tmp_path / item).mkdir()
    (tmp_path / item / "data.tif").write_bytes(b"x")
    gp = gp_type_for(hint)
    value = gp.parse('{"itemID": "%s"}' % item, ParseEnv(uploads=tmp_path))
    assert value.path == tmp_path / item / "data.tif" and value.read_bytes() == b"x"
    assert gp.to_json(value)["itemID"] == item


@pytest.mark.parametrize("raw,problem", [
    ("{}", "url"), ('{"url": ""}', "url"), ('{"url": 5}', "url"), ('"https://x/f.csv"', "JSON object"),
    ("https://x/f.csv", "as JSON"),
])
def test_file_inputs_need_a_url_object(raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(DataFile, raw)


def test_file_output_inside_the_work_folder_is_served_from_it(workdir: Path):
    (workdir / "sub").mkdir()
    (workdir / "sub" / "out.csv").write_text("a,b\n")
    env = DumpEnv(workdir=workdir, files_url=FILES_URL)
    assert dump(DataFile, DataFile(path=workdir / "sub" / "out.csv"), env) == {"url": f"{FILES_URL}/sub/out.csv"}
    assert dump(DataFile, DataFile(path=Path("sub/out.csv")), env) == {"url": f"{FILES_URL}/sub/out.csv"}
    assert dump(DataFile, str(workdir / "sub" / "out.csv"), env) == {"url": f"{FILES_URL}/sub/out.csv"}


def test_file_urls_are_percent_encoded(workdir: Path):
    (workdir / "my report #1.csv").write_text("x")
    env = DumpEnv(workdir=workdir, files_url=FILES_URL)
    assert dump(DataFile, DataFile(path=workdir / "my report #1.csv"), env) == {
        "url": f"{FILES_URL}/my%20report%20%231.csv"}


def test_raster_output_reports_its_format(workdir: Path):
    (workdir / "dem.tif").write_bytes(b"II*\x00")
    env = DumpEnv(workdir=workdir, files_url=FILES_URL)
    assert dump(RasterData, RasterData(path=Path("dem.tif")), env) == {"url": f"{FILES_URL}/dem.tif", "format": "tif"}
    assert dump(RasterData, RasterData(path=Path("dem.tif"), format="GTiff"), env)["format"] == "GTiff"
    assert dump(RasterData, RasterData(url="https://x/img.png?v=2"), env) == {"url": "https://x/img.png?v=2",
                                                                             "format": "png"}


def test_file_outside_the_work_folder_is_copied_in(tmp_path: Path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("hello")
    workdir = tmp_path / "job" / "scratch"           # not created yet: the tool never used it
    env = DumpEnv(workdir=workdir, files_url="http://h/files")
    assert dump(DataFile, DataFile(path=outside), env) == {"url": "http://h/files/elsewhere.txt"}
    assert (workdir / "elsewhere.txt").read_text() == "hello"
    assert outside.exists()                           # copied, not moved


def test_copied_files_never_overwrite_each_other(tmp_path: Path, workdir: Path):
    (workdir / "out.csv").write_text("written by the tool")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "out.csv").write_text("from a")
    (tmp_path / "b" / "out.csv").write_text("from b")
    env = DumpEnv(workdir=workdir, files_url=FILES_URL)
    urls = [dump(DataFile, DataFile(path=tmp_path / d / "out.csv"), env)["url"] for d in "ab"]
    assert len(set(urls)) == 2 and f"{FILES_URL}/out.csv" not in urls
    assert (workdir / "out.csv").read_text() == "written by the tool"
    assert sorted((workdir / u.rsplit("/", 1)[1]).read_text() for u in urls) == ["from a", "from b"]


def test_missing_output_file_is_a_clear_error(workdir: Path):
    env = DumpEnv(workdir=workdir, files_url=FILES_URL)
    with pytest.raises(InvalidValue, match="'nope.csv', which does not exist"):
        dump(DataFile, DataFile(path=workdir / "nope.csv"), env)
    with pytest.raises(InvalidValue, match="not a file"):
        dump(DataFile, DataFile(path=workdir), env)


def test_file_output_without_a_job_folder_or_anything_to_publish(tmp_path: Path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InvalidValue, match="work folder"):
        dump(DataFile, DataFile(path=tmp_path / "f.txt"), DumpEnv())
    with pytest.raises(InvalidValue, match="a path or a url"):
        dump(DataFile, DataFile(), DumpEnv())
    with pytest.raises(InvalidValue, match="expected a DataFile"):
        dump(DataFile, 42, DumpEnv())


def test_file_output_given_by_url_is_passed_through():
    assert dump(DataFile, "https://cdn.example.com/f.zip") == {"url": "https://cdn.example.com/f.zip"}
    assert dump(DataFile, DataFile(url="https://cdn.example.com/f.zip")) == {"url": "https://cdn.example.com/f.zip"}


# -- GPFeatureRecordSetLayer ------------------------------------------------------------------------------

CW_SQUARE = [[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]          # Esri exterior: clockwise
CCW_HOLE = [[2, 2], [4, 2], [4, 4], [2, 4], [2, 2]]               # Esri hole: counter-clockwise
POLYGON_WITH_HOLE = {"rings": [CW_SQUARE, CCW_HOLE]}


def feature_set(geometry_type, *geometries, wkid=4326, **extra):
    return {"geometryType": geometry_type, "spatialReference": {"wkid": wkid},
            "features": [{"geometry": g, "attributes": {"id": i}} for i, g in enumerate(geometries)], **extra}


def rings_of(esri: dict) -> list[LinearRing]:
    return [LinearRing(r) for r in esri["rings"]]


@pytest.mark.parametrize("geometry_type,geometry,expected", [
    ("esriGeometryPoint", {"x": 1.5, "y": 2.5}, Point(1.5, 2.5)),
    ("esriGeometryPoint", {"x": 1.5, "y": 2.5, "z": 7}, Point(1.5, 2.5, 7)),
    ("esriGeometryMultipoint", {"points": [[1, 2], [3, 4]]}, MultiPoint([(1, 2), (3, 4)])),
    ("esriGeometryPolyline", {"paths": [[[0, 0], [1, 1], [2, 0]]]}, LineString([(0, 0), (1, 1), (2, 0)])),
    ("esriGeometryPolyline", {"paths": [[[0, 0], [1, 1]], [[5, 5], [6, 6]]]},
     MultiLineString([[(0, 0), (1, 1)], [(5, 5), (6, 6)]])),
    ("esriGeometryPolygon", POLYGON_WITH_HOLE, Polygon(CW_SQUARE, [CCW_HOLE])),
    ("esriGeometryPolygon", {"rings": [CW_SQUARE, [[20, 0], [20, 1], [21, 1], [21, 0], [20, 0]]]},
     MultiPolygon([Polygon(CW_SQUARE), box(20, 0, 21, 1)])),
])
def test_esri_features_round_trip(geometry_type, geometry, expected):
    fs = parse(FeatureSet, feature_set(geometry_type, geometry))
    assert fs.geometries[0].equals(expected)
    assert fs.geometries[0].has_z == expected.has_z
    out = dump(FeatureSet, fs)
    assert out["geometryType"] == geometry_type
    assert out["spatialReference"] == {"wkid": 4326}
    assert out["features"][0]["attributes"] == {"id": 0}
    assert out["hasZ"] is expected.has_z and out["hasM"] is False and out["exceededTransferLimit"] is False
    back = parse(FeatureSet, orjson.dumps(out).decode())
    assert back.geometries[0].equals(expected)


def test_polygon_rings_come_out_clockwise_with_counter_clockwise_holes():
    # written the "wrong" way round (GeoJSON orientation) by the tool: fixed on output
    shape = Polygon(box(0, 0, 10, 10).exterior.coords, [box(2, 2, 4, 4).exterior.coords[::-1]])
    assert shape.exterior.is_ccw and not shape.interiors[0].is_ccw
    rings = rings_of(dump(FeatureSet, FeatureSet.from_geometries([shape]))["features"][0]["geometry"])
    assert [r.is_ccw for r in rings] == [False, True]


def test_polygon_holes_are_read_from_esri_ring_order():
    fs = parse(FeatureSet, feature_set("esriGeometryPolygon", POLYGON_WITH_HOLE))
    polygon = fs.geometries[0]
    assert polygon.area == pytest.approx(100 - 4)
    assert len(polygon.interiors) == 1
    assert not polygon.contains(Point(3, 3)) and polygon.contains(Point(5, 5))
    rings = rings_of(dump(FeatureSet, fs)["features"][0]["geometry"])
    assert [r.is_ccw for r in rings] == [False, True]


def test_island_in_a_lake_in_a_park():
    park, lake = CW_SQUARE, [[2, 2], [8, 2], [8, 8], [2, 8], [2, 2]]
    island, pond = [[3, 3], [3, 7], [7, 7], [7, 3], [3, 3]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]
    for order in ([park, lake, island, pond], [island, park, pond, lake], [pond, island, lake, park]):
        shape = parse(FeatureSet, feature_set("esriGeometryPolygon", {"rings": order})).geometries[0]
        assert shape.is_valid, order
        assert shape.area == pytest.approx(100 - 36 + 16 - 4)
        assert shape.contains(Point(1, 1)) and not shape.contains(Point(2.5, 2.5))
        assert shape.contains(Point(3.5, 3.5)) and not shape.contains(Point(5, 5))


def test_counter_clockwise_exteriors_from_sloppy_writers_are_still_polygons():
    ccw = {"rings": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    fs = parse(FeatureSet, feature_set("esriGeometryPolygon", ccw))
    assert fs.geometries[0].area == pytest.approx(1)
    rings = rings_of(dump(FeatureSet, fs)["features"][0]["geometry"])
    assert [r.is_ccw for r in rings] == [False]


def test_envelopes_are_read_as_polygons():
    fs = parse(FeatureSet, feature_set("esriGeometryEnvelope", {"xmin": 0, "ymin": 0, "xmax": 2, "ymax": 3}))
    assert fs.geometries[0].equals(box(0, 0, 2, 3))
    out = dump(FeatureSet, fs)
    assert out["geometryType"] == "esriGeometryPolygon"
    assert Polygon(out["features"][0]["geometry"]["rings"][0]).equals(box(0, 0, 2, 3))
    empty = parse(FeatureSet, feature_set("esriGeometryEnvelope", {"xmin": "NaN", "ymin": "NaN",
                                                                   "xmax": "NaN", "ymax": "NaN"}))
    assert empty.geometries[0].is_empty


def test_empty_and_null_geometries_survive():
    fs = parse(FeatureSet, {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
                            "features": [{"geometry": {"x": None, "y": None}, "attributes": {"a": 1}},
                                         {"attributes": {"a": 2}}]})
    assert fs.geometries[0].is_empty and fs.geometries[1] is None
    out = dump(FeatureSet, fs)
    assert out["features"] == [{"geometry": {"x": None, "y": None}, "attributes": {"a": 1}},
                               {"attributes": {"a": 2}}]


def test_m_values_are_not_mistaken_for_z():
    fs = parse(FeatureSet, feature_set("esriGeometryPolyline", {"paths": [[[0, 0, 5], [1, 1, 6]]]}, hasM=True))
    assert not fs.geometries[0].has_z
    fs = parse(FeatureSet, feature_set("esriGeometryPolyline", {"paths": [[[0, 0, 5, 9], [1, 1, 6, 9]]]},
                                       hasZ=True, hasM=True))
    assert list(fs.geometries[0].coords) == [(0, 0, 5), (1, 1, 6)]
    fs = parse(FeatureSet, feature_set("esriGeometryPoint", {"x": 0, "y": 0, "z": 3}))
    assert dump(FeatureSet, fs)["hasZ"] is True


def test_a_point_joins_a_multipoint_set_as_a_multipoint():
    fs = FeatureSet.from_geometries([MultiPoint([(0, 0), (1, 1)]), Point(2, 2)])
    fs.geometry_type = "esriGeometryMultipoint"
    out = dump(FeatureSet, fs)
    assert out["features"][1]["geometry"] == {"points": [[2.0, 2.0]]}


def test_geojson_feature_collection_is_accepted():
    fs = parse(FeatureSet, {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10, 50]}, "properties": {"n": 1}},
        {"type": "Feature", "geometry": None, "properties": None}]})
    assert fs.wkid == 4326
    assert fs.geometries[0].equals(Point(10, 50)) and fs.geometries[1] is None
    assert [f.attributes for f in fs] == [{"n": 1}, {}]


def test_geojson_feature_and_bare_geometry_are_accepted():
    fs = parse(FeatureSet, '{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},'
                           ' "properties": {"road": "A1"}}')
    assert fs.geometries[0].equals(LineString([(0, 0), (1, 1)])) and fs.features[0].attributes == {"road": "A1"}
    assert parse(FeatureSet, '{"type": "Point", "coordinates": [1, 2]}').geometries[0].equals(Point(1, 2))


def test_geojson_polygons_come_out_in_esri_ring_order():
    # RFC 7946: exterior counter-clockwise, holes clockwise
    geojson = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
                                                  [[2, 2], [2, 4], [4, 4], [4, 2], [2, 2]]]}
    out = dump(FeatureSet, parse(FeatureSet, geojson))
    assert out["geometryType"] == "esriGeometryPolygon" and out["spatialReference"] == {"wkid": 4326}
    rings = rings_of(out["features"][0]["geometry"])
    assert [r.is_ccw for r in rings] == [False, True]
    assert parse(FeatureSet, out).geometries[0].area == pytest.approx(96)


def test_out_sr_reprojects_feature_results():
    fs = FeatureSet.from_geometries([Point(10, 50)], [{"name": "a"}])
    out = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 3857}))
    point = out["features"][0]["geometry"]
    assert out["spatialReference"] == {"wkid": 3857}
    assert point["x"] == pytest.approx(1113194.91, abs=0.01)
    assert point["y"] == pytest.approx(6446275.84, abs=0.01)
    assert out["features"][0]["attributes"] == {"name": "a"}
    # Esri's own WKID for Web Mercator works too
    esri = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 102100}))
    assert esri["spatialReference"] == {"wkid": 102100}
    assert (esri["features"][0]["geometry"]["x"], esri["features"][0]["geometry"]["y"]) == pytest.approx(
        (point["x"], point["y"]), abs=1e-6)


def test_out_sr_reprojects_every_vertex_and_keeps_ring_order():
    fs = FeatureSet.from_geometries([Polygon(box(0, 0, 10, 10).exterior.coords, [box(2, 2, 4, 4).exterior.coords])])
    out = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 3857}))
    rings = out["features"][0]["geometry"]["rings"]
    xs = sorted({round(x, 2) for ring in rings for x, _ in ring})
    assert xs == [0.0, 222638.98, 445277.96, 1113194.91]
    assert [LinearRing(r).is_ccw for r in rings] == [False, True]


def test_input_in_esri_web_mercator_is_read_and_projected_back():
    fs = parse(FeatureSet, feature_set("esriGeometryPoint", {"x": 1113194.9079327357, "y": 6446275.841017158},
                                       wkid=102100))
    out = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 4326}))
    assert (out["features"][0]["geometry"]["x"], out["features"][0]["geometry"]["y"]) == pytest.approx((10, 50))


def test_features_already_in_the_output_sr_are_left_alone():
    fs = FeatureSet.from_geometries([Point(1, 2)], sr={"wkid": 102100, "latestWkid": 3857})
    assert fs.to_sr(3857) is fs
    out = dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 3857}))
    assert out["features"][0]["geometry"] == {"x": 1.0, "y": 2.0}


def test_unknown_output_sr_is_an_error():
    with pytest.raises(InvalidValue, match="cannot project"):
        dump(FeatureSet, FeatureSet.from_geometries([Point(1, 2)]), DumpEnv(out_sr={"wkid": 999999}))


@pytest.mark.parametrize("raw,problem", [
    ({"features": [{"geometry": {"foo": 1}}]}, "feature 0: bad geometry: not an Esri geometry"),
    ({"features": [{"geometry": {"x": 1, "y": 2}}, "nope"]}, "feature 1 is not a JSON object"),
    ({"features": [{"geometry": {"x": 1, "y": 2}}, {"geometry": {"x": "east", "y": 2}}]}, "feature 1: bad geometry"),
    ({"features": [{"geometry": {"x": 1}}]}, "feature 0: bad geometry"),
    ({"features": [{"geometry": {"paths": [[[0, 0]]]}}]}, "feature 0: bad geometry: a path needs at least 2"),
    ({"features": [{"geometry": {"paths": "[[0, 0]]"}}]}, "feature 0: bad geometry: paths must be a JSON array"),
    ({"features": [{"geometry": {"rings": [[[0, 0], [1, 1]]]}}]}, "feature 0: bad geometry: a polygon ring"),
    ({"features": [{"geometry": {"points": [[0]]}}]}, r"feature 0: bad geometry: a coordinate must be"),
    ({"features": [{"geometry": {"curveRings": []}}]}, "feature 0: bad geometry: true curves"),
    ({"features": [{"geometry": [1, 2]}]}, "feature 0: bad geometry"),
    ({"features": [{"geometry": {"x": 1, "y": 2}, "attributes": [1]}]}, "feature 0: 'attributes'"),
    ({"features": "many"}, "must be a JSON array"),
    ({"geometryType": "esriGeometryPoint", "features": [{"geometry": {"x": 1, "y": 2}},
                                                       {"geometry": {"paths": [[[0, 0], [1, 1]]]}}]},
     "feature 1: polyline geometry in a feature set of points"),
    ({"geometryType": "esriGeometryCircle", "features": []}, "unknown geometryType"),
    ({"spatialReference": {"wkid": 999999}, "features": []}, "unknown spatial reference"),
    ({"spatialReference": 4326, "features": []}, "spatialReference"),
    ({"url": "https://services/x/FeatureServer/0"}, "layer URLs are not supported"),
    ({"itemID": "4b0c2d1f"}, r"portal items \(itemID\) are not supported"),
    ({"x": 1, "y": 2}, "single Esri geometry"),
    ({"type": "FeatureCollection", "features": ["x"]}, "feature 0 is not a GeoJSON Feature"),
    ({"type": "FeatureCollection", "features": {"a": 1}}, "needs a 'features' array"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point"}}]},
     "feature 0: bad GeoJSON geometry"),
    ({"type": "GeometryCollection", "geometries": []}, "GeometryCollections are not supported"),
    ({"type": "Feature", "geometry": {"type": "GeometryCollection", "geometries": []}},
     "feature 0: GeometryCollections are not supported"),
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]},
     "feature 1: polygon geometry in a feature set of points"),
    ("[1, 2]", "JSON object"),
    ("{", "as JSON"),
])
def test_bad_feature_sets_name_the_problem(raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(FeatureSet, raw)


def test_tools_returning_mixed_geometries_get_a_clear_error():
    fs = FeatureSet.from_geometries([Point(0, 0), box(0, 0, 1, 1)])
    with pytest.raises(InvalidValue, match="feature 1: polygon geometry in a feature set of points"):
        dump(FeatureSet, fs)
    with pytest.raises(InvalidValue, match="expected a FeatureSet"):
        dump(FeatureSet, [Point(0, 0)])


def test_fields_are_inferred_from_attributes():
    fs = FeatureSet.from_geometries([Point(0, 0)], [{"OBJECTID": 1, "name": "a", "pop": 2.5, "ok": True,
                                                      "when": JAN_2008, "big": 2**40}])
    out = dump(FeatureSet, fs)
    types = {f["name"]: f["type"] for f in out["fields"]}
    assert types == {"OBJECTID": "esriFieldTypeOID", "name": "esriFieldTypeString",
                     "pop": "esriFieldTypeDouble", "ok": "esriFieldTypeSmallInteger",
                     "when": "esriFieldTypeDate", "big": "esriFieldTypeDouble"}
    assert out["features"][0]["attributes"]["when"] == JAN_2008_MS


def test_fields_sent_by_the_client_are_kept():
    fields = [{"name": "id", "type": "esriFieldTypeInteger", "alias": "Identifier"}]
    raw = feature_set("esriGeometryPoint", {"x": 1, "y": 2}, fields=fields, displayFieldName="id")
    out = dump(FeatureSet, parse(FeatureSet, raw))
    assert out["fields"] == fields and out["displayFieldName"] == "id"


# hypothesis: geometries survive the trip to Esri JSON and back

coordinate = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def star_polygons(draw):
    """A simple polygon (a star around a centre), with up to two star-shaped holes inside it."""
    cx, cy = draw(coordinate), draw(coordinate)
    n = draw(st.integers(5, 12))           # vertices spread all round, so the centre is well inside
    jitter = draw(st.lists(st.floats(0, 0.8), min_size=n, max_size=n))
    angles = [2 * math.pi * (i + j) / n for i, j in enumerate(jitter)]
    radii = draw(st.lists(st.floats(20, 100), min_size=n, max_size=n))
    shell = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)]
    holes = []
    for k in range(draw(st.integers(0, 2))):      # small squares, well inside the smallest radius
        dx = -4 + 5 * k
        holes.append([(cx + dx, cy - 1), (cx + dx + 3, cy - 1), (cx + dx + 3, cy + 2), (cx + dx, cy + 2)])
    polygon = Polygon(shell, holes)
    assume(polygon.is_valid)
    return polygon


def round_trip(geometry):
    out = dump(FeatureSet, FeatureSet.from_geometries([geometry]))
    return out, parse(FeatureSet, orjson.loads(orjson.dumps(out))).geometries[0]


@settings(max_examples=150, deadline=None)
@given(st.lists(star_polygons(), min_size=1, max_size=3))
def test_random_polygons_survive_the_round_trip(polygons):
    geometry = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    assume(geometry.is_valid)
    out, back = round_trip(geometry)
    assert out["geometryType"] == "esriGeometryPolygon"
    assert back.equals(geometry)
    assert back.area == pytest.approx(geometry.area)
    rings = out["features"][0]["geometry"]["rings"]
    assert sum(not LinearRing(r).is_ccw for r in rings) == len(polygons)     # one clockwise ring per polygon
    assert sum(LinearRing(r).is_ccw for r in rings) == sum(len(p.interiors) for p in polygons)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=20, unique=True),
                min_size=1, max_size=3))
def test_random_lines_survive_the_round_trip_exactly(paths):
    geometry = LineString(paths[0]) if len(paths) == 1 else MultiLineString(paths)
    out, back = round_trip(geometry)
    assert out["geometryType"] == "esriGeometryPolyline"
    assert out["features"][0]["geometry"]["paths"] == [[list(c) for c in p] for p in paths]
    assert back.equals_exact(geometry, tolerance=0)


@settings(max_examples=100, deadline=None)
@given(st.floats(-179, 179), st.floats(-84, 84))
def test_random_points_project_to_web_mercator_and_back(lon, lat):
    fs = FeatureSet.from_geometries([Point(lon, lat)])
    mercator = parse(FeatureSet, dump(FeatureSet, fs, DumpEnv(out_sr={"wkid": 3857})))
    assert mercator.geometries[0].x == pytest.approx(lon * 20037508.342789244 / 180, abs=1e-3)
    back = dump(FeatureSet, mercator, DumpEnv(out_sr={"wkid": 4326}))["features"][0]["geometry"]
    assert (back["x"], back["y"]) == pytest.approx((lon, lat), abs=1e-8)


# -- GPRecordSet ------------------------------------------------------------------------------------------

def test_record_set_in_and_out():
    rs = parse(RecordSet, {"fields": [{"name": "a", "type": "esriFieldTypeInteger"}],
                           "features": [{"attributes": {"a": 1}}, {"attributes": {"a": 2}, "geometry": None}]})
    assert [r["a"] for r in rs] == [1, 2] and len(rs) == 2
    assert rs.fields == [{"name": "a", "type": "esriFieldTypeInteger"}]
    out = dump(RecordSet, rs)
    assert out == {"fields": [{"name": "a", "type": "esriFieldTypeInteger"}],
                   "features": [{"attributes": {"a": 1}}, {"attributes": {"a": 2}}], "exceededTransferLimit": False}


def test_record_set_from_a_list_of_rows():
    out = dump(RecordSet, [{"a": 3, "when": JAN_2008}])
    assert out["features"] == [{"attributes": {"a": 3, "when": JAN_2008_MS}}]
    assert {f["name"]: f["type"] for f in out["fields"]} == {"a": "esriFieldTypeInteger", "when": "esriFieldTypeDate"}
    assert out["exceededTransferLimit"] is False


@pytest.mark.parametrize("raw,problem", [
    ({"features": [{"geometry": {}}]}, "record 0 needs an 'attributes' object"),
    ({"features": [{"attributes": {}}, 5]}, "record 1"),
    ({"features": {}}, "must be a JSON array"),
    ({"url": "https://services/x/FeatureServer/1"}, "table URLs are not supported"),
    ({"itemID": "4b0c2d1f"}, r"portal items \(itemID\) are not supported"),
    ("[]", "JSON object"),
])
def test_bad_record_sets_name_the_problem(raw, problem):
    with pytest.raises(InvalidValue, match=problem):
        parse(RecordSet, raw)


def test_record_set_output_must_be_rows():
    with pytest.raises(InvalidValue, match="one dict per row"):
        dump(RecordSet, [1, 2])
    with pytest.raises(InvalidValue, match="expected a RecordSet"):
        dump(RecordSet, 5)


# -- defaults ---------------------------------------------------------------------------------------------

def test_defaults_are_described_in_wire_form():
    assert gp_type_for(int).describe_default(None) is None
    assert gp_type_for(int).describe_default(3) == 3
    assert gp_type_for(bool).describe_default(False) is False
    assert gp_type_for(datetime).describe_default(JAN_2008) == JAN_2008_MS
    assert gp_type_for(float).describe_default(1.5) == 1.5
    assert gp_type_for(DataFile).describe_default(DataFile(url="https://x/f.csv")) == {"url": "https://x/f.csv"}
    assert gp_type_for(DataFile).describe_default(DataFile(path=Path("f.csv"))) is None
    fs_default = gp_type_for(FeatureSet).describe_default(FeatureSet.from_geometries([Point(1, 2)]))
    assert fs_default["features"] == [{"geometry": {"x": 1.0, "y": 2.0}, "attributes": {}}]


@pytest.mark.parametrize("spelling", ["esriMeters", "Esrimeters", "ESRIMETERS", "Meters", "meters"])
def test_unit_names_are_matched_without_regard_to_case(spelling):
    """The arcgis client title-cases units ("Esrimeters") when it sends a LinearUnit back."""
    assert parse(LinearUnit, {"distance": 5, "units": spelling}) == LinearUnit(5, "esriMeters")
    assert ArealUnit(1, "squarekilometers").units == "esriSquareKilometers"


def test_every_type_says_what_the_faces_need_of_it():
    """Faces ask the type (its schema, whether it is a file, its form field and hint) instead
    of switching on type names; a new type that forgets one fails here."""
    from opengp.tools.gptypes import _SIMPLE, GPMultiValue, gp_type_named

    forms = {"text", "number", "boolean", "date", "json", "table", "features", "file"}
    for gp in [*_SIMPLE.values(), *(GPMultiValue(t) for t in _SIMPLE.values())]:
        assert gp_type_named(gp.data_type).data_type == gp.data_type
        assert isinstance(gp.schema, dict) and gp.schema.get("type") in ("string", "integer", "number", "boolean",
                                                                           "object", "array"), gp.data_type
        assert gp.form in forms and isinstance(gp.hint, str) and isinstance(gp.is_file, bool), gp.data_type
        assert gp.media_type.startswith("application/") and callable(gp.open_value), gp.data_type
    assert {t.data_type for t in _SIMPLE.values() if t.is_file} == {"GPDataFile", "GPRasterDataLayer"}
    assert gp_type_named("GPMultiValue:GPLong").schema == {"type": "array", "items": {"type": "integer"}}
    assert gp_type_named("GPLinearUnit").schema["required"] == ["distance", "units"]


def test_a_stored_value_in_its_open_form_is_what_the_types_schema_says():
    """What the OGC face sends of a result (and shows as a default): dates in RFC 3339 and
    features as GeoJSON in WGS84, each valid against the type's own JSON Schema; the rest as stored."""
    import jsonschema

    from opengp.tools.gptypes import gp_type_named

    features = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 3857},
                "features": [{"geometry": {"x": 111319.49, "y": 0}, "attributes": {"n": 1}}]}
    samples = {"GPDate": (JAN_2008_MS, "2008-01-01T00:00:00Z"),
               "GPMultiValue:GPDate": ([JAN_2008_MS], ["2008-01-01T00:00:00Z"]),
               "GPLong": (5, 5), "GPString": ("a", "a"),
               "GPLinearUnit": ({"distance": 5, "units": "esriMeters"}, {"distance": 5, "units": "esriMeters"})}
    for data_type, (stored, expected) in samples.items():
        gp = gp_type_named(data_type)
        assert gp.open_value(stored) == expected, data_type
        jsonschema.validate(gp.open_value(stored), gp.schema)
    gp = gp_type_named("GPFeatureRecordSetLayer")
    collection = gp.open_value(features)
    assert gp.media_type == "application/geo+json" and collection["type"] == "FeatureCollection"
    [feature] = collection["features"]
    assert feature["properties"] == {"n": 1} and feature["geometry"]["coordinates"] == pytest.approx((1.0, 0.0))
    jsonschema.validate(collection, gp.schema)
