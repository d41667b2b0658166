"""Service management over HTTP: list, read, createService, edit, start, stop
and delete, each synchronous and as an admin job with stages; failures leave
the service as it was; changes survive a restart; who may do what."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from urllib.parse import quote

import httpx
import pytest

from conftest import client_as, TOOLBOXES, Server, add_user
from .helpers import submit, wait

CONFIG = """
[server]
workers = 2

[[services]]
folder = "Ops"
name = "Tools"
toolbox = "{toolbox}"
public = true
description = "From the config file."

[[services]]
name = "Spare"
toolbox = "{toolbox}"
public = true
"""
PASSWORDS = {"root": "root password", "pat": "pat password", "alice": "alice password"}
ADMIN = "/arcgis/admin/services"
TOOLS = f"{ADMIN}/Ops/Tools.GPServer"
GP = "/arcgis/rest/services/Ops/Tools/GPServer"

SLOW_TOOLBOX = '''"""A toolbox that takes a while to import, as heavy GIS libraries do."""
import time
from opengp import tool

time.sleep({seconds})


@tool(name="Hello")
def hello(name: str = "world") -> str:
    return "hello " + name
'''
BROKEN_TOOLBOX = '''raise ImportError("this toolbox needs a library the server does not have")\n'''


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("admin-services"), demo=False)
    server.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    for name, role in (("root", "administrator"), ("pat", "publisher"), ("alice", "user")):
        add_user(server.data_dir, name, role, PASSWORDS[name])
    server.start()
    yield server
    server.stop()


def client_for(srv, name: str | None) -> httpx.Client:
    return client_as(srv, name, PASSWORDS.get(name) if name else None)


@pytest.fixture(scope="module")
def root(srv):
    with client_for(srv, "root") as c:
        yield c


@pytest.fixture(scope="module")
def pat(srv):
    with client_for(srv, "pat") as c:
        yield c


def toolbox(srv, name: str, text: str) -> str:
    path = srv.tmp / f"{name}.py"
    path.write_text(text)
    return str(path)


def admin_job(c, job_id: str) -> dict:
    r = c.get(f"/arcgis/admin/jobs/{job_id}", params={"f": "json"})
    assert r.status_code == 200
    return r.json()


def wait_admin(c, job_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = admin_job(c, job_id)
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def post(c, path: str, **data) -> dict:
    r = c.post(path, data={"f": "json", **data})
    assert r.status_code == 200
    return r.json()


def test_lists_services_and_folders(root):
    top = root.get(ADMIN, params={"f": "json"}).json()
    assert top["folderName"] == "/"
    assert "Ops" in top["folders"]
    assert any(s["serviceName"] == "Spare" and s["type"] == "GPServer" for s in top["services"])
    ops = root.get(f"{ADMIN}/Ops", params={"f": "json"}).json()
    assert [s["serviceName"] for s in ops["services"]] == ["Tools"]
    assert root.get(f"{ADMIN}/Nope", params={"f": "json"}).json()["status"] == "error"


def test_reads_a_service(root):
    svc = root.get(TOOLS, params={"f": "pjson"}).json()
    assert svc["serviceName"] == "Tools" and svc["folderName"] == "Ops" and svc["type"] == "GPServer"
    assert svc["configuredState"] == "STARTED" and svc["realTimeState"] == "STARTED"
    assert svc["description"] == "From the config file."
    assert svc["properties"]["executionType"] == "Asynchronous"
    assert svc["properties"]["retention"] == 21600
    assert "Noop" in svc["tasks"]
    assert root.get(f"{TOOLS}/status", params={"f": "json"}).json() == {
        "configuredState": "STARTED", "realTimeState": "STARTED"}
    page = root.get(TOOLS, params={"f": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "Tools" in page.text and "<table>" in page.text


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
           "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"}


def test_a_browser_is_asked_to_sign_in_then_shown_pages(srv):
    """The admin root and its resources opened in a browser (``Accept: text/html``, no ``f``,
    no token) send it to the sign-in page and back, and then answer pages, not JSON; a user
    who may not administer gets a page saying so.  A program's request still gets JSON."""
    paths = ["/arcgis/admin", "/arcgis/admin/", ADMIN, f"{ADMIN}/Ops", TOOLS, f"{TOOLS}/status",
             f"{TOOLS}/jobs/query?number=5", "/arcgis/admin/jobs", "/arcgis/admin/system/jobs/jnope"]
    with httpx.Client(base_url=srv.url, headers=BROWSER, timeout=30) as browser:
        for path in paths:
            r = browser.get(path)
            assert r.status_code == 303, (path, r.status_code, r.text[:200])
            assert r.headers["location"] == f"/arcgis/login?next={quote(path, safe='')}", path
        login = browser.get(r.headers["location"])
        assert login.status_code == 200 and login.headers["content-type"].startswith("text/html")
        assert 'name="password"' in login.text
        signed_in = browser.post("/arcgis/login", data={"username": "root", "password": PASSWORDS["root"],
                                                         "next": "/arcgis/admin"}, headers={"Origin": srv.url})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/arcgis/admin"
        root_page = browser.get("/arcgis/admin")
        assert root_page.status_code == 200 and root_page.headers["content-type"].startswith("text/html")
        for link in ("/arcgis/admin/services", "/arcgis/admin/jobs", "/arcgis/admin/console"):
            assert f"href='{link}'" in root_page.text, link
        for path in paths[2:-1]:
            page = browser.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
            assert "<table>" in page.text, path
        assert "Tools" in browser.get(TOOLS).text
        missing = browser.get("/arcgis/admin/system/jobs/jnope")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert "jnope" in missing.text
    with httpx.Client(base_url=srv.url, headers=BROWSER, timeout=30) as browser:
        browser.post("/arcgis/login", data={"username": "alice", "password": PASSWORDS["alice"]},
                     headers={"Origin": srv.url})
        refused = browser.get(TOOLS)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert "not authorized" in refused.text
    program = httpx.get(f"{srv.url}/arcgis/admin", timeout=30)       # Accept: */*, no f: JSON, as before
    assert program.json() == {"status": "error", "messages": [program.json()["messages"][0]], "code": 499}
    asked_json = httpx.get(f"{srv.url}/arcgis/admin", params={"f": "json"}, headers=BROWSER, timeout=30)
    assert asked_json.json()["code"] == 499                          # f=json wins over the browser's Accept


