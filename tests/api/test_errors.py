"""Bad requests get ArcGIS error bodies over HTTP 200, never a 500, and no job."""
from __future__ import annotations

import json

import pytest

from .helpers import error_of, on_one_connection, submit, wait

JOBS = "/Test/Jobs/GPServer"


def _job_count(server) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(server.store_url)     # SQLite, or a scale-out deployment's PostgreSQL
    try:
        with engine.connect() as db:
            return db.execute(text("select count(*) from jobs")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("params, problem", [
    ({}, "Missing required parameter 'a'"),
    ({"a": "abc"}, "'a' (GPLong)"),
    ({"a": "1", "b": "2.5"}, "'b' (GPLong)"),
    ({"a": "99999999999"}, "'a' (GPLong)"),
])
def test_invalid_input_is_rejected_at_submit_naming_the_parameter(server, client, params, problem):
    before = _job_count(server)
    err = error_of(client.post(f"{JOBS}/Add/submitJob", data={"f": "json", **params}))
    assert err["code"] == 400
    assert any(problem in d for d in err["details"]), err
    assert _job_count(server) == before


def test_choice_outside_the_list_is_rejected(client):
    err = error_of(client.post(f"{JOBS}/Choose/submitJob", data={"f": "json", "color": "blue"}))
    assert err["code"] == 400 and "red" in err["details"][0]


def test_malformed_json_value_is_rejected(client):
    err = error_of(client.post(f"{JOBS}/Stats/submitJob", data={"f": "json", "values": "[1, 2"}))
    assert err["code"] == 400 and "'values'" in err["details"][0]


def test_unknown_job_and_parameter(client):
    assert error_of(client.get(f"{JOBS}/Add/jobs/jdoesnotexist", params={"f": "json"}))["code"] == 404
    job_id = submit(client, f"{JOBS}/Add", a="1")
    wait(client, f"{JOBS}/Add", job_id)
    assert error_of(client.get(f"{JOBS}/Add/jobs/{job_id}/results/nope", params={"f": "json"}))["code"] == 404
    assert error_of(client.get(f"{JOBS}/Add/jobs/{job_id}/inputs/nope", params={"f": "json"}))["code"] == 404
    assert error_of(client.get(f"{JOBS}/Add/jobs/{job_id}/nope", params={"f": "json"}))["code"] == 404


def test_execute_on_an_async_service_and_submit_on_a_sync_one(client):
    assert error_of(client.post(f"{JOBS}/Add/execute", data={"f": "json", "a": "1"}))["code"] == 400
    err = error_of(client.post("/Test/Sync/GPServer/Add/submitJob", data={"f": "json", "a": "1"}))
    assert err["code"] == 400 and "execute" in err["message"]


def test_oversized_request_is_refused_with_413(server, client):
    big = "x" * (11 * 1024 * 1024)
    before = _job_count(server)
    err = error_of(client.post(f"{JOBS}/Noop/submitJob", data={"f": "json", "value": big}))
    assert err["code"] == 413
    assert _job_count(server) == before


def test_non_utf8_body_is_a_clear_error(client):
    r = client.post(f"{JOBS}/Noop/submitJob", content=b"value=\xff\xfe&f=json",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert error_of(r)["code"] == 400


def test_errors_in_pjson_are_pretty(client):
    r = client.get(f"{JOBS}/Nope", params={"f": "pjson"})
    assert "\n" in r.text and error_of(r)["code"] == 404


def test_a_failing_query_is_a_clear_error_and_the_connection_stays_up(server):
    """FeatureServer ``query`` with NaN coordinates failed in shapely before its finiteness check:
    a 500, and the server dropped the keep-alive connection, so the client's next request on
    it (perhaps a submit) failed with a reset."""
    query = "/arcgis/rest/services/Demo/Topo/FeatureServer/0/query?geometry=nan,nan,nan,nan&f=json"
    (status, body), (after, _) = on_one_connection(server.url, ("GET", query), ("GET", "/arcgis/rest/info?f=json"))
    error = json.loads(body)["error"]
    assert (status, error["code"]) == (200, 400) and "finite" in " ".join(error["details"]), body
    assert after == 200


@pytest.mark.parametrize("path, dialect", [
    ("/nothing/here", "rest"), ("/arcgis/logout", "rest"),
    ("/ogcapi/no/such/thing", "ogc"), ("/arcgis/admin/no/such/thing?f=json", "admin"),
])
def test_unknown_paths_and_methods_answer_in_the_face_dialect(server, path, dialect):
    """The router's own 404 and 405 were FastAPI's ``{"detail": ...}``, in no face's dialect."""
    (status, body), = on_one_connection(server.url, ("GET", path))
    answer = json.loads(body)
    assert status in (404, 405)
    if dialect == "rest":
        assert answer["error"]["code"] == status and answer["error"]["message"]
    elif dialect == "ogc":
        assert answer["status"] == status and answer["type"].startswith("http://www.opengis.net/def/exceptions/")
    else:
        assert answer["status"] == "error" and answer["code"] == status


REST = "/arcgis/rest/services"


@pytest.mark.parametrize("method, path, dialect", [
    ("GET", "/arcgis/rest/info", "rest"),
    ("GET", REST, "rest"),
    ("GET", f"{REST}{JOBS}", "rest"),
    ("GET", f"{REST}{JOBS}/Add", "rest"),
    ("POST", f"{REST}{JOBS}/Add/submitJob", "rest"),
    ("GET", f"{REST}/Demo/Topo/FeatureServer/0", "rest"),
    ("GET", f"{REST}/Demo/Topo/FeatureServer/0/query", "rest"),
    ("GET", f"{REST}/Demo/Topographic/TopographicProductionServer", "rest"),
    ("GET", "/arcgis/admin/services", "admin"),
    ("GET", "/ogcapi/processes", "ogc"),
    ("GET", "/ogcapi/jobs", "ogc"),
])
def test_an_unsupported_format_is_a_400_not_json_it_did_not_ask_for(server, client, method, path, dialect):
    """``f=kmz`` (or a typo) used to be answered with JSON as if nothing were wrong; no job is made."""
    before = _job_count(server)
    data = {"f": "kmz", "a": "1", "where": "1=1"}
    r = (client.post(server.url + path, data=data) if method == "POST"
         else client.get(server.url + path, params=data))
    body = r.json()
    if dialect == "rest":
        assert body["error"]["code"] == 400 and "kmz" in " ".join(body["error"]["details"]), body
    elif dialect == "ogc":
        assert r.status_code == body["status"] == 400 and "kmz" in body["detail"], body
    else:
        assert body["status"] == "error" and body["code"] == 400 and "kmz" in " ".join(body["messages"]), body
    assert _job_count(server) == before


def test_the_format_is_read_without_case(client):
    r = client.get(f"{JOBS}/Add", params={"f": "PJSON"})
    assert r.json()["name"] == "Add" and r.text.startswith("{\n")
