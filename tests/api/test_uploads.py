"""uploads/upload: a file sent before the job that names it by itemID (as ArcGIS clients do)."""
from __future__ import annotations

import json

import httpx
import pytest

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


def _answer_before_the_body(server, path: str, headers: dict[str, str], timeout: float = 5,
                            method: str = "POST") -> dict:
    """Send the request's headers and a first few bytes of a huge body, then wait for the answer:
    a server that checks who is calling first answers without reading on; one that reads the
    body first waits for bytes that never come (and would spool a gigabyte to disk)."""
    import socket
    from urllib.parse import urlsplit

    # an API server itself: the scale-out pass's test proxy (httpx) sends a whole body before it
    # reads the answer, so it could not pass an early one on (nginx streams: deploy/nginx.conf)
    deployment = getattr(server, "deployment", None)
    parts = urlsplit(deployment.urls[0] if deployment is not None else server.url)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n' + b"x" * 4096
    if headers.get("Transfer-Encoding") == "chunked":
        start = b"%x\r\n%s\r\n" % (len(start), start)          # the first chunk of many
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n".encode() + start)
        reader = sock.makefile("rb")
        try:
            status = int(reader.readline().split()[1])
        except socket.timeout:
            raise AssertionError(f"no answer within {timeout} s: the server is reading the body") from None
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = reader.read(length)
        return {"status": status, **(json.loads(body) if body.startswith(b"{") else {"html": body})}


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_an_anonymous_upload_to_a_private_service_is_refused_before_its_body_is_read(server, framing):
    """uploads/upload read (and spooled to disk) the whole body, up to 1 GiB, before it checked the
    caller: four anonymous uploads at once to a private service used 4 GB."""
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    headers.update({"Content-Length": str(1 << 30)} if framing == "declared" else {"Transfer-Encoding": "chunked"})
    answer = _answer_before_the_body(server, "/arcgis/rest/services/Test/Members/GPServer/uploads/upload?f=json",
                                     headers)
    assert answer["status"] == 200 and answer["error"]["code"] == 499, answer


def test_an_upload_over_the_limit_is_refused_from_its_declared_length(server):
    answer = _answer_before_the_body(server, f"/arcgis/rest/services{GP}/uploads/upload?f=json", {
        "Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(2 << 30)})
    assert answer["error"]["code"] == 413, answer


def test_a_get_with_a_huge_multipart_body_is_refused_before_it_is_read(server):
    """A GET was never held to the body limit, but a GET submitJob with f=html parses a multipart
    body (its files): any caller could make the server spool a body of any size."""
    answer = _answer_before_the_body(server, f"/arcgis/rest/services{GP}/Noop/submitJob?f=html&value=hi", {
        "Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(2 << 30)}, method="GET")
    assert answer["status"] == 413 or answer.get("error", {}).get("code") == 413, answer


def test_who_may_upload_to_a_private_service(server):
    """The token in a header or the query string lets the caller send a file as large as uploads
    allow (here over the 10 MB an ordinary request may carry); in the form itself it still works
    for what an ordinary request may carry."""
    password = (server.data_dir / "demo-admin-password").read_text().strip()
    token = httpx.post(f"{server.url}/arcgis/tokens/generateToken", data={
        "username": "admin", "password": password, "client": "requestip", "f": "json"}).json()["token"]
    members = f"{server.url}/arcgis/rest/services/Test/Members/GPServer/uploads/upload"
    big = b"y" * (11 * 1024 * 1024)
    r = httpx.post(members, data={"f": "json"}, files={"file": ("big.bin", big)},
                   headers={"X-Esri-Authorization": f"Bearer {token}"}, timeout=60)
    assert r.json()["item"]["itemName"] == "big.bin", r.text
    r = httpx.post(members, data={"f": "json", "token": token}, files={"file": ("small.txt", b"hello")})
    assert r.json()["success"] is True, r.text
    r = httpx.post(members, data={"f": "json", "token": token}, files={"file": ("big.bin", big)}, timeout=60)
    assert r.json()["error"]["code"] == 499, r.text     # over an ordinary request's size, token unseen