def test_non_administrators_are_refused(srv, root):
    anonymous = httpx.get(f"{srv.url}{TOOLS}", params={"f": "json"}).json()
    assert anonymous["status"] == "error" and anonymous["code"] == 499
    with client_for(srv, "alice") as alice:
        for path in (ADMIN, TOOLS, f"{TOOLS}/jobs/query", "/arcgis/admin/jobs"):
            body = alice.get(path, params={"f": "json"}).json()
            assert body["status"] == "error" and body["code"] == 403, (path, body)
        body = post(alice, f"{TOOLS}/stop")
        assert body["code"] == 403
    assert root.get(f"{TOOLS}/status", params={"f": "json"}).json()["configuredState"] == "STARTED"


def test_stop_refuses_new_jobs_and_lets_running_ones_finish(root):
    running = submit(root, f"{GP}/Sleep", seconds="1.5")
    wait(root, f"{GP}/Sleep", running, until={"esriJobExecuting"})
    assert post(root, f"{TOOLS}/stop") == {"status": "success", "service": root.get(TOOLS, params={"f": "json"}).json()}
    refused = root.post(f"{GP}/Noop/submitJob", data={"f": "json"}).json()
    assert refused["error"]["code"] == 503
    assert "stopped" in refused["error"]["message"]
    assert wait(root, f"{GP}/Sleep", running)["jobStatus"] == "esriJobSucceeded"
    assert root.get(f"{TOOLS}/status", params={"f": "json"}).json()["configuredState"] == "STOPPED"
    assert post(root, f"{TOOLS}/start")["status"] == "success"
    job = submit(root, f"{GP}/Noop")
    assert wait(root, f"{GP}/Noop", job)["jobStatus"] == "esriJobSucceeded"


