"""Datasets served as ArcGIS feature layers, over HTTP against a real server: query
results compared with geopandas reading the same files, bad requests, access,
and GP jobs taking a layer by URL."""
from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box, shape

from conftest import Server, client_as, add_user
from opengp.tools.geometry import from_esri
from .helpers import error_of, result, submit, wait

DATASETS = """
[[datasets]]
folder = "Data"
name = "Two"
path = "data/two.gpkg"
public = true
description = "Towns and parks"

[[datasets]]
folder = "Data"
name = "Roads"
path = "data/roads.geojson"
public = true

[[datasets]]
folder = "Data"
name = "Wells"
path = "data/wells.shp"
public = true

[[datasets]]
folder = "Secure"
name = "Parks"
path = "data/two.gpkg"
layers = ["parks"]
allowed = ["alice"]

[[datasets]]
folder = "Data"
name = "Plain"
path = "data/plain.shp"
public = true
"""
PASSWORDS = {"alice": "alice password", "bob": "bob password", "root": "root password"}
ROLES = {"alice": "user", "bob": "user", "root": "administrator"}
TOWNS = 2100            # more than one page of maxRecordCount (2000)
TOOLS = "/arcgis/rest/services/Demo/Tools/GPServer"


def make_data(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    xs, ys = rng.uniform(500_000, 530_000, TOWNS), rng.uniform(5_500_000, 5_520_000, TOWNS)
    names = [None if i % 97 == 0 else f"Town {i}" for i in range(TOWNS)]
    names[1] = "O'Brien's"
    towns = gpd.GeoDataFrame({
        "name": names,
        "pop": rng.integers(10, 100_000, TOWNS),
        "kind": rng.choice(["city", "town", "village"], TOWNS),
        "founded": pd.to_datetime(rng.integers(0, 1_500_000_000, TOWNS), unit="s"),
    }, geometry=[Point(x, y) for x, y in zip(xs, ys)], crs="EPSG:32633")
    towns.to_file(folder / "two.gpkg", layer="towns", engine="pyogrio")
    parks = gpd.GeoDataFrame({
        "fid": [10 * (i + 1) for i in range(40)],                  # GeoPackage ids with gaps
        "type": rng.choice(["forest", "meadow", "garden"], 40),
        "area_ha": [None if i % 5 == 0 else float(i) * 1.5 for i in range(40)],
    }, geometry=[box(x, y, x + 800, y + 500).buffer(50) for x, y in zip(xs[:40], ys[:40])], crs="EPSG:32633")
    parks.to_file(folder / "two.gpkg", layer="parks", engine="pyogrio")
    roads = gpd.GeoDataFrame({
        "OBJECTID": [1000 + i for i in range(30)],
        "class": rng.choice(["primary", "local"], 30),
    }, geometry=[LineString([(14 + i * 0.01, 49.5), (14 + i * 0.01, 49.6), (14.05 + i * 0.01, 49.65)])
                 for i in range(30)], crs="EPSG:4326")
    roads.to_file(folder / "roads.geojson", driver="GeoJSON", engine="pyogrio")
    wells = gpd.GeoDataFrame({"name": [f"W{i}" for i in range(25)], "depth": rng.uniform(5, 90, 25)},
                             geometry=[Point(15 + i * 0.003, 50 - i * 0.002) for i in range(25)], crs="EPSG:4326")
    wells.to_file(folder / "wells.shp", engine="pyogrio")
    plain = gpd.GeoDataFrame({"n": [1, 2]}, geometry=[Point(1, 2), Point(3, 4)])       # no CRS: no .prj
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)        # "'crs' was not provided": as meant
        plain.to_file(folder / "plain.shp", engine="pyogrio")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("features"), workers=2)
    make_data(server.tmp / "data")
    server.config.write_text(server.config.read_text() + DATASETS)
    for name, role in ROLES.items():
        add_user(server.data_dir, name, role, PASSWORDS[name])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def anon(srv: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url + "/arcgis/rest/services", timeout=30) as c:
        yield c


