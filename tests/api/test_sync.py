"""Synchronous services: execute returns results (or the tool's error) in one call."""
from __future__ import annotations

from .helpers import error_of

SYNC = "/Test/Sync/GPServer"


def test_execute_returns_results_and_messages(client):
    r = client.post(f"{SYNC}/Stats/execute", data={"f": "json", "values": "[1, 2, 3.5]"})
    body = r.json()
    assert body["results"] == [
        {"paramName": "total", "dataType": "GPDouble", "value": 6.5},
        {"paramName": "count", "dataType": "GPLong", "value": 3},
        {"paramName": "title", "dataType": "GPString", "value": "Values"},
    ]
    assert any(m["description"].startswith("Succeeded at") for m in body["messages"])


def test_execute_by_get(client):
    body = client.get(f"{SYNC}/Add/execute", params={"f": "json", "a": "5", "b": "6"}).json()
    assert body["results"][0]["value"] == 11


def test_execute_failure_carries_the_tools_message(client):
    err = error_of(client.post(f"{SYNC}/Fail/execute", data={"f": "json", "message": "bad extent"}))
    assert err["code"] == 500 and err["message"] == "Error executing tool."
    assert "bad extent" in err["details"]
