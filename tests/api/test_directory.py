"""Browsing services as JSON: info, root, folders, GPServer and task resources."""
from __future__ import annotations

import httpx

from .helpers import error_of


def test_info_names_the_version(server):
    body = httpx.get(server.url + "/arcgis/rest/info?f=json").json()
    assert body["currentVersion"] >= 10.1
    assert "authInfo" in body


def test_root_lists_folders_and_folder_lists_services_with_prefix(client):
    root = client.get("", params={"f": "json"}).json()
    assert {"Demo", "Test"} <= set(root["folders"])
    assert {"name": "Retry", "type": "GPServer"} in root["services"]
    folder = client.get("/Test", params={"f": "json"}).json()
    assert {"name": "Test/Jobs", "type": "GPServer"} in folder["services"]
    assert {"name": "Test/Sync", "type": "GPServer"} in folder["services"]


def test_pjson_is_pretty(client):
    r = client.get("/Test", params={"f": "pjson"})
    assert "\n  " in r.text and r.json()["folders"] == []


def test_service_resource_has_what_clients_read(client):
    body = client.get("/Test/Jobs/GPServer", params={"f": "json"}).json()
    assert body["executionType"] == "esriExecutionTypeAsynchronous"
    assert body["resultMapServerName"] == ""
    assert {"Noop", "Add", "Sleep", "Fail"} <= set(body["tasks"])
    sync = client.get("/Test/Sync/GPServer", params={"f": "json"}).json()
    assert sync["executionType"] == "esriExecutionTypeSynchronous"


def test_task_resource_describes_every_parameter(client):
    body = client.post("/Test/Jobs/GPServer/Add", data={"f": "json"}).json()
    assert body["name"] == "Add" and body["description"] == "Adds two numbers."
    assert body["executionType"] == "esriExecutionTypeAsynchronous"
    params = {p["name"]: p for p in body["parameters"]}
    a, b, out = params["a"], params["b"], params["result"]
    for p in (a, b, out):
        assert {"name", "dataType", "displayName", "description", "direction", "defaultValue",
                "parameterType", "category"} <= p.keys()
    assert a["dataType"] == "GPLong" and a["displayName"] == "First"
    assert a["parameterType"] == "esriGPParameterTypeRequired" and a["defaultValue"] is None
    assert b["parameterType"] == "esriGPParameterTypeOptional" and b["defaultValue"] == 2
    assert out["direction"] == "esriGPParameterDirectionOutput" and out["dataType"] == "GPLong"


def test_choice_list_and_multivalue(client):
    choose = client.get("/Test/Jobs/GPServer/Choose", params={"f": "json"}).json()
    assert choose["parameters"][0]["choiceList"] == ["red", "green"]
    stats = client.get("/Test/Jobs/GPServer/Stats", params={"f": "json"}).json()
    types = {p["name"]: p["dataType"] for p in stats["parameters"]}
    assert types == {"values": "GPMultiValue:GPDouble", "label": "GPString",
                     "total": "GPDouble", "count": "GPLong", "title": "GPString"}


def test_demo_service_is_published(client):
    body = client.get("/Demo/Tools/GPServer", params={"f": "json"}).json()
    assert "BufferFeatures" in body["tasks"]


def test_unknown_service_task_and_folder_are_404_errors(client):
    assert error_of(client.get("/Nope/GPServer", params={"f": "json"}))["code"] == 404
    assert error_of(client.get("/Test/Jobs/GPServer/Nope", params={"f": "json"}))["code"] == 404
    assert error_of(client.get("/Nope", params={"f": "json"}))["code"] == 404
