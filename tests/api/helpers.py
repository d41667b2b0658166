"""Small HTTP helpers for talking to a GPServer the way ArcGIS clients do."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from conftest import Server, add_user

TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}


def submit(client: httpx.Client, task_url: str, **params: Any) -> str:
    r = client.post(f"{task_url}/submitJob", data={"f": "json", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "jobId" in body, body
    return body["jobId"]


def job(client: httpx.Client, task_url: str, job_id: str, **params: Any) -> dict[str, Any]:
    r = client.get(f"{task_url}/jobs/{job_id}", params={"f": "json", **params})
    assert r.status_code == 200, r.text
    return r.json()


def wait(client: httpx.Client, task_url: str, job_id: str, until: set[str] = TERMINAL,
         timeout: float = 30, interval: float = 0.02) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = job(client, task_url, job_id)
        if body["jobStatus"] in until:
            return body
        assert time.monotonic() < deadline, f"job {job_id} stuck at {body}"
        time.sleep(interval)


def result(client: httpx.Client, task_url: str, job_id: str, name: str) -> Any:
    r = client.get(f"{task_url}/jobs/{job_id}/results/{name}", params={"f": "json"})
    assert r.status_code == 200, r.text
    return r.json()


def error_of(r: httpx.Response) -> dict[str, Any]:
    """The ArcGIS error object of a response (which must be HTTP 200, as ArcGIS sends)."""
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text}"
    body = r.json()
    assert "error" in body, body
    return body["error"]


DEMO_PRODUCTS = "/arcgis/rest/services/Demo/Topographic/TopographicProductionServer"


def demo_product(client: httpx.Client, version: str, timeout: float) -> tuple[str, dict[str, Any]]:
    """``generateProduct`` of the demo (``opengp serve --demo``): a PDF of ``version`` for sheet 1
    of Demo/Topo; waits for the job to end.  Returns (job id, the job in the product dialect)."""
    answer = client.get(f"{DEMO_PRODUCTS}/generateProduct", params={
        "productName": "Topographic", "productVersion": version, "outputType": "pdf",
        "aoiLayer": f"{client.base_url}/arcgis/rest/services/Demo/Topo/FeatureServer/0", "aoiFeatureId": "1",
        "f": "json"}).json()
    deadline = time.monotonic() + timeout
    while (job := client.get(f"{DEMO_PRODUCTS}/jobs/{answer['jobId']}", params={"f": "json"}).json())["statusCode"] < 4:
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    return answer["jobId"], job


def on_one_connection(base_url: str, *requests: tuple[str, str]) -> list[tuple[int, bytes]]:
    """Send ``(method, path)`` requests one after the other on ONE keep-alive connection, as
    browsers and client libraries reuse them; returns ``(status, body)`` of each.  Fails if the
    server closed the connection before answering them all (httpx would quietly reconnect)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    answers = []
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        for method, path in requests:
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: 0\r\n\r\n".encode())
            status_line = reader.readline()
            assert status_line, f"the server closed the connection instead of answering {method} {path}"
            status = int(status_line.split()[1])
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("transfer-encoding") == "chunked":
                body = b""
                while (size := int(reader.readline().strip() or b"0", 16)):
                    body += reader.read(size)
                    reader.readline()
                reader.readline()
            else:
                body = reader.read(int(headers.get("content-length", "0")))
            answers.append((status, body))
            assert headers.get("connection") != "close", f"{method} {path} closed the connection"
    return answers


# an administrator and a publisher (tests of who sees what in the admin API and console)
PASSWORDS = {"root": "root password", "pat": "pat password"}


def started_with_users(data: Path, **kwargs: Any) -> Server:
    """A server of its own (``Server`` arguments in ``kwargs``) with the users of PASSWORDS:
    ``root`` an administrator, ``pat`` a publisher."""
    server = Server(data, **kwargs)
    add_user(server.data_dir, "root", "administrator", PASSWORDS["root"])
    add_user(server.data_dir, "pat", "publisher", PASSWORDS["pat"])
    server.start()
    return server