def test_edit_changes_settings_that_jobs_then_follow(root):
    change = {"description": "Edited.", "maxUsageTime": 1, "properties": {"retention": 120}}
    body = post(root, f"{TOOLS}/edit", service=json.dumps(change))
    assert body["status"] == "success"
    assert body["service"]["description"] == "Edited." and body["service"]["maxUsageTime"] == 1
    try:
        slow = submit(root, f"{GP}/Stubborn", seconds="10")
        assert wait(root, f"{GP}/Stubborn", slow)["jobStatus"] == "esriJobTimedOut"   # the new maxUsageTime
        record = root.get(f"{TOOLS}/jobs/{slow}", params={"f": "json"}).json()
        assert record["expires"] - record["endTime"] == pytest.approx(120_000, abs=50)
    finally:
        post(root, f"{TOOLS}/edit", service=json.dumps({"maxUsageTime": 600, "properties": {"retention": 21600}}))
    assert root.get(TOOLS, params={"f": "json"}).json()["maxUsageTime"] == 600


def test_edit_execution_type(root):
    post(root, f"{TOOLS}/edit", service=json.dumps({"properties": {"executionType": "Synchronous"}}))
    try:
        assert root.post(f"{GP}/Noop/submitJob", data={"f": "json"}).json()["error"]["code"] == 400
        out = root.post(f"{GP}/Noop/execute", data={"f": "json", "value": "sync"}).json()
        assert out["results"][0]["value"] == "sync"
    finally:
        post(root, f"{TOOLS}/edit", service=json.dumps({"properties": {"executionType": "Asynchronous"}}))


def test_async_edit_is_an_admin_job_with_stages_and_the_service_as_result(root):
    started = post(root, f"{TOOLS}/edit", service=json.dumps({"description": "Async edit."}), runAsync="true")
    assert started["status"] == "success" and started["jobid"]
    job = wait_admin(root, started["jobid"])
    assert job["status"] == "COMPLETED"
    assert job["name"] == "edit" and job["resource"] == {"name": "Ops/Tools.GPServer"}
    assert job["operationURI"] == "/arcgis/admin/services/Ops/Tools.GPServer/edit"
    assert job["username"] == "root" and job["requestID"]
    assert job["starttime"] <= job["updatedtime"] and job["endtime"] >= job["starttime"] > 0
    assert [s["name"] for s in job["progress"]["stages"]] == ["validating", "writing configuration", "restarting"]
    assert {s["state"] for s in job["progress"]["stages"]} == {"completed"}
    # the result is what the synchronous edit answers: {"status", "service"}, the service as it now is
    assert job["result"] == {"status": "success", "service": root.get(TOOLS, params={"f": "json"}).json()}
    assert job["result"]["service"]["description"] == "Async edit."
    synchronous = post(root, f"{TOOLS}/edit", service=json.dumps({"description": "Async edit."}))
    assert synchronous == job["result"]
    # the older path the arcgis package polls answers the same
    assert root.get(f"/arcgis/admin/system/jobs/{job['jobid']}", params={"f": "json"}).json() == job


