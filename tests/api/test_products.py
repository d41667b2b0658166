"""Product generation over HTTP: generateProduct, the product job dialect, the
files it makes (PDF, PNG, GeoTIFF), and the same job through the GP and admin faces.

A real server with a small GeoPackage made here: two map sheets, roads and
places everywhere, lakes only on sheet 1 (so sheet 2 warns of an empty layer).
"""
from __future__ import annotations

from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
import io
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import httpx
import pytest
import rasterio
from pypdf import PdfReader
from shapely.geometry import LineString, Point, box

from conftest import Server, add_user, client_as   # the conftest module pytest loaded (one Server class)
from .helpers import DEMO_PRODUCTS, demo_product, error_of

SVC = "/arcgis/rest/services/Maps/Topo/TopographicProductionServer"
LAYER0 = "/arcgis/rest/services/Data/Topo/FeatureServer/0"
CRS = "EPSG:32633"
SHEETS = [box(500_000, 5_000_000, 510_000, 5_007_000), box(510_000, 5_000_000, 520_000, 5_007_000)]

PRODUCTS = """
[[datasets]]
folder = "Data"
name = "Topo"
path = "topo.gpkg"
public = true

[[product_services]]
folder = "Maps"
name = "Topo"
public = true
max_instances = 1

[[product_services.products]]
name = "Sheet"
description = "A topographic sheet"
sheet_id_field = "sheet_id"

[[product_services.products.versions]]
name = "Standard"
page = "A4"
orientation = "landscape"
title = "Sheet {{name}}"
output_types = ["pdf", "png", "tiff"]
dpi = 72

[[product_services.products.versions.layers]]
title = "Lakes"
dataset = "Data/Topo"
layer = "lakes"
style = {{ fill = "#9ecae1", color = "#3182bd" }}

[[product_services.products.versions.layers]]
title = "Roads"
dataset = "Data/Topo"
layer = "roads"
style = {{ color = "#d62728", width = 1.5 }}

[[product_services.products.versions.layers]]
title = "Places"
dataset = "Data/Topo"
layer = "places"
style = {{ label = "name" }}

[[product_services.products.versions]]
name = "PdfOnly"
scale = 50000
output_types = ["pdf"]

[[product_services.products.versions.layers]]
title = "Roads"
dataset = "Data/Topo"
layer = "roads"

[[product_services]]
folder = "Maps"
name = "Private"
allowed = ["role:user"]

[[product_services.products]]
name = "Sheet"

[[product_services.products.versions]]
name = "Standard"

[[product_services.products.versions.layers]]
title = "Roads"
dataset = "Data/Topo"
layer = "roads"
"""


