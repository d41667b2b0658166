"""``/openapi.json``: the ArcGIS REST face as an OpenAPI document (FastAPI's own was empty, and its
/docs page loaded Swagger UI from a CDN)."""
from __future__ import annotations

import httpx
from openapi_spec_validator import validate


def test_the_document_describes_every_published_task_with_its_parameters(server):
    r = httpx.get(f"{server.url}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    document = r.json()
    validate(document)
    paths = document["paths"]
    add = paths["/arcgis/rest/services/Test/Jobs/GPServer/Add/submitJob"]["post"]
    form = add["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["a"]["type"] == "integer" and form["required"] == ["a"]
    assert form["properties"]["b"]["example"] == 2
    choose = paths["/arcgis/rest/services/Test/Jobs/GPServer/Choose/submitJob"]["post"]
    assert choose["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]["color"][
        "enum"] == ["red", "green"]
    assert "/arcgis/rest/services/Test/Sync/GPServer/Add/execute" in paths            # a synchronous service
    result = paths["/arcgis/rest/services/Test/Jobs/GPServer/Add/jobs/{jobId}/results/{paramName}"]["get"]
    assert {p["name"]: p for p in result["parameters"]}["paramName"]["schema"]["enum"] == ["result"]
    assert "/arcgis/rest/services/Demo/Topo/FeatureServer/{layerId}/query" in paths
    assert "/arcgis/rest/services/Demo/Topographic/TopographicProductionServer/generateProduct" in paths
    assert "/arcgis/tokens/generateToken" in paths
    assert httpx.get(f"{server.url}/docs").status_code == 404        # no page that needs a CDN


def test_the_document_names_only_what_the_caller_may_use(server):
    """Like the services directory: a private service's name and parameters are not shown to
    someone who may not use it."""
    anonymous = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert not [p for p in anonymous if "/Test/Members/" in p]
    password = (server.data_dir / "demo-admin-password").read_text().strip()
    token = httpx.post(f"{server.url}/arcgis/tokens/generateToken", data={
        "username": "admin", "password": password, "client": "requestip", "f": "json"}).json()["token"]
    admin = httpx.get(f"{server.url}/openapi.json", headers={"X-Esri-Authorization": f"Bearer {token}"}).json()
    assert "/arcgis/rest/services/Test/Members/GPServer/Add/submitJob" in admin["paths"]