def test_create_service_shows_its_stages_while_running_and_then_serves(srv, root, pat):
    path = toolbox(srv, "slow_hello", SLOW_TOOLBOX.format(seconds=2))
    definition = {"serviceName": "Hello", "type": "GPServer", "description": "Made by pat.",
                  "properties": {"toolbox": path}, "allowed": ["pat"]}
    started = post(pat, f"{ADMIN}/Made/createService", service=json.dumps(definition), runAsync="true")
    first = admin_job(pat, started["jobid"])
    assert first["status"] == "EXECUTING"         # never SUBMITTED once answered: clients stop polling on it
    assert first["progress"]["stage"] == "validating"
    assert [s["state"] for s in first["progress"]["stages"]] == ["running", "pending", "pending"]
    done = wait_admin(pat, started["jobid"])
    assert done["status"] == "COMPLETED", done
    assert done["resource"] == {"name": "Made/Hello.GPServer"} and done["result"]["status"] == "success"
    assert done["result"]["service"]["owner"] == "pat" and done["result"]["service"]["tasks"] == ["Hello"]
    task = "/arcgis/rest/services/Made/Hello/GPServer/Hello"
    job = submit(pat, task, name="pat")
    assert wait(pat, task, job)["jobStatus"] == "esriJobSucceeded"
    assert pat.get(f"{task}/jobs/{job}/results/result", params={"f": "json"}).json()["value"] == "hello pat"
    # a publisher administers its own services only
    assert pat.get(f"{ADMIN}/Made/Hello.GPServer/jobs/query", params={"f": "json"}).json()["total"] == 1
    assert pat.get(TOOLS, params={"f": "json"}).json()["code"] == 403
    assert [s["serviceName"] for s in pat.get(ADMIN, params={"f": "json"}).json()["services"]] == []
    assert pat.get(f"{ADMIN}/Made", params={"f": "json"}).json()["services"][0]["serviceName"] == "Hello"


def test_an_admin_job_can_be_cancelled_before_it_commits(srv, root):
    path = toolbox(srv, "slow_cancelled", SLOW_TOOLBOX.format(seconds=2))
    definition = {"serviceName": "Never", "properties": {"toolbox": path}}
    started = post(root, f"{ADMIN}/createService", service=json.dumps(definition), runAsync="true")
    cancelled = post(root, f"/arcgis/admin/jobs/{started['jobid']}/cancel")
    assert cancelled["status"] == "success" and cancelled["jobStatus"] == "CANCELLING"
    job = wait_admin(root, started["jobid"])
    assert job["status"] == "CANCELLED"
    assert [s["state"] for s in job["progress"]["stages"]] == ["completed", "cancelled", "skipped"]
    assert job["result"]["status"] == "error" and "cancelled" in job["result"]["messages"][0]
    assert root.get(f"{ADMIN}/Never.GPServer", params={"f": "json"}).json()["code"] == 404
    late = post(root, f"/arcgis/admin/jobs/{started['jobid']}/cancel")
    assert late["status"] == "error" and "already ended" in late["messages"][0]


def test_a_failed_edit_leaves_the_service_working(srv, root):
    before = root.get(TOOLS, params={"f": "json"}).json()
    bad = toolbox(srv, "broken_box", BROKEN_TOOLBOX)
    body = post(root, f"{TOOLS}/edit", service=json.dumps({"properties": {"toolbox": bad}, "maxUsageTime": 5}))
    assert body["status"] == "error" and "needs a library" in body["messages"][0]
    job = wait_admin(root, body["jobid"])
    assert job["status"] == "FAILED" and [s["state"] for s in job["progress"]["stages"]] == [
        "failed", "skipped", "skipped"]
    assert any(m["type"] == "ERROR" for m in job["messages"])
    assert job["result"] == body            # the failure's details, as the synchronous request answered them
    other = toolbox(srv, "broken_box_too", BROKEN_TOOLBOX)       # (a toolbox that failed is not loaded twice)
    later = post(root, f"{TOOLS}/edit", service=json.dumps({"properties": {"toolbox": other}}), runAsync="true")
    failed = wait_admin(root, later["jobid"])
    assert failed["status"] == "FAILED"
    assert failed["result"] == {"status": "error", "messages": [failed["error"]], "code": 400, "jobid": later["jobid"]}
    assert "needs a library" in failed["result"]["messages"][0]
    assert root.get(TOOLS, params={"f": "json"}).json() == before
    ok = submit(root, f"{GP}/Noop")
    assert wait(root, f"{GP}/Noop", ok)["jobStatus"] == "esriJobSucceeded"


