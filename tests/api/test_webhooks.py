"""GP service webhooks over HTTP, with a real receiver (a small HTTP server: tests/receiver.py):
managed through the admin API, fired once per ended job, signed, retried while the receiver
is down, and kept through a server killed before it could deliver."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import time
from typing import Any, Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from conftest import Server, add_user, client_as
from receiver import Receiver
from .helpers import submit, wait

ADMIN = "/arcgis/admin/services"
HOOKS = f"{ADMIN}/Test/Jobs.GPServer/webhooks"
GP = "/arcgis/rest/services/Test/Jobs/GPServer"
ROOT_PASSWORD = "root password"
FAST_RETRIES = ("[server]\nwebhook_retry_base = 0.3\nwebhook_retry_cap = 1.0\nwebhook_max_attempts = 8\n"
                "webhook_poll = 0.1\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("webhooks"), demo=False)
    server.config.write_text(server.config.read_text().replace("[server]\n", FAST_RETRIES, 1))
    add_user(server.data_dir, "root", "administrator", ROOT_PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv) -> Iterator[httpx.Client]:
    with client_as(srv, "root", ROOT_PASSWORD) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    if r._server is not None:
        r.down()


def post(c: httpx.Client, path: str, **data: Any) -> dict[str, Any]:
    r = c.post(path, data={"f": "json", **data})
    assert r.status_code == 200, r.text
    return r.json()


def create(c: httpx.Client, url: str, name: str, **more: Any) -> dict[str, Any]:
    made = post(c, f"{HOOKS}/create", name=name, hookUrl=url, **more)
    assert "id" in made, made
    return made


@pytest.fixture
def hook(root, receiver) -> Iterator[dict[str, Any]]:
    made = create(root, receiver.url, f"hook-{receiver.port}", signatureKey="s3cret")
    yield made
    post(root, f"{HOOKS}/{made['id']}/delete")


def ended(c: httpx.Client, task: str, **params: str) -> str:
    job = submit(c, f"{GP}/{task}", **params)
    wait(c, f"{GP}/{task}", job)
    return job


def test_webhooks_are_listed_read_edited_switched_and_deleted(root, receiver):
    made = create(root, receiver.url, "audit", signatureKey="k1", payloadFormat="pjson")
    assert made["hookUrl"] == receiver.url and made["active"] is True and made["signed"] is True
    assert "signatureKey" not in json.dumps(made) and "k1" not in json.dumps(made)
    assert (made["folderName"], made["serviceName"], made["serviceType"]) == ("Test", "Jobs", "GPServer")
    listed = root.get(HOOKS, params={"f": "json"}).json()
    assert [h["name"] for h in listed["webhooks"]] == ["audit"] and listed["nextStart"] == -1
    edited = post(root, f"{HOOKS}/{made['id']}/edit", active="false", name="audit2")
    assert (edited["name"], edited["active"], edited["signed"]) == ("audit2", False, True)   # the key is kept
    assert root.get(f"{HOOKS}/{made['id']}", params={"f": "json"}).json() == edited
    assert post(root, f"{HOOKS}/activateAll") == {"status": "success"}
    assert root.get(f"{HOOKS}/{made['id']}", params={"f": "json"}).json()["active"] is True
    assert post(root, f"{HOOKS}/deactivateAll") == {"status": "success"}
    assert root.get(f"{HOOKS}/{made['id']}", params={"f": "json"}).json()["active"] is False
    assert post(root, f"{HOOKS}/deleteAll") == {"status": "success"}
    assert root.get(HOOKS, params={"f": "json"}).json()["webhooks"] == []
    assert root.get(f"{HOOKS}/{made['id']}", params={"f": "json"}).json()["code"] == 404


@pytest.mark.parametrize("data, says", [
    ({"name": "x", "hookUrl": "ftp://example.com/x"}, "hookUrl"),
    ({"name": "x"}, "'hookUrl' is required"),
    ({"hookUrl": "http://127.0.0.1:9/x"}, "'name' is required"),
    ({"name": "x", "hookUrl": "http://127.0.0.1:9/x", "contentType": "text/plain"}, "contentType"),
    ({"name": "x", "hookUrl": "http://127.0.0.1:9/x", "changeTypes": "FeaturesCreated"}, "changeTypes"),
    ({"name": "x", "hookUrl": "http://127.0.0.1:9/x", "active": "maybe"}, "active"),
])
def test_bad_webhooks_are_refused_saying_why(root, data, says):
    body = post(root, f"{HOOKS}/create", **data)
    assert body["status"] == "error" and body["code"] == 400 and says in " ".join(body["messages"]), body


def test_only_asynchronous_services_take_webhooks_and_names_are_unique(root, receiver, hook):
    body = post(root, f"{ADMIN}/Test/Sync.GPServer/webhooks/create", name="x", hookUrl=receiver.url)
    assert body["status"] == "error" and "asynchronous" in " ".join(body["messages"])
    again = post(root, f"{HOOKS}/create", name=hook["name"], hookUrl=receiver.url)
    assert again["status"] == "error" and hook["name"] in " ".join(again["messages"])
    assert root.get(f"{HOOKS}/create", params={"f": "json"}).json()["status"] == "error"     # not by GET


def test_a_webhook_fires_once_per_ended_job_signed_with_its_key(root, receiver, hook):
    """Succeeded, failed, timed out and cancelled: one signed POST each (with two API servers
    in the scale-out pass, still one: each delivery is leased to one of them)."""
    ok = ended(root, "Noop")
    failed = ended(root, "Fail")
    timed_out = ended(root, "Sleep", seconds="10")          # Test/Jobs: max_usage_time 3 s
    slow = submit(root, f"{GP}/Sleep", seconds="30")
    wait(root, f"{GP}/Sleep", slow, until={"esriJobExecuting"})
    post(root, f"{GP}/Sleep/jobs/{slow}/cancel")
    wait(root, f"{GP}/Sleep", slow)
    payloads = receiver.wait_for(4)
    time.sleep(1.5)                         # time for a duplicate to arrive, if there were one
    statuses = {p["jobId"]: p["jobStatus"] for p in receiver.payloads()}
    assert statuses == {ok: "esriJobSucceeded", failed: "esriJobFailed", timed_out: "esriJobTimedOut",
                        slow: "esriJobCancelled"}
    assert len(receiver.got) == 4, payloads
    first = receiver.got[0]
    body = json.loads(first["body"])
    assert (body["serviceName"], body["folderName"], body["serviceType"]) == ("Jobs", "Test", "GPServer")
    assert body["deliveryId"] == first["headers"]["x-opengp-delivery"] == f"{body['jobId']}:{hook['id']}"
    assert first["headers"]["content-type"] == "application/json"
    good = "sha256=" + base64.b64encode(hmac.new(b"s3cret", first["body"], hashlib.sha256).digest()).decode()
    wrong = "sha256=" + base64.b64encode(hmac.new(b"not it", first["body"], hashlib.sha256).digest()).decode()
    assert first["headers"]["x-esrihook-signature"] == good       # verifies with the key...
    assert first["headers"]["x-esrihook-signature"] != wrong      # ...and not with another
    status = root.get(f"{HOOKS}/{hook['id']}/notificationStatus", params={"f": "json"}).json()
    assert status["total"] == 4 and {d["state"] for d in status["notificationStatus"]} == {"delivered"}
    assert all(d["history"][-1]["httpStatusCode"] == 200 for d in status["notificationStatus"])


def test_form_content_and_an_inactive_webhook(root, receiver):
    form = create(root, receiver.url, "form", contentType="application/x-www-form-urlencoded")
    off = create(root, receiver.url + "/off", "off", active="false")
    try:
        job = ended(root, "Noop")
        receiver.wait_for(1)
        time.sleep(1)
        assert len(receiver.got) == 1
        sent = receiver.got[0]
        assert sent["headers"]["content-type"] == "application/x-www-form-urlencoded"
        assert "x-esrihook-signature" not in sent["headers"]
        assert json.loads(parse_qs(sent["body"].decode())["payload"][0])["jobId"] == job
    finally:
        post(root, f"{HOOKS}/{form['id']}/delete")
        post(root, f"{HOOKS}/{off['id']}/delete")


def test_a_receiver_that_is_down_gets_the_event_when_it_comes_back(root, receiver, hook):
    receiver.down()
    job = ended(root, "Noop")
    time.sleep(2)                                   # a few tries fail meanwhile
    receiver.status = 503                           # then it answers, but not yet well
    receiver.up()
    receiver.wait_for(1)
    receiver.status = 200
    receiver.wait_for(2)
    assert [p["jobId"] for p in receiver.payloads()] == [job, job]
    status = root.get(f"{HOOKS}/{hook['id']}/notificationStatus", params={"f": "json"}).json()
    (delivery,) = [d for d in status["notificationStatus"] if d["jobId"] == job]
    codes = [a["httpStatusCode"] for a in delivery["history"]]
    assert delivery["state"] == "delivered" and codes[-2:] == [503, 200] and None in codes, delivery


@pytest.mark.local_only
def test_an_event_owed_when_the_server_is_killed_is_delivered_after_restart(tmp_path, receiver):
    """The job's end and the delivery it owes commit together: kill -9 before the delivery,
    restart, and the receiver still hears of the job."""
    server = Server(tmp_path, demo=False)
    server.config.write_text(server.config.read_text().replace("[server]\n", FAST_RETRIES, 1))
    add_user(server.data_dir, "root", "administrator", ROOT_PASSWORD)
    server.start()
    try:
        with client_as(server, "root", ROOT_PASSWORD) as c:
            create(c, receiver.url, "durable")
            receiver.down()                         # nothing can be delivered before the kill
            job = ended(c, "Noop")
        server.stop(signal.SIGKILL)
        receiver.up()
        server.start()
        payloads = receiver.wait_for(1)
        time.sleep(1)
        assert [p["jobId"] for p in receiver.payloads()] == [job], payloads
    finally:
        server.stop()


def test_a_deleted_service_takes_its_webhooks_with_it(root, receiver):
    """A service published again under the name of a deleted one starts without its webhooks."""
    service = json.dumps({"serviceName": "Hooked", "public": True, "properties": {"toolbox": "opengp.toolboxes.demo"}})
    assert post(root, f"{ADMIN}/createService", service=service)["status"] == "success"
    assert "id" in post(root, f"{ADMIN}/Hooked.GPServer/webhooks/create", name="h", hookUrl=receiver.url)
    assert post(root, f"{ADMIN}/Hooked.GPServer/delete")["status"] == "success"
    assert post(root, f"{ADMIN}/createService", service=service)["status"] == "success"
    assert root.get(f"{ADMIN}/Hooked.GPServer/webhooks", params={"f": "json"}).json()["webhooks"] == []
    post(root, f"{ADMIN}/Hooked.GPServer/delete")


@pytest.mark.local_only
def test_an_ogc_callback_owed_when_the_server_is_killed_is_delivered_after_restart(tmp_path, receiver):
    """OGC API - Processes ``subscriber`` callbacks go through the same outbox: one owed when
    the server is killed (its receiver down until then) still arrives after the restart."""
    server = Server(tmp_path, demo=False)
    add_user(server.data_dir, "root", "administrator", ROOT_PASSWORD)
    server.start()
    try:
        receiver.down()
        r = httpx.post(f"{server.url}/ogcapi/processes/Test.Jobs.Noop/execution", headers={"Prefer": "respond-async"},
                       json={"inputs": {}, "subscriber": {"successUri": receiver.url}}, timeout=30)
        assert r.status_code == 201, r.text
        job = r.json()["jobID"]
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.url}/ogcapi/jobs/{job}").json()["status"] != "successful":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        receiver.up()
        server.start()
        receiver.wait_for(1)
        time.sleep(0.5)
        assert len(receiver.got) == 1 and set(json.loads(receiver.got[0]["body"])) == {"result"}
        assert receiver.got[0]["headers"]["x-opengp-delivery"] == f"{job}:succeeded"
    finally:
        server.stop()


def notifications(root: httpx.Client, hook: dict[str, Any]) -> list[dict[str, Any]]:
    return root.get(f"{HOOKS}/{hook['id']}/notificationStatus", params={"f": "json"}).json()["notificationStatus"]


def test_a_receiver_that_keeps_failing_is_given_up_on_and_shown(root, receiver, hook):
    receiver.status = 500
    job = ended(root, "Noop")
    deadline = time.monotonic() + 30
    while not [d for d in notifications(root, hook) if d["jobId"] == job and d["state"] == "failed"]:
        assert time.monotonic() < deadline, notifications(root, hook)
        time.sleep(0.2)
    (failed,) = [d for d in notifications(root, hook) if d["jobId"] == job]
    assert failed["attempts"] == 8 == len(receiver.got) and failed["nextAttempt"] is None
    assert {a["httpStatusCode"] for a in failed["history"]} == {500}


def test_a_delivery_whose_webhook_is_deactivated_meanwhile_is_dropped(root, receiver, hook):
    receiver.down()
    job = ended(root, "Noop")
    post(root, f"{HOOKS}/{hook['id']}/edit", active="false")
    receiver.up()
    deadline = time.monotonic() + 20
    while [d["state"] for d in notifications(root, hook) if d["jobId"] == job] != ["dropped"]:
        assert time.monotonic() < deadline, notifications(root, hook)
        time.sleep(0.2)
    time.sleep(0.5)
    assert receiver.got == []


@pytest.mark.parametrize("start", ["²", "99999999999999999999", "-1", "x"])
def test_a_bad_start_is_a_400(root, hook, start):
    for path in (HOOKS, f"{HOOKS}/{hook['id']}/notificationStatus"):
        body = root.get(path, params={"f": "json", "start": start}).json()
        assert body["status"] == "error" and body["code"] == 400 and "start" in " ".join(body["messages"]), body