def make_gpkg(path: Path) -> None:
    sheets = gpd.GeoDataFrame({"sheet_id": ["T-1", "T-2"], "name": ["Alpha", "Beta"]}, geometry=SHEETS, crs=CRS)
    sheets.to_file(path, layer="sheets", driver="GPKG")
    roads = [LineString([(500_000 + i * 700, 5_000_100), (500_300 + i * 700, 5_006_900)]) for i in range(28)]
    gpd.GeoDataFrame({"class": ["primary"] * 28}, geometry=roads, crs=CRS).to_file(path, layer="roads", driver="GPKG")
    places = [Point(501_000 + i * 2_000, 5_003_500) for i in range(9)]
    gpd.GeoDataFrame({"name": [f"Town {i}" for i in range(9)]}, geometry=places, crs=CRS).to_file(
        path, layer="places", driver="GPKG")
    lakes = [Point(503_000, 5_003_000).buffer(800), Point(506_000, 5_005_000).buffer(500)]
    gpd.GeoDataFrame({"kind": ["lake", "pond"]}, geometry=lakes, crs=CRS).to_file(path, layer="lakes", driver="GPKG")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("products")
    make_gpkg(tmp / "topo.gpkg")
    server = Server(tmp, demo=False)
    server.config.write_text(server.config.read_text() + PRODUCTS.format())
    add_user(server.data_dir, "pat", "user", "pat-secret-1")
    add_user(server.data_dir, "quinn", "user", "quinn-secret-1")
    add_user(server.data_dir, "boss", "administrator", "boss-secret-1")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(srv: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        yield c


def generate(http: httpx.Client, **params: Any) -> dict[str, Any]:
    form = {"productName": "Sheet", "productVersion": "Standard", "aoiLayer": f"{http.base_url}{LAYER0}",
            "aoiFeatureId": "1", "outputType": "PDF", "f": "json"}
    form.update({k: v for k, v in params.items() if v is not None})
    for k in [k for k, v in params.items() if v is None]:
        form.pop(k, None)
    r = http.get(f"{SVC}/generateProduct", params=form)
    assert r.status_code == 200, r.text
    return r.json()


def follow(http: httpx.Client, job_id: str, timeout: float = 60, **params: Any) -> list[dict[str, Any]]:
    """Every distinct state of the job until it ends (polled quickly)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"{SVC}/jobs/job/{job_id}", params={"f": "json", **params}).json()
        if not seen or body != seen[-1]:
            seen.append(body)
        if body["status"] in ("Succeeded", "Failed", "TimedOut", "Canceled"):
            return seen
        assert time.monotonic() < deadline, f"job stuck: {body}"
        time.sleep(0.02)


def download(http: httpx.Client, url: str) -> bytes:
    r = http.get(url)
    assert r.status_code == 200, r.text
    return r.content


def test_directory_and_products(http: httpx.Client) -> None:
    folder = http.get("/arcgis/rest/services/Maps", params={"f": "json"}).json()
    assert {"name": "Maps/Topo", "type": "TopographicProductionServer"} in folder["services"]
    assert {"name": "Data/Topo", "type": "FeatureServer"} in http.get(
        "/arcgis/rest/services/Data", params={"f": "json"}).json()["services"]
    products = http.get(f"{SVC}/products", params={"f": "json"}).json()["products"]
    assert [p["name"] for p in products] == ["Sheet"]
    assert [v["name"] for v in products[0]["productVersions"]] == ["Standard", "PdfOnly"]
    assert products[0]["productVersions"][1]["outputTypes"] == ["PDF"]


def test_pdf_for_an_aoi_feature(http: httpx.Client) -> None:
    answer = generate(http)
    job_id = answer["jobId"]
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", job_id)
    states = follow(http, job_id)
    final = states[-1]
    assert final["status"] == "Succeeded" and final["statusCode"] == 4, final
    fractions = [s["percentComplete"] for s in states]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", final["submissionTime"])
    assert final["lastUpdatedTime"] >= final["submissionTime"]
    assert final["productName"] == "Sheet" and final["productVersion"] == "Standard"
    assert final["outputType"] == "PDF" and final["aoiFeatureId"] == 1
    assert final["aoiLayer"].endswith(LAYER0) and final["user"] is None
    assert final["outputUrl"].endswith("/T-1.pdf"), final["outputUrl"]   # named after the sheet ID
    pdf = PdfReader(io.BytesIO(download(http, final["outputUrl"])))
    page = pdf.pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert abs(width - 841.9) < 2 and abs(height - 595.3) < 2        # A4 landscape, in points
    assert "Sheet Alpha" in page.extract_text()
    content = page.get_contents().get_data()
    assert re.search(rb"\sl\s", content) and re.search(rb"\sm\s", content)   # vector paths: moveto, lineto
    informative = final["messages"]["informative"]
    assert informative and final["messages"]["error"] == []


def test_png_and_geotiff(http: httpx.Client, tmp_path: Path) -> None:
    png_job = generate(http, outputType="png", outputName="my sheet")["jobId"]
    tif_job = generate(http, outputType="tiff", aoiFeatureId="2")["jobId"]
    png = follow(http, png_job)[-1]
    assert png["status"] == "Succeeded", png
    data = download(http, png["outputUrl"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert png["outputUrl"].rsplit("/", 1)[-1].startswith("my")
    tif = follow(http, tif_job)[-1]
    assert tif["status"] == "Succeeded", tif
    path = tmp_path / "sheet.tif"
    path.write_bytes(download(http, tif["outputUrl"]))
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 32633
        left, bottom, right, top = ds.bounds
        sheet = SHEETS[1].bounds
        # fit-to-AOI: the image covers the sheet, and is tight on at least one axis
        assert left <= sheet[0] + 1 and bottom <= sheet[1] + 1 and right >= sheet[2] - 1 and top >= sheet[3] - 1
        assert min(abs(left - sheet[0]), abs(bottom - sheet[1])) < (right - left) / ds.width * 2
        assert ds.read(1).std() > 0                # something was drawn


def test_msg_level_and_empty_layer_warning(http: httpx.Client) -> None:
    job_id = generate(http, aoiFeatureId="2")["jobId"]      # sheet 2 has no lakes
    final = follow(http, job_id)[-1]
    assert final["status"] == "Succeeded", final
    assert any("Lakes" in w for w in final["messages"]["warning"]), final["messages"]
    info = http.get(f"{SVC}/jobs/job/{job_id}", params={"f": "json", "msgLevel": "info"}).json()["messages"]
    warn = http.get(f"{SVC}/jobs/job/{job_id}", params={"f": "json", "msgLevel": "warn"}).json()["messages"]
    error = http.get(f"{SVC}/jobs/{job_id}", params={"f": "json", "msgLevel": "error"}).json()["messages"]
    assert info["informative"] and info["warning"]
    assert set(warn) == {"warning", "error"} and warn["warning"] == info["warning"]
    assert set(error) == {"error"}
    r = http.get(f"{SVC}/jobs/job/{job_id}", params={"f": "json", "msgLevel": "loud"})
    assert "msgLevel" in " ".join(error_of(r)["details"])


def test_custom_aoi_and_layer_exclusion(http: httpx.Client) -> None:
    aoi = ('[{"geometry": {"rings": [[[502000,5001000],[502000,5004000],[506000,5004000],[506000,5001000],'
           '[502000,5001000]]], "spatialReference": {"wkid": 32633}}, "attributes": {"name": "Custom"}}]')
    job_id = generate(http, aoiLayer=None, aoiFeatureId=None, customAoi=aoi,
                      layerExclusion='["Lakes"]')["jobId"]
    final = follow(http, job_id)[-1]
    assert final["status"] == "Succeeded", final
    assert final["aoiFeatureId"] is None and final["aoiLayer"] == ""     # a string, as ArcGIS answers
    assert not any("Lakes" in m for group in final["messages"].values() for m in group)
    pdf = PdfReader(io.BytesIO(download(http, final["outputUrl"])))
    assert "Sheet Custom" in pdf.pages[0].extract_text()


def test_aoi_from_a_geojson_url(http: httpx.Client, tmp_path: Path) -> None:
    """Any GeoJSON URL the server can reach works as the AOI layer."""
    sheets = gpd.GeoDataFrame({"OBJECTID": [7], "name": ["Remote"]}, geometry=[SHEETS[0]], crs=CRS).to_crs(4326)
    (tmp_path / "aoi.geojson").write_text(sheets.to_json())
    handler = lambda *a: QuietHandler(*a, directory=str(tmp_path))   # noqa: E731
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as remote:
        threading.Thread(target=remote.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{remote.server_address[1]}/aoi.geojson"
            job_id = generate(http, aoiLayer=url, aoiFeatureId="7")["jobId"]
            final = follow(http, job_id)[-1]
            missing = generate(http, aoiLayer=url, aoiFeatureId="8")
        finally:
            remote.shutdown()
    assert final["status"] == "Succeeded", final
    assert "8" in " ".join(missing["error"]["details"])


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("params, needle", [
    ({"productName": "Atlas"}, "Atlas"),
    ({"productVersion": "Deluxe"}, "Deluxe"),
    ({"productVersion": "PdfOnly", "outputType": "png"}, "PNG"),
    ({"outputType": "aprx"}, "aprx"),
    ({"outputType": None}, "outputType"),
    ({"productName": None}, "productName"),
    ({"aoiFeatureId": None}, "aoiFeatureId"),
    ({"aoiFeatureId": "99"}, "99"),
    ({"aoiFeatureId": "one"}, "aoiFeatureId"),
    ({"aoiLayer": None}, "aoiLayer"),
    ({"aoiLayer": "ftp://example.com/layer"}, "http"),
    ({"aoiLayer": "/arcgis/rest/services/Data/Topo/FeatureServer/9"}, "does not exist"),
    ({"aoiLayer": "/arcgis/rest/services/Data/Topo/FeatureServer/1", "aoiFeatureId": "1"}, "polygon"),
    ({"customAoi": '[{"geometry": {"x": 1, "y": 2}}]'}, "aoiFeatureId"),   # both given
    ({"aoiFeatureId": None, "customAoi": '[{"geometry": {"x": 500100, "y": 5000100, '
      '"spatialReference": {"wkid": 32633}}}]'}, "polygon"),
    ({"aoiFeatureId": None, "customAoi": "not json"}, "customAoi"),
    ({"aoiFeatureId": None, "customAoi": "[]"}, "one feature"),
    ({"layerExclusion": '["Rivers"]'}, "Rivers"),
    ({"layerExclusion": '["Lakes", "Roads", "Places"]'}, "no layer"),
    ({"productVersion": '{"nome": 1}'}, "name"),
    ({"aoiFeatureId": None, "customAoi": '{"features": 5}'}, "array"),
    ({"aoiFeatureId": None, "customAoi": '[{"geometry": {"rings": [[[0,0],[0,1],[1,1],[0,0]]]}, "attributes": "x"}]'},
     "attributes"),
    ({"aoiFeatureId": None, "customAoi": '[{"geometry": {"rings": [[[1000,1000],[1000,1001],[1001,1001],'
      '[1000,1000]]], "spatialReference": {"wkid": 4326}}}]'}, "longitude"),
    ({"aoiFeatureId": None, "customAoi": '[{"geometry": {"rings": [[[1,1],[1,2],[2,2],[1,1]]], '
      '"spatialReference": {"wkid": 4978}}}]'}, "geocentric"),
    ({"aoiFeatureId": None, "customAoi": '[{"geometry": {"rings": [[[-170,-60],[-170,60],[170,60],[170,-60],'
      '[-170,-60]]]}}]'}, "40 degrees"),
    ({"aoiFeatureId": None, "customAoi": '[{"geometry": {"rings": [[[5,5],[5,5],[5,5],[5,5]]]}}]'}, "polygon"),
])
def test_bad_requests_fail_at_once(http: httpx.Client, params: dict[str, Any], needle: str) -> None:
    if (params.get("aoiLayer") or "").startswith("/"):
        params["aoiLayer"] = f"{http.base_url}{params['aoiLayer']}"
    before = http.get(f"{SVC}/jobs/query", params={"f": "json"}).json()["total"]
    body = generate(http, **params)
    assert "error" in body, body
    assert needle.lower() in " ".join(body["error"]["details"]).lower(), body
    assert http.get(f"{SVC}/jobs/query", params={"f": "json"}).json()["total"] == before   # no job made


def test_same_job_through_gp_and_admin_faces(http: httpx.Client, admin: httpx.Client) -> None:
    job_id = generate(http)["jobId"]
    follow(http, job_id)
    gp = http.get(f"/arcgis/rest/services/Maps/Topo/GPServer/GenerateProduct/jobs/{job_id}",
                  params={"f": "json"}).json()
    assert gp["jobStatus"] == "esriJobSucceeded"
    found = admin.get("/arcgis/admin/services/Maps/Topo.GPServer/jobs/query",
                      params={"f": "json", "number": 100}).json()
    assert job_id in found["results"], found
    one = admin.get(f"/arcgis/admin/services/Maps/Topo.GPServer/jobs/{job_id}", params={"f": "json"}).json()
    assert one["status"] == "esriJobSucceeded" and one["task"] == "GenerateProduct", one
    # its inputs there name the definition but never show it: it holds the server's file paths
    inputs = http.get(f"/arcgis/rest/services/Maps/Topo/GPServer/GenerateProduct/jobs/{job_id}/inputs",
                      params={"f": "json"})
    assert inputs.status_code == 200 and "definition" in inputs.text, inputs.text
    definition = http.get(f"/arcgis/rest/services/Maps/Topo/GPServer/GenerateProduct/jobs/{job_id}/inputs/definition",
                          params={"f": "json"}).json()
    page = http.get(f"/arcgis/rest/services/Maps/Topo/GPServer/GenerateProduct/jobs/{job_id}", params={"f": "html"})
    for shown in (inputs.text, str(definition["value"]), page.text):
        assert "topo.gpkg" not in shown, shown[:2000]
    assert definition["value"] == "(not shown: the server's own)"
    assert "productVersion" in inputs.text and "(not shown" in page.text
    # the GP face does not take product jobs directly: its inputs are the server's own
    r = http.post("/arcgis/rest/services/Maps/Topo/GPServer/GenerateProduct/submitJob",
                  data={"f": "json", "definition": '{"layers": []}'})
    assert "generateProduct" in error_of(r)["message"]


@pytest.fixture(scope="module")
def admin(srv: Server) -> Iterator[httpx.Client]:
    with client_as(srv, "boss", "boss-secret-1") as c:
        yield c


def test_query_and_cancel(srv: Server, admin: httpx.Client) -> None:
    # max_instances = 1: the second job waits behind the first, so it can be cancelled for sure
    with client_as(srv, "pat", "pat-secret-1") as pat, client_as(srv, "quinn", "quinn-secret-1") as quinn:
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 2))
        first = generate(pat, aoiLayer=f"{srv.url}{LAYER0}")["jobId"]
        second = generate(pat, aoiLayer=f"{srv.url}{LAYER0}")["jobId"]
        theirs = generate(quinn, aoiLayer=f"{srv.url}{LAYER0}", aoiFeatureId="2")["jobId"]
        assert quinn.get(f"{SVC}/jobs/cancel", params={"jobId": second, "f": "json"}).json()["success"] is False
        cancelled = pat.get(f"{SVC}/jobs/cancel", params={"jobId": second, "f": "json"}).json()
        assert cancelled["success"] is True and cancelled["items"][0]["id"] == second
        assert follow(pat, second)[-1]["statusCode"] == 8
        assert follow(pat, first)[-1]["statusCode"] == 4
        follow(quinn, theirs)
        mine = pat.get(f"{SVC}/jobs/query", params={"f": "json", "startDate": start}).json()
        assert {j["jobId"] for j in mine["jobs"]} == {first, second}        # only pat's own
        done = pat.get(f"{SVC}/jobs/query", params={"f": "json", "startDate": start, "status": "4"}).json()
        assert [j["jobId"] for j in done["jobs"]] == [first]
        everyone = admin.get(f"{SVC}/jobs/query", params={"f": "json", "startDate": start}).json()
        assert {first, second, theirs} <= {j["jobId"] for j in everyone["jobs"]}
        by_user = admin.get(f"{SVC}/jobs/query", params={"f": "json", "startDate": start, "user": "quinn"}).json()
        assert [j["jobId"] for j in by_user["jobs"]] == [theirs] and by_user["jobs"][0]["user"] == "quinn"
        terse = admin.get(f"{SVC}/jobs/query", params={"f": "json", "startDate": start, "msgLevel": "error"}).json()
        assert all(set(j["messages"]) == {"error"} for j in terse["jobs"])
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
        assert admin.get(f"{SVC}/jobs/query", params={"f": "json", "startDate": tomorrow}).json()["total"] == 0
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert admin.get(f"{SVC}/jobs/query", params={"f": "json", "endDate": today}).json()["total"] >= 3
        for bad in ({"status": "42"}, {"startDate": "yesterday"}, {"num": "0"}):
            r = admin.get(f"{SVC}/jobs/query", params={"f": "json", **bad})
            assert error_of(r)["code"] == 400, r.text
        assert "error" in pat.get(f"{SVC}/jobs/cancel", params={"f": "json"}).json()


def test_access(srv: Server, http: httpx.Client) -> None:
    private = "/arcgis/rest/services/Maps/Private/TopographicProductionServer"
    assert error_of(http.get(f"{private}/products", params={"f": "json"}))["code"] == 499
    with client_as(srv, "pat", "pat-secret-1") as pat:
        assert pat.get(f"{private}/products", params={"f": "json"}).json()["products"][0]["name"] == "Sheet"
        mine = generate(pat, aoiLayer=f"{srv.url}{LAYER0}")["jobId"]
    # someone else's job reads as unknown
    assert error_of(http.get(f"{SVC}/jobs/job/{mine}", params={"f": "json"}))["code"] == 404
    assert error_of(http.get(f"{SVC}/jobs/job/NOPE", params={"f": "json"}))["code"] == 404
    assert error_of(http.get("/arcgis/rest/services/Maps/Nope/TopographicProductionServer",
                             params={"f": "json"}))["code"] == 404


def test_an_owned_products_file_asks_for_a_token_and_its_id_reads_in_any_case(srv: Server, http: httpx.Client) -> None:
    """Without a token the output is a 499, as for every protected resource, so a client knows to
    sign in; another user still reads it as unknown.  Product job ids are GUIDs, which ArcGIS
    matches in any case."""
    with client_as(srv, "pat", "pat-secret-1") as pat:
        job_id = generate(pat)["jobId"]
        assert job_id == job_id.upper()
        final = follow(pat, job_id.lower())[-1]
        assert final["status"] == "Succeeded" and final["jobId"] == job_id, final
        assert download(pat, final["outputUrl"]).startswith(b"%PDF")
        assert error_of(http.get(final["outputUrl"]))["code"] == 499
        with client_as(srv, "quinn", "quinn-secret-1") as quinn:
            assert error_of(quinn.get(final["outputUrl"]))["code"] == 404
        done = pat.get(f"{SVC}/jobs/delete", params={"f": "json", "jobId": job_id.lower()}).json()
        assert done["items"] == [{"id": job_id, "success": True, "message": ""}], done


def test_the_demo_makes_a_product_in_one_request(server: Server) -> None:
    """``opengp serve --demo`` ships a product service over the packaged dataset."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        versions = c.get(f"{DEMO_PRODUCTS}/products", params={"f": "json"}).json()["products"][0]["productVersions"]
        assert len(versions) >= 2
        _, job = demo_product(c, versions[0]["name"], 60)
        assert job["status"] == "Succeeded", job
        assert PdfReader(io.BytesIO(download(c, job["outputUrl"]))).pages[0].extract_text()


def test_job_page_pjson_delete_and_odd_output_names(http: httpx.Client) -> None:
    job_id = generate(http, outputName="../../etc/passwd")["jobId"]
    final = follow(http, job_id)[-1]
    assert final["outputUrl"].endswith("/passwd.pdf"), final["outputUrl"]      # no way out of the job folder
    dots = follow(http, generate(http, outputName="...")["jobId"])[-1]
    assert dots["outputUrl"].endswith("/T-1.pdf"), dots["outputUrl"]            # nothing left: the sheet's name
    page = http.get(f"{SVC}/jobs/{job_id}", params={"f": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Succeeded" in page.text and "percentComplete" in page.text and f"GPServer/GenerateProduct/jobs/{job_id}" in page.text
    pretty = http.get(f"{SVC}/jobs/job/{job_id}", params={"f": "pjson"})
    assert pretty.text.startswith("{\n") and pretty.json()["jobId"] == job_id
    deleted = http.get(f"{SVC}/jobs/delete", params={"jobId": job_id, "f": "json"}).json()
    assert deleted["success"] is True and deleted["name"] == "deleted"
    assert error_of(http.get(f"{SVC}/jobs/{job_id}", params={"f": "json"}))["code"] == 404
    assert error_of(http.get(final["outputUrl"]))["code"] == 404                  # the file went with it


def test_a_name_with_dollars_is_text_not_math(http: httpx.Client) -> None:
    aoi = ('[{"geometry": {"rings": [[[502000,5001000],[502000,5004000],[506000,5004000],[506000,5001000],'
           '[502000,5001000]]], "spatialReference": {"wkid": 32633}}, "attributes": {"name": "$\\\\frac{$ 5$"}}]')
    final = follow(http, generate(http, aoiLayer=None, aoiFeatureId=None, customAoi=aoi)["jobId"])[-1]
    assert final["status"] == "Succeeded", final["messages"]
    assert "$" in PdfReader(io.BytesIO(download(http, final["outputUrl"]))).pages[0].extract_text()


def test_a_same_site_page_cannot_generate_cancel_or_delete_by_get_with_the_cookie(srv: Server) -> None:
    """generateProduct and the product jobs' cancel and delete take GET: with the sign-in cookie they
    must come from this origin (an image on another port of the host carries the cookie too)."""
    another_port = {"sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}
    with httpx.Client(base_url=srv.url, timeout=30) as pat:
        r = pat.post("/arcgis/login", data={"username": "pat", "password": "pat-secret-1"})
        assert r.status_code == 303 and "agstoken" in pat.cookies
        form = {"productName": "Sheet", "productVersion": "Standard", "aoiLayer": f"{srv.url}{LAYER0}",
                "aoiFeatureId": "1", "outputType": "PDF", "f": "json"}
        assert error_of(pat.get(f"{SVC}/generateProduct", params=form, headers=another_port))["code"] == 403
        job_id = pat.get(f"{SVC}/generateProduct", params=form, headers={"sec-fetch-site": "same-origin"}).json()["jobId"]
        for op in ("cancel", "delete"):
            r = pat.get(f"{SVC}/jobs/{op}", params={"jobId": job_id, "f": "json"}, headers=another_port)
            assert error_of(r)["code"] == 403
        assert pat.get(f"{SVC}/jobs/job/{job_id}", params={"f": "json"}).json()["status"] != "Canceled"
        follow(pat, job_id)
        assert pat.get(f"{SVC}/jobs/delete", params={"jobId": job_id, "f": "json"},
                       headers={"sec-fetch-site": "same-origin"}).json()["success"] is True


def test_anonymous_callers_list_no_product_jobs(srv: Server, http: httpx.Client, admin: httpx.Client) -> None:
    """An anonymous job's id is all that protects it: the job list gave every anonymous product job
    (and so its inputs, and a way to delete it) to every anonymous caller."""
    mine = generate(http, aoiLayer=f"{srv.url}{LAYER0}")["jobId"]
    follow(http, mine)
    listed = http.get(f"{SVC}/jobs/query", params={"f": "json"}).json()
    assert (listed["jobs"], listed["total"]) == ([], 0)
    assert http.get(f"{SVC}/jobs/job/{mine}", params={"f": "json"}).json()["status"] == "Succeeded"   # by its id
    assert mine in {j["jobId"] for j in admin.get(f"{SVC}/jobs/query", params={"f": "json"}).json()["jobs"]}