@pytest.mark.parametrize("first", [BROKEN_TOOLBOX, '"""Nothing marked @tool yet."""\n'],
                         ids=["fails to import", "has no tools"])
def test_a_toolbox_fixed_after_a_failed_publish_publishes_without_a_restart(srv, root, first):
    """The publisher fixes the file and tries again, as anyone would: the second createService
    reads the file as it is now, not the broken module the first attempt left behind."""
    name = "Fixed" + str(len(first))
    path = toolbox(srv, f"fixed_box_{len(first)}", first)
    definition = {"serviceName": name, "properties": {"toolbox": path}, "public": True}
    assert post(root, f"{ADMIN}/createService", service=json.dumps(definition))["status"] == "error"
    with open(path, "w") as f:
        f.write(SLOW_TOOLBOX.format(seconds=0))
    assert post(root, f"{ADMIN}/createService", service=json.dumps(definition))["status"] == "success"
    task = f"/arcgis/rest/services/{name}/GPServer/Hello"
    job = submit(root, task, name="fixed")
    assert wait(root, task, job)["jobStatus"] == "esriJobSucceeded"
    out = root.get(f"{task}/jobs/{job}/results/result", params={"f": "json"}).json()
    assert out["value"] == "hello fixed"


@pytest.mark.parametrize("data, text", [
    ({"service": "{not json"}, "not valid JSON"),
    ({"service": json.dumps({"maxUsageTim": 5})}, "Unknown setting"),
    ({"service": json.dumps({"serviceName": "Renamed"})}, "cannot be renamed"),
    ({"service": json.dumps({"maxUsageTime": -1})}, "maxUsageTime"),
    ({"service": json.dumps({"allowed": ["role:nobody"]})}, "unknown role"),
    ({"service": json.dumps({"properties": {"executionType": "Sometimes"}})}, "executionType"),
    ({}, "'service'"),
])
def test_bad_edits_get_clear_errors(root, data, text):
    body = post(root, f"{TOOLS}/edit", **data)
    assert body["status"] == "error" and body["code"] == 400
    assert text in " ".join(body["messages"]), body


def test_changing_operations_must_be_posted(root):
    body = root.get(f"{TOOLS}/stop", params={"f": "json"}).json()
    assert body["status"] == "error" and "POST" in body["messages"][0]
    assert root.get(f"{TOOLS}/status", params={"f": "json"}).json()["configuredState"] == "STARTED"


def test_create_refuses_taken_names_and_other_types(root):
    taken = post(root, f"{ADMIN}/createService",
                 service=json.dumps({"serviceName": "Spare", "properties": {"toolbox": "opengp.toolboxes.demo"}}))
    assert taken["status"] == "error" and "already exists" in " ".join(taken["messages"])
    other = post(root, f"{ADMIN}/createService", service=json.dumps({"serviceName": "M", "type": "MapServer"}))
    assert other["status"] == "error" and "GPServer" in " ".join(other["messages"])


def test_admin_jobs_list_with_filters(root):
    post(root, f"{ADMIN}/Spare.GPServer/stop")
    post(root, f"{ADMIN}/Spare.GPServer/start")
    listing = root.get("/arcgis/admin/jobs", params={"f": "json", "resource": "Spare", "number": 1}).json()
    assert listing["total"] == 2 and listing["num"] == 1 and listing["nextStart"] == 2
    assert listing["jobs"][0]["name"] == "start"                      # newest first
    stops = root.get("/arcgis/admin/jobs", params={"f": "json", "resource": "Spare.GPServer",
                                                   "operation": "stop", "status": "COMPLETED"}).json()
    assert [j["name"] for j in stops["jobs"]] == ["stop"]
    bad = root.get("/arcgis/admin/jobs", params={"f": "json", "status": "DONE"}).json()
    assert bad["status"] == "error" and "DONE" in " ".join(bad["messages"])


