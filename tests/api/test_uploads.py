"""uploads/upload: a file sent before the job that names it by itemID (as ArcGIS clients do)."""
from __future__ import annotations

import json

import httpx

from .helpers import submit, wait

GP = "/Test/Jobs/GPServer"          # the client fixture is based at /arcgis/rest/services


def upload(client: httpx.Client, name: str, content: bytes, service: str = GP) -> dict:
    r = client.post(f"{service}/uploads/upload", data={"f": "json"}, files={"file": (name, content)})
    assert r.status_code == 200
    return r.json()


def test_an_uploaded_file_feeds_a_job(client):
    answer = upload(client, "notes.txt", "héllo from a file".encode())
    item = answer["item"]
    assert answer["success"] is True and item["itemID"].startswith("i") and item["itemName"] == "notes.txt"
    job = submit(client, f"{GP}/ReadFile", data=json.dumps({"itemID": item["itemID"]}))
    assert wait(client, f"{GP}/ReadFile", job)["jobStatus"] == "esriJobSucceeded"
    result = client.get(f"{GP}/ReadFile/jobs/{job}/results/result", params={"f": "json"}).json()
    assert result["value"] == "héllo from a file"
    inputs = client.get(f"{GP}/ReadFile/jobs/{job}/inputs/data", params={"f": "json"}).json()
    assert inputs["value"] == {"itemID": item["itemID"]}


def test_unknown_or_malformed_item_ids_are_refused_at_submit(client):
    for item_id in ("i" + "0" * 32, "../../etc/passwd", ""):
        r = client.post(f"{GP}/ReadFile/submitJob", data={"f": "json", "data": json.dumps({"itemID": item_id})})
        body = r.json()
        assert body["error"]["code"] == 400, body
        assert "itemID" in " ".join(body["error"]["details"])


def test_upload_names_cannot_escape_their_folder(client, server):
    item = upload(client, "../../evil.txt", b"x")["item"]
    assert item["itemName"] == "evil.txt"
    assert (server.data_dir / "uploads" / item["itemID"] / "evil.txt").is_file()
    assert not (server.data_dir.parent / "evil.txt").exists()


def test_upload_needs_a_file_and_the_service_rules(client, server):
    r = client.post(f"{GP}/uploads/upload", data={"f": "json"}, files={"other": ("a.txt", b"x")})
    assert r.json()["error"]["code"] == 400
    r = client.post(f"{GP}/uploads/upload", data={"f": "json", "file": "not a file"})
    assert r.json()["error"]["code"] == 400
    secured = httpx.post(f"{server.url}/arcgis/rest/services/Test/Members/GPServer/uploads/upload",
                         data={"f": "json"}, files={"file": ("a.txt", b"x")}).json()
    assert secured["error"]["code"] == 499
