"""GP data types over HTTP, on the demo services: what a curl user sees."""
from __future__ import annotations

import orjson
import pytest

from .helpers import error_of, result, submit, wait

TOOLS = "/Demo/Tools/GPServer"
SYNC = "/Demo/ToolsSync/GPServer"
POINT = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
         "features": [{"geometry": {"x": 10, "y": 50}, "attributes": {"name": "a"}}]}


def dumps(value) -> str:
    return orjson.dumps(value).decode()


def execute(client, task: str, **params):
    r = client.post(f"{SYNC}/{task}/execute", data={"f": "json", **params})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("how", ["env:outSR", "context"])
def test_out_sr_reprojects_feature_results(client, how):
    params = {"env:outSR": "3857"} if how == "env:outSR" else {"context": dumps({"outSR": {"wkid": 3857}})}
    job_id = submit(client, f"{TOOLS}/ProjectFeatures", input_features=dumps(POINT), out_wkid="4326", **params)
    assert wait(client, f"{TOOLS}/ProjectFeatures", job_id)["jobStatus"] == "esriJobSucceeded"
    value = result(client, f"{TOOLS}/ProjectFeatures", job_id, "result")["value"]
    assert value["spatialReference"] == {"wkid": 3857}
    point = value["features"][0]["geometry"]
    assert point["x"] == pytest.approx(1113194.91, abs=0.01)
    assert point["y"] == pytest.approx(6446275.84, abs=0.01)


def test_geojson_input_and_esri_json_output(client):
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[10, 50], [10, 50.1]]},
         "properties": {"road": "A1"}}]}
    body = execute(client, "SummarizeFeatures", input_features=dumps(geojson))
    outputs = {r["paramName"]: r for r in body["results"]}
    assert outputs["count"] == {"paramName": "count", "dataType": "GPLong", "value": 1}
    assert outputs["total_length"]["dataType"] == "GPLinearUnit"
    assert outputs["total_length"]["value"]["distance"] == pytest.approx(11_120, rel=0.005)
    assert outputs["total_length"]["value"]["units"] == "esriMeters"
    assert outputs["total_area"]["dataType"] == "GPArealUnit"
    assert outputs["extent"]["value"]["geometryType"] == "esriGeometryPolygon"


def test_scalar_types_travel_and_come_back_typed(client):
    body = execute(client, "Echo", text="héllo", number="2.5", count="-3", flag="True",
                   when="1199145600000", tags=dumps(["a", "b"]))
    values = {r["paramName"]: (r["dataType"], r["value"]) for r in body["results"]}
    assert values == {
        "out_text": ("GPString", "héllo"), "out_number": ("GPDouble", 2.5), "out_count": ("GPLong", -3),
        "out_flag": ("GPBoolean", True), "out_when": ("GPDate", 1199145600000),
        "out_tags": ("GPMultiValue:GPString", ["a", "b"]),
    }


def test_inputs_are_kept_normalized_with_the_job(client):
    job_id = submit(client, f"{TOOLS}/Echo", count="7", flag="yes", when="2008-01-01T00:00:00Z")
    wait(client, f"{TOOLS}/Echo", job_id)
    r = client.get(f"{TOOLS}/Echo/jobs/{job_id}/inputs/when", params={"f": "json"}).json()
    assert r == {"paramName": "when", "dataType": "GPDate", "value": 1199145600000}
    r = client.get(f"{TOOLS}/Echo/jobs/{job_id}/inputs/flag", params={"f": "json"}).json()
    assert r["value"] is True


@pytest.mark.parametrize("params,problem", [
    ({"input_features": '{"features": [{"geometry": {"x": "east", "y": 1}}]}'}, "feature 0"),
    ({"input_features": '{"spatialReference": {"wkid": 999999}, "features": []}'}, "spatial reference"),
    ({"input_features": dumps(POINT), "distance": '{"distance": 5, "units": "esriLightYears"}'}, "unknown linear unit"),
    ({"input_features": dumps(POINT), "distance": "500"}, "distance"),
])
def test_bad_typed_values_are_refused_at_submit_naming_the_parameter(client, params, problem):
    r = client.post(f"{TOOLS}/BufferFeatures/submitJob", data={"f": "json", **params})
    error = error_of(r)
    assert error["code"] == 400
    text = " ".join(error.get("details", [])) + error["message"]
    assert problem in text
    assert ("input_features" in text) or ("distance" in text)


def test_file_result_downloads_from_the_jobs_directory(client):
    job_id = submit(client, f"{TOOLS}/WriteReport", input_features=dumps(POINT), title="Report")
    assert wait(client, f"{TOOLS}/WriteReport", job_id)["jobStatus"] == "esriJobSucceeded"
    value = result(client, f"{TOOLS}/WriteReport", job_id, "result")
    assert value["dataType"] == "GPDataFile"
    url = value["value"]["url"]
    assert f"/arcgis/rest/directories/arcgisjobs/demo/tools_gpserver/{job_id}/scratch/report.csv" in url
    text = client.get(url).text
    assert text.splitlines()[:3] == ["# Report", "geometry_type,centroid_x,centroid_y,name", "Point,10.0,50.0,a"]


def test_out_sr_on_the_result_fetch_reprojects_a_stored_result(client):
    job_id = submit(client, f"{TOOLS}/ProjectFeatures", input_features=dumps(POINT), out_wkid="4326")
    wait(client, f"{TOOLS}/ProjectFeatures", job_id)
    url = f"{TOOLS}/ProjectFeatures/jobs/{job_id}/results/result"
    stored = client.get(url, params={"f": "json", "env:outSR": ""}).json()["value"]   # restapi sends it empty
    assert stored["features"][0]["geometry"] == {"x": 10.0, "y": 50.0}
    projected = client.get(url, params={"f": "json", "env:outSR": "3857"}).json()["value"]
    assert projected["spatialReference"] == {"wkid": 3857}
    assert projected["features"][0]["geometry"]["x"] == pytest.approx(1113194.91, abs=0.01)
    listed = client.get(f"{TOOLS}/ProjectFeatures/jobs/{job_id}/results",
                        params={"f": "json", "env:outSR": '{"wkid": 3857}'}).json()
    assert listed[0]["value"]["spatialReference"] == {"wkid": 3857}
    bad = client.get(url, params={"f": "json", "env:outSR": "999999"})
    assert error_of(bad)["code"] == 400


@pytest.mark.parametrize("out_sr", ["999999", '{"wkid": 123456789}', "not-an-sr"])
def test_unknown_out_sr_is_refused_at_submit(client, out_sr):
    r = client.post(f"{TOOLS}/ProjectFeatures/submitJob",
                    data={"f": "json", "input_features": dumps(POINT), "env:outSR": out_sr})
    error = error_of(r)
    assert error["code"] == 400 and "spatial reference" in " ".join(error["details"])