def test_delete_unpublishes_and_removes_the_service_jobs(srv, root):
    definition = {"serviceName": "Doomed", "properties": {"toolbox": str(TOOLBOXES / "testing.py")}, "public": True}
    assert post(root, f"{ADMIN}/createService", service=json.dumps(definition))["status"] == "success"
    task = "/arcgis/rest/services/Doomed/GPServer/Sleep"
    running = submit(root, task, seconds="20")
    wait(root, task, running, until={"esriJobExecuting"})
    started = post(root, f"{ADMIN}/Doomed.GPServer/delete", runAsync="true")
    job = wait_admin(root, started["jobid"])
    assert job["status"] == "COMPLETED"
    assert job["resource"] == {"name": "Doomed.GPServer"}
    assert job["result"] == {"status": "success", "deleted": {
        "folderName": "/", "serviceName": "Doomed", "type": "GPServer", "jobs": 1}}      # the running job went too
    assert [s["name"] for s in job["progress"]["stages"]] == [
        "stopping the service", "removing configuration", "removing its jobs"]
    assert root.get(f"{ADMIN}/Doomed.GPServer", params={"f": "json"}).json()["code"] == 404
    assert root.get("/arcgis/rest/services/Doomed/GPServer", params={"f": "json"}).json()["error"]["code"] == 404
    record = root.get("/arcgis/admin/jobs", params={"f": "json", "resource": "Doomed"}).json()
    assert record["total"] == 2                     # the admin jobs stay: they are the service's history
    assert root.get(f"{task}/jobs/{running}", params={"f": "json"}).json()["error"]["code"] == 404
    assert not list((srv.data_dir / "arcgisjobs").glob(f"doomed_gpserver/{running}"))
    # a service published later under the name starts without the old one's jobs
    assert post(root, f"{ADMIN}/createService", service=json.dumps(definition))["status"] == "success"
    assert root.get(f"{ADMIN}/Doomed.GPServer/jobs/query", params={"f": "json"}).json()["total"] == 0
    assert post(root, f"{ADMIN}/Doomed.GPServer/delete") == {"status": "success", "deleted": {
        "folderName": "/", "serviceName": "Doomed", "type": "GPServer", "jobs": 0}}


def test_changes_survive_a_restart_and_the_cli_shows_them(tmp_path):
    srv = Server(tmp_path, demo=False)
    srv.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    add_user(srv.data_dir, "root", "administrator", PASSWORDS["root"])
    srv.start()
    try:
        with client_for(srv, "root") as root:
            post(root, f"{TOOLS}/edit", service=json.dumps({"maxUsageTime": 42, "description": "Kept."}))
            post(root, f"{ADMIN}/Spare.GPServer/stop")
            made = {"serviceName": "Made", "properties": {"toolbox": "opengp.toolboxes.demo"}, "public": True}
            assert post(root, f"{ADMIN}/createService", service=json.dumps(made))["status"] == "success"
        srv.stop()
        srv.start()
        with client_for(srv, "root") as root:
            tools = root.get(TOOLS, params={"f": "json"}).json()
            assert tools["maxUsageTime"] == 42 and tools["description"] == "Kept."
            assert root.get(f"{ADMIN}/Spare.GPServer/status", params={"f": "json"}).json()["configuredState"] == "STOPPED"
            assert root.get(f"{ADMIN}/Made.GPServer", params={"f": "json"}).json()["origin"] == "admin"
        cli = [sys.executable, "-m", "opengp", "services"]
        where = ["--config", str(srv.config), "--data-dir", str(srv.data_dir)]
        env = {**os.environ, **srv.env}        # a scale-out deployment's database
        listing = subprocess.run(cli + ["list"] + where, capture_output=True, text=True, cwd=tmp_path, env=env)
        assert listing.returncode == 0, listing.stderr
        line = next(l for l in listing.stdout.splitlines() if "Spare" in l)
        assert "STOPPED" in line
        assert "admin API" in next(l for l in listing.stdout.splitlines() if "Made" in l)
        shown = subprocess.run(cli + ["show", "Ops/Tools"] + where, capture_output=True, text=True, cwd=tmp_path,
                               env=env)
        assert json.loads(shown.stdout)["maxUsageTime"] == 42
    finally:
        srv.stop()