def as_user(srv: Server, name: str) -> httpx.Client:
    c = client_as(srv, name, PASSWORDS[name])
    c.base_url = httpx.URL(srv.url + "/arcgis/rest/services/")
    return c


def expected(srv: Server, file: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """The file as geopandas reads it, with the ids the server should give."""
    frame = gpd.read_file(srv.tmp / "data" / file, layer=layer, engine="pyogrio", fid_as_index=True)
    if "OBJECTID" in frame.columns:
        frame.index = frame["OBJECTID"]
    elif file.endswith(".gpkg"):
        frame.index = frame.index.astype(int)           # the GeoPackage fid
    else:
        frame.index = np.arange(1, len(frame) + 1)
    return frame


def query(client: httpx.Client, path: str, **params: object) -> dict:
    r = client.get(f"{path}/query", params={"f": "json", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "error" not in body, body
    return body


def ids_of(body: dict, oid: str = "OBJECTID") -> list[int]:
    return [f["attributes"][oid] for f in body["features"]]


def same_shape(esri: dict, want: shapely.Geometry, tolerance: float) -> bool:
    return from_esri(esri).hausdorff_distance(want) <= tolerance


# -- metadata ---------------------------------------------------------------------

def test_service_lists_layers_with_extent(srv: Server, anon: httpx.Client) -> None:
    body = anon.get("Data/Two/FeatureServer", params={"f": "json"}).json()
    assert [(l["id"], l["name"], l["geometryType"]) for l in body["layers"]] == [
        (0, "towns", "esriGeometryPoint"), (1, "parks", "esriGeometryPolygon")]
    assert body["capabilities"] == "Query" and body["maxRecordCount"] == 2000
    assert body["spatialReference"]["wkid"] == 32633
    assert body["serviceDescription"] == "Towns and parks"
    bounds = np.vstack([expected(srv, "two.gpkg", n).total_bounds for n in ("towns", "parks")])
    full = body["fullExtent"]
    assert [full["xmin"], full["ymin"], full["xmax"], full["ymax"]] == pytest.approx(
        [bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()])
    pretty = anon.get("Data/Two/FeatureServer", params={"f": "pjson"})
    assert pretty.json() == body and "\n" in pretty.text


def test_layer_describes_fields_like_arcgis(srv: Server, anon: httpx.Client) -> None:
    body = anon.get("Data/Two/FeatureServer/0", params={"f": "json"}).json()
    assert body["type"] == "Feature Layer" and body["objectIdField"] == "OBJECTID"
    assert {f["name"]: f["type"] for f in body["fields"]} == {
        "OBJECTID": "esriFieldTypeOID", "name": "esriFieldTypeString", "pop": "esriFieldTypeInteger",
        "kind": "esriFieldTypeString", "founded": "esriFieldTypeDate"}
    assert "geoJSON" in body["supportedQueryFormats"] and body["advancedQueryCapabilities"]["supportsPagination"]
    xmin, ymin, xmax, ymax = expected(srv, "two.gpkg", "towns").total_bounds
    assert [body["extent"][k] for k in ("xmin", "ymin", "xmax", "ymax")] == pytest.approx([xmin, ymin, xmax, ymax])
    roads = anon.get("Data/Roads/FeatureServer/0", params={"f": "json"}).json()
    assert roads["objectIdField"] == "OBJECTID" and roads["geometryType"] == "esriGeometryPolyline"
    layers = anon.get("Data/Two/FeatureServer/layers", params={"f": "json"}).json()["layers"]
    assert [l["name"] for l in layers] == ["towns", "parks"]


# -- query against geopandas ------------------------------------------------------------

CASES = [
    # (service path, file, layer, where, the same selection in pandas)
    ("Data/Two/FeatureServer/0", "two.gpkg", "towns", "pop > 50000 AND kind = 'town'",
     lambda f: (f["pop"] > 50000) & (f["kind"] == "town")),
    ("Data/Two/FeatureServer/0", "two.gpkg", "towns", "name LIKE 'Town 1%' OR name IS NULL",
     lambda f: f["name"].str.startswith("Town 1").fillna(False).astype(bool) | f["name"].isna()),
    ("Data/Two/FeatureServer/0", "two.gpkg", "towns", "kind IN ('city') AND NOT pop BETWEEN 100 AND 90000",
     lambda f: (f["kind"] == "city") & ~f["pop"].between(100, 90000)),
    ("Data/Two/FeatureServer/0", "two.gpkg", "towns", "founded < DATE '1990-01-01' AND UPPER(kind) = 'VILLAGE'",
     lambda f: (f["founded"] < pd.Timestamp("1990-01-01")) & (f["kind"] == "village")),
    ("Data/Two/FeatureServer/0", "two.gpkg", "towns", "name = 'O''Brien''s'", lambda f: f["name"] == "O'Brien's"),
    ("Data/Two/FeatureServer/1", "two.gpkg", "parks", "area_ha >= 30 OR type = 'garden'",
     lambda f: (f["area_ha"] >= 30) | (f["type"] == "garden")),
    ("Data/Two/FeatureServer/1", "two.gpkg", "parks", "area_ha IS NULL", lambda f: f["area_ha"].isna()),
    ("Data/Roads/FeatureServer/0", "roads.geojson", None, "class <> 'local' AND OBJECTID > 1010",
     lambda f: (f["class"] != "local") & (f["OBJECTID"] > 1010)),
    ("Data/Wells/FeatureServer/0", "wells.shp", None, "depth < 40", lambda f: f["depth"] < 40),
]


@pytest.mark.parametrize("path, file, layer, where, select", CASES, ids=[c[3] for c in CASES])
def test_query_matches_geopandas(srv: Server, anon: httpx.Client, path, file, layer, where, select) -> None:
    frame = expected(srv, file, layer)
    want = frame[select(frame).to_numpy(dtype=bool)]
    assert 0 < len(want) < 2000                 # a real selection, within one page
    body = query(anon, path, where=where, outFields="*")
    assert "exceededTransferLimit" not in body
    assert ids_of(body) == list(want.index)
    tolerance = 1e-9 if frame.crs.is_geographic else 1e-6
    columns = [c for c in frame.columns if c not in ("geometry", "OBJECTID")]
    for feature, (oid, row) in zip(body["features"], want.iterrows()):
        attrs = feature["attributes"]
        for column in columns:
            value = row[column]
            if pd.isna(value):
                assert attrs[column] is None, (oid, column)
            elif isinstance(value, pd.Timestamp):
                assert attrs[column] == int(value.value // 1_000_000), (oid, column)
            elif isinstance(value, float):
                assert attrs[column] == pytest.approx(value), (oid, column)
            else:
                assert attrs[column] == value, (oid, column)
        assert same_shape(feature["geometry"], row.geometry, tolerance), oid
    assert query(anon, path, where=where, returnCountOnly="true") == {"count": len(want)}
    assert query(anon, path, where=where, returnIdsOnly="true")["objectIds"] == list(want.index)


def test_out_sr_reprojects_like_to_crs(srv: Server, anon: httpx.Client) -> None:
    frame = expected(srv, "two.gpkg", "parks")
    for out_sr in ("4326", '{"wkid": 3857}'):
        body = query(anon, "Data/Two/FeatureServer/1", where="1=1", outSR=out_sr)
        target = 4326 if out_sr == "4326" else 3857
        want = frame.to_crs(target)
        assert body["spatialReference"].get("latestWkid", body["spatialReference"].get("wkid")) in (target, 102100)
        for feature, geometry in zip(body["features"], want.geometry):
            assert same_shape(feature["geometry"], geometry, 1e-9 if target == 4326 else 1e-3)


def test_return_extent_only_bounds_the_selection(srv: Server, anon: httpx.Client) -> None:
    """A map client zooms to a selection with returnExtentOnly (and the count with it)."""
    frame = expected(srv, "two.gpkg", "parks")
    want = frame[frame["area_ha"] >= 30]
    assert 0 < len(want) < len(frame)
    path = "Data/Two/FeatureServer/1"
    body = query(anon, path, where="area_ha >= 30", returnExtentOnly="true")
    assert set(body) == {"extent"}
    corners = [body["extent"][k] for k in ("xmin", "ymin", "xmax", "ymax")]
    assert corners == pytest.approx(list(want.total_bounds))
    both = query(anon, path, where="area_ha >= 30", returnExtentOnly="true", returnCountOnly="true")
    assert both == {"count": len(want), "extent": body["extent"]}
    mercator = query(anon, path, where="area_ha >= 30", returnExtentOnly="true", outSR="3857")["extent"]
    assert [mercator[k] for k in ("xmin", "ymin", "xmax", "ymax")] == pytest.approx(
        list(want.to_crs(3857).total_bounds))
    none = query(anon, path, where="area_ha < 0", returnExtentOnly="true", returnCountOnly="true")
    assert none["count"] == 0 and none["extent"]["xmin"] == "NaN"
    layer = anon.get(path, params={"f": "json"}).json()
    assert layer["advancedQueryCapabilities"]["supportsReturningQueryExtent"] is True


def test_paging_walks_every_feature_once(srv: Server, anon: httpx.Client) -> None:
    frame = expected(srv, "two.gpkg", "towns")
    first = query(anon, "Data/Two/FeatureServer/0", where="1=1")
    assert len(first["features"]) == 2000 and first["exceededTransferLimit"] is True   # maxRecordCount
    seen: list[int] = []
    offset = 0
    while True:
        page = query(anon, "Data/Two/FeatureServer/0", where="1=1", resultOffset=offset, resultRecordCount=700,
                     returnGeometry="false", outFields="pop")
        assert all(set(f) == {"attributes"} and set(f["attributes"]) == {"pop"} for f in page["features"])
        seen += [int(frame.loc[oid, "pop"]) for oid in frame.index[offset:offset + len(page["features"])]]
        assert [f["attributes"]["pop"] for f in page["features"]] == seen[offset:]
        offset += len(page["features"])
        if not page.get("exceededTransferLimit"):
            break
    assert offset == TOWNS
    ordered = query(anon, "Data/Two/FeatureServer/0", where="kind = 'city'", orderByFields="pop DESC",
                    outFields="pop,Name", resultRecordCount=5)
    assert [f["attributes"]["pop"] for f in ordered["features"]] == sorted(
        frame[frame["kind"] == "city"]["pop"], reverse=True)[:5]
    assert set(ordered["features"][0]["attributes"]) == {"pop", "name"}     # field names ignore case


def test_object_ids_geometry_filter_and_post(srv: Server, anon: httpx.Client) -> None:
    frame = expected(srv, "two.gpkg", "towns")
    body = query(anon, "Data/Two/FeatureServer/0", objectIds="5,3,99999", where="1=1")
    assert ids_of(body) == [3, 5]
    bbox = (510_000, 5_505_000, 515_000, 5_512_000)
    want = frame.cx[bbox[0]:bbox[2], bbox[1]:bbox[3]]
    body = query(anon, "Data/Two/FeatureServer/0", geometry=",".join(map(str, bbox)), returnIdsOnly="true")
    assert body["objectIds"] == sorted(want.index)
    lonlat = gpd.GeoSeries([box(*bbox)], crs=32633).to_crs(4326).iloc[0]
    body = query(anon, "Data/Two/FeatureServer/0", inSR="4326", returnIdsOnly="true",
                 geometry=orjson.dumps({"rings": [list(map(list, lonlat.exterior.coords))]}).decode())
    assert set(body["objectIds"]) == set(frame[frame.intersects(
        gpd.GeoSeries([lonlat], crs=4326).to_crs(32633).iloc[0])].index)
    r = anon.post("Data/Two/FeatureServer/0/query", data={"where": "kind = 'city' AND pop < 1000",
                                                          "returnCountOnly": "true", "f": "json"})
    assert r.json() == {"count": int(((frame["kind"] == "city") & (frame["pop"] < 1000)).sum())}


def test_geojson_output(srv: Server, anon: httpx.Client) -> None:
    frame = expected(srv, "two.gpkg", "parks")
    r = anon.get("Data/Two/FeatureServer/1/query", params={"where": "type = 'forest'", "outFields": "type,area_ha",
                                                           "f": "geojson"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    want = frame[frame["type"] == "forest"].to_crs(4326)
    assert body["type"] == "FeatureCollection"
    assert [f["id"] for f in body["features"]] == list(want.index)
    for feature, (_, row) in zip(body["features"], want.iterrows()):
        assert feature["properties"]["type"] == "forest"
        assert (feature["properties"]["area_ha"] is None) == pd.isna(row["area_ha"])
        assert shape(feature["geometry"]).hausdorff_distance(row.geometry) < 1e-9
    paged = anon.get("Data/Two/FeatureServer/0/query", params={"where": "1=1", "f": "geojson",
                                                               "resultRecordCount": 3}).json()
    assert len(paged["features"]) == 3 and paged["properties"]["exceededTransferLimit"] is True


# -- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize("params, says", [
    ({"where": "1=1; DROP TABLE towns"}, "';' is not allowed"),
    ({"where": "name = 'a' OR 1=1 --"}, "comments are not allowed"),
    ({"where": "name = 'a"}, "unterminated string"),
    ({"where": "pop IN (SELECT pop FROM towns)"}, "subqueries are not supported"),
    ({"where": "secret = 1"}, "unknown field 'secret'"),
    ({"where": "load_extension('x') = 1"}, "unknown function"),
    ({"where": "pop = 'many'"}, "cannot compare"),
    ({"outFields": "name,password"}, "unknown field 'password'"),
    ({"objectIds": "1,two"}, "objectIds"),
    ({"outSR": "999999"}, "unknown spatial reference"),
    ({"outSR": "{bad json"}, "outSR"),
    ({"resultOffset": "-1"}, "resultOffset"),
    ({"resultRecordCount": "lots"}, "resultRecordCount"),
    ({"returnGeometry": "maybe"}, "returnGeometry"),
    ({"geometry": "1,2,3"}, "geometry"),
    ({"geometry": '{"rings": "x"}'}, "geometry"),
    ({"spatialRel": "esriSpatialRelTouches", "geometry": "1,2,3,4"}, "spatialRel"),
    ({"orderByFields": "pop SIDEWAYS"}, "orderByFields"),
    ({"f": "xml"}, "not a supported format"),
    # text beside a date is read as a date when the clause is parsed, not while selecting (was HTTP 500)
    ({"where": "founded > 'garbage'"}, "not a date: 'garbage'"),
    ({"where": "founded IN ('garbage')"}, "not a date: 'garbage'"),
    ({"where": "founded BETWEEN '2024-01-01' AND 'x'"}, "not a date: 'x'"),
    # and only a quoted literal may stand beside a date (comparing str with datetime was HTTP 500)
    ({"where": "name < founded"}, "cannot compare field 'name' (text) with field 'founded' (date)"),
    ({"where": "name < DATE '2024-01-01'"}, "cannot compare field 'name' (text)"),
    # Esri JSON geometry must be finite too (GEOSException, HTTP 500, with Contains)
    ({"geometry": '{"xmin":500000,"ymin":5500000,"xmax":"inf","ymax":5520000}',
      "spatialRel": "esriSpatialRelContains"}, "finite"),
    ({"geometry": '{"x":"nan","y":5500000}'}, "finite"),
])
def test_bad_queries_are_400_with_details(anon: httpx.Client, params: dict, says: str) -> None:
    error = error_of(anon.get("Data/Two/FeatureServer/0/query", params={"f": "json", **params}))
    assert error["code"] == 400, error
    assert any(says in d for d in error["details"]), error


def test_deeply_nested_functions_are_400_not_500(anon: httpx.Client) -> None:
    """UPPER(UPPER(... 5000 deep)) ran out of stack (RecursionError, HTTP 500)."""
    where = "UPPER(" * 5000 + "name" + ")" * 5000 + " = 'x'"
    error = error_of(anon.post("Data/Two/FeatureServer/0/query", data={"where": where, "f": "json"}))
    assert error["code"] == 400 and any("nests more than 64 levels" in d for d in error["details"]), error


def test_out_sr_on_a_layer_without_crs_is_refused(anon: httpx.Client) -> None:
    """It used to answer unprojected coordinates with spatialReference null."""
    assert anon.get("Data/Plain/FeatureServer/0", params={"f": "json"}).json()["extent"]["spatialReference"] is None
    error = error_of(anon.get("Data/Plain/FeatureServer/0/query", params={"where": "1=1", "outSR": "4326",
                                                                          "f": "json"}))
    assert error["code"] == 400 and any("outSR" in d and "no spatial reference" in d for d in error["details"])
    body = query(anon, "Data/Plain/FeatureServer/0", where="1=1")         # without outSR: as stored
    assert [f["geometry"] for f in body["features"]] == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]


def test_invalid_query_polygon_is_made_valid(srv: Server, anon: httpx.Client) -> None:
    """Two overlapping outer rings (an invalid multipolygon): Contains is read against their union."""
    frame = expected(srv, "two.gpkg", "parks")
    west = [[500000, 5500000], [500000, 5520000], [515000, 5520000], [515000, 5500000], [500000, 5500000]]
    east = [[510000, 5500000], [510000, 5520000], [530000, 5520000], [530000, 5500000], [510000, 5500000]]
    union = shapely.union(shapely.Polygon(west), shapely.Polygon(east))
    want = sorted(frame[frame.geometry.within(union)].index)
    overlap = shapely.intersection(shapely.Polygon(west), shapely.Polygon(east))
    assert frame.geometry.within(overlap).any()      # where GEOS read the invalid shape as outside
    body = query(anon, "Data/Two/FeatureServer/1", geometry=orjson.dumps({"rings": [west, east]}).decode(),
                 geometryType="esriGeometryPolygon", spatialRel="esriSpatialRelContains", returnIdsOnly="true")
    assert sorted(body["objectIds"]) == want


def test_unknown_services_and_layers_are_404(anon: httpx.Client) -> None:
    for path in ("Data/Nope/FeatureServer", "Nope/FeatureServer/0/query", "Data/Two/FeatureServer/2",
                 "Data/Two/FeatureServer/x", "Data/Two/FeatureServer/99999999999/query"):
        assert error_of(anon.get(path, params={"f": "json"}))["code"] == 404, path


def test_non_public_dataset_needs_an_allowed_user(srv: Server, anon: httpx.Client) -> None:
    path = "Secure/Parks/FeatureServer/0/query"
    params = {"where": "1=1", "returnCountOnly": "true", "f": "json"}
    assert error_of(anon.get(path, params=params))["code"] == 499
    assert error_of(anon.get("Secure/Parks/FeatureServer", params={"f": "json"}))["code"] == 499
    with as_user(srv, "bob") as bob:
        assert error_of(bob.get(path, params=params))["code"] == 403
    for name in ("alice", "root"):
        with as_user(srv, name) as c:
            assert c.get(path, params=params).json() == {"count": 40}
    assert error_of(anon.get(path, params={**params, "token": "forged"}))["code"] == 498


# -- GP tools reading layers by URL ----------------------------------------------------------

def test_gp_job_reads_our_layer_by_url(srv: Server) -> None:
    frame = expected(srv, "two.gpkg", "parks")
    forests = frame[frame["type"] == "forest"]
    url = f"{srv.url}/arcgis/rest/services/Data/Two/FeatureServer/1/query?where=type%3D%27forest%27"
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        task = f"{TOOLS}/SummarizeFeatures"
        job_id = submit(c, task, input_features=orjson.dumps({"url": url}).decode())
        assert wait(c, task, job_id)["jobStatus"] == "esriJobSucceeded"
        assert result(c, task, job_id, "count")["value"] == len(forests)
        extent = from_esri(result(c, task, job_id, "extent")["value"]["features"][0]["geometry"])
        assert extent.bounds == pytest.approx(tuple(forests.total_bounds))
        inputs = c.get(f"{task}/jobs/{job_id}/inputs/input_features", params={"f": "json"}).json()
        assert inputs["value"] == {"url": url}          # the job keeps the URL, not a copy of the data
        task = f"{TOOLS}/BufferFeatures"
        job_id = submit(c, task, input_features=orjson.dumps({"url": url.split("/query")[0]}).decode(),
                        distance='{"distance": 10, "units": "esriMeters"}')
        done = wait(c, task, job_id)
        assert done["jobStatus"] == "esriJobSucceeded", done["messages"]
        results = c.get(f"{task}/jobs/{job_id}/results", params={"f": "json"}).json()
        features = results[0]["value"]["features"]
        assert sorted(f["attributes"]["OBJECTID"] for f in features) == list(frame.index)


def test_gp_layer_urls_are_checked_at_submit(srv: Server) -> None:
    task = f"{TOOLS}/SummarizeFeatures"
    secure = f"{srv.url}/arcgis/rest/services/Secure/Parks/FeatureServer/0"
    cases = [
        (None, secure, "needs a token"),
        ("bob", secure, "bob may not read dataset Secure/Parks"),
        (None, f"{srv.url}/arcgis/rest/services/Data/Two/FeatureServer/0/query?where=nope%3D1", "unknown field"),
        (None, "file:///etc/passwd", "must be an http(s) URL"),
    ]
    for user, url, says in cases:
        c = as_user(srv, user) if user else httpx.Client(base_url=srv.url, timeout=30)
        with c:
            r = c.post(f"{srv.url}{task}/submitJob", data={"input_features": orjson.dumps({"url": url}).decode(),
                                                           "f": "json"})
            error = error_of(r)
            assert error["code"] == 400 and any(says in d for d in error["details"]), (url, error)
    with as_user(srv, "alice") as alice:
        job_id = submit(alice, f"{srv.url}{task}", input_features=orjson.dumps({"url": secure}).decode())
        assert wait(alice, f"{srv.url}{task}", job_id)["jobStatus"] == "esriJobSucceeded"
        assert result(alice, f"{srv.url}{task}", job_id, "count")["value"] == 40


class _Remote(BaseHTTPRequestHandler):
    """Another ArcGIS server's layer: 5 points, answered 2 at a time."""

    def do_GET(self) -> None:  # noqa: N802
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        offset = int(query.get("resultOffset", 0))
        points = [{"attributes": {"OBJECTID": i + 1, "label": f"p{i}"}, "geometry": {"x": 15 + i, "y": 50}}
                  for i in range(5)]
        page = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
                "features": points[offset:offset + 2], "exceededTransferLimit": offset + 2 < 5}
        layer = urlsplit(self.path).path
        body = orjson.dumps(page) if layer in ("/other/rest/services/Pts/FeatureServer/0/query",
                                               "/arcgis/rest/services/Data/Two/FeatureServer/0/query") else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_gp_job_reads_another_servers_layer_page_by_page(srv: Server) -> None:
    remote = ThreadingHTTPServer(("127.0.0.1", 0), _Remote)
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{remote.server_port}/other/rest/services/Pts/FeatureServer/0"
        task = f"{TOOLS}/SummarizeFeatures"
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            job_id = submit(c, task, input_features=orjson.dumps({"url": url}).decode())
            assert wait(c, task, job_id)["jobStatus"] == "esriJobSucceeded"
            assert result(c, task, job_id, "count")["value"] == 5
            extent = from_esri(result(c, task, job_id, "extent")["value"]["features"][0]["geometry"])
            assert extent.bounds == pytest.approx((15, 50, 19, 50))
    finally:
        remote.shutdown()


@pytest.fixture
def remote() -> Iterator[ThreadingHTTPServer]:
    """Another ArcGIS server on 127.0.0.1 (see _Remote), on a port of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Remote)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_gp_layer_url_on_another_host_is_fetched_even_with_our_key(srv: Server, remote: ThreadingHTTPServer) -> None:
    """The path names our Data/Two layer 0 (2100 towns), but the host is another server's: its
    5 features are read, not our file (find_url once ignored the host)."""
    url = f"http://127.0.0.1:{remote.server_port}/arcgis/rest/services/Data/Two/FeatureServer/0"
    task = f"{TOOLS}/SummarizeFeatures"
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        job_id = submit(c, task, input_features=orjson.dumps({"url": url}).decode())
        assert wait(c, task, job_id)["jobStatus"] == "esriJobSucceeded"
        assert result(c, task, job_id, "count")["value"] == 5


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_gp_layer_url_on_our_host_and_port_is_read_locally(srv: Server, host: str) -> None:
    url = f"http://{host}:{srv.port}/arcgis/rest/services/Data/Two/FeatureServer/1/query?where=type%3D%27forest%27"
    frame = expected(srv, "two.gpkg", "parks")
    task = f"{TOOLS}/SummarizeFeatures"
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        job_id = submit(c, task, input_features=orjson.dumps({"url": url}).decode())
        assert wait(c, task, job_id)["jobStatus"] == "esriJobSucceeded"
        assert result(c, task, job_id, "count")["value"] == int((frame["type"] == "forest").sum())


def _submit_error(server: Server, url: str) -> dict:
    r = httpx.post(f"{server.url}{TOOLS}/SummarizeFeatures/submitJob",
                   data={"input_features": orjson.dumps({"url": url}).decode(), "f": "json"}, timeout=30)
    return error_of(r)


def test_gp_layer_url_naming_a_missing_layer_of_ours_says_so(srv: Server) -> None:
    """It used to be refused as 'points at this machine or a private network' (or fetched from ourselves)."""
    for url, says in [
        (f"{srv.url}/arcgis/rest/services/Data/Two/FeatureServer/99", "layer 99 of dataset Data/Two, which does not "
                                                                      "exist (its layers are 0 to 1)"),
        (f"{srv.url}/arcgis/rest/services/Data/Nope/FeatureServer/0/query", "dataset Data/Nope, which this server "
                                                                            "does not have"),
    ]:
        error = _submit_error(srv, url)
        assert error["code"] == 400 and any(says in d for d in error["details"]), error


# -- a server that may not reach private addresses (allow_private_urls = false) -----------------

@pytest.fixture(scope="module")
def private_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Like ``srv``, but with the outbound-URL guard on, as in production."""
    server = Server(tmp_path_factory.mktemp("private"), workers=1)
    make_data(server.tmp / "data")
    config = server.config.read_text()
    assert "allow_private_urls = true" in config
    server.config.write_text(config.replace("allow_private_urls = true", "allow_private_urls = false") + DATASETS)
    server.start()
    yield server
    server.stop()


def test_private_server_refuses_layer_urls_on_this_machine_at_submit(private_srv: Server,
                                                                     remote: ThreadingHTTPServer) -> None:
    for url in (f"http://127.0.0.1:{remote.server_port}/other/rest/services/Pts/FeatureServer/0",
                # our dataset key, but on another port: another server, so not read from our file
                f"http://127.0.0.1:{remote.server_port}/arcgis/rest/services/Data/Two/FeatureServer/0",
                "http://other-server.invalid/arcgis/rest/services/Data/Two/FeatureServer/0"):
        error = _submit_error(private_srv, url)
        assert error["code"] == 400, error
        assert any(url in d and "points at this machine or a private network" in d for d in error["details"]), error


# localhost on the server's own port: one server's own names; behind the scale-out proxy the
# servers know the proxy's address only as public_url
@pytest.mark.local_only
def test_private_server_reads_its_own_layers_and_names_missing_ones(private_srv: Server) -> None:
    """Its own URL on 127.0.0.1:<port> is read from the file (a fetch would be refused)."""
    error = _submit_error(private_srv, f"{private_srv.url}/arcgis/rest/services/Data/Two/FeatureServer/99")
    assert error["code"] == 400 and any("does not exist" in d for d in error["details"]), error
    task = f"{TOOLS}/SummarizeFeatures"
    url = f"http://localhost:{private_srv.port}/arcgis/rest/services/Data/Two/FeatureServer/1"
    with httpx.Client(base_url=private_srv.url, timeout=30) as c:
        job_id = submit(c, task, input_features=orjson.dumps({"url": url}).decode())
        done = wait(c, task, job_id)
        assert done["jobStatus"] == "esriJobSucceeded", done["messages"]
        assert result(c, task, job_id, "count")["value"] == 40