def test_a_changed_config_file_entry_replaces_the_stored_one(tmp_path):
    srv = Server(tmp_path, demo=False)
    srv.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    add_user(srv.data_dir, "root", "administrator", PASSWORDS["root"])
    srv.start()
    try:
        with client_for(srv, "root") as root:
            post(root, f"{ADMIN}/Spare.GPServer/edit", service=json.dumps({"maxUsageTime": 7}))
        srv.stop()
        srv.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py").replace(
            'description = "From the config file."', 'description = "Changed in the file."'))
        srv.start()
        with client_for(srv, "root") as root:
            assert root.get(TOOLS, params={"f": "json"}).json()["description"] == "Changed in the file."
            assert root.get(f"{ADMIN}/Spare.GPServer", params={"f": "json"}).json()["maxUsageTime"] == 7
    finally:
        srv.stop()


def test_queued_edits_build_on_each_other(srv, root):
    """Operations on one service run one at a time, each on the result of the last."""
    slow = toolbox(srv, "slow_edit", SLOW_TOOLBOX.format(seconds=1))
    first = post(root, f"{ADMIN}/Spare.GPServer/edit", runAsync="true",
                 service=json.dumps({"properties": {"toolbox": slow}}))
    second = post(root, f"{ADMIN}/Spare.GPServer/edit", runAsync="true", service=json.dumps({"maxUsageTime": 77}))
    assert second["jobStatus"] == "SUBMITTED"          # waiting its turn
    assert wait_admin(root, first["jobid"])["status"] == "COMPLETED"
    assert wait_admin(root, second["jobid"])["status"] == "COMPLETED"
    spare = root.get(f"{ADMIN}/Spare.GPServer", params={"f": "json"}).json()
    assert spare["properties"]["toolbox"] == slow and spare["maxUsageTime"] == 77
    assert spare["tasks"] == ["Hello"]
    post(root, f"{ADMIN}/Spare.GPServer/edit",
         service=json.dumps({"properties": {"toolbox": str(TOOLBOXES / "testing.py")}, "maxUsageTime": 600}))


def test_a_deleted_config_file_service_stays_deleted_after_a_restart(tmp_path):
    srv = Server(tmp_path, demo=False)
    srv.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    add_user(srv.data_dir, "root", "administrator", PASSWORDS["root"])
    srv.start()
    try:
        with client_for(srv, "root") as root:
            assert post(root, f"{ADMIN}/Spare.GPServer/delete")["status"] == "success"
        srv.stop()
        srv.start()
        with client_for(srv, "root") as root:
            assert root.get(f"{ADMIN}/Spare.GPServer", params={"f": "json"}).json()["code"] == 404
            again = {"serviceName": "Spare", "properties": {"toolbox": "opengp.toolboxes.demo"}, "public": True}
            assert post(root, f"{ADMIN}/createService", service=json.dumps(again))["status"] == "success"
            assert root.get(f"{ADMIN}/Spare.GPServer", params={"f": "json"}).json()["origin"] == "admin"
        srv.stop()
        srv.start()     # the unchanged file entry does not take the name back
        with client_for(srv, "root") as root:
            spare = root.get(f"{ADMIN}/Spare.GPServer", params={"f": "json"}).json()
            assert spare["origin"] == "admin" and spare["properties"]["toolbox"] == "opengp.toolboxes.demo"
    finally:
        srv.stop()
