"""A GP service's message level (ArcGIS's ``showMessages``: None, Error, Warning, Info) over
HTTP: set in the config file or by the admin API's ``edit``, shown in the service's admin JSON,
and honoured by every face that shows a job's messages (the job resource, ``execute``, the job
page and its live state, the OGC statusInfo and problems).

The testing toolbox's ``Fail`` says something at every level: the informative "Submitted." and
"Executing (Fail) ...", the warning "about to fail", and the errors "<its message>" and
"Failed to execute (Fail)."."""
from __future__ import annotations

import json

import pytest

from conftest import TOOLBOXES, Server, add_user, client_as
from .helpers import error_of, submit, wait

CONFIG = """
[server]
workers = 2

[[services]]
folder = "Levels"
name = "Info"
toolbox = "{toolbox}"
public = true

[[services]]
folder = "Levels"
name = "Warning"
toolbox = "{toolbox}"
show_messages = "Warning"
public = true

[[services]]
folder = "Levels"
name = "Error"
toolbox = "{toolbox}"
show_messages = "error"
public = true

[[services]]
folder = "Levels"
name = "None"
toolbox = "{toolbox}"
show_messages = "None"
public = true

[[services]]
folder = "Levels"
name = "WarningSync"
toolbox = "{toolbox}"
execution_type = "synchronous"
show_messages = "Warning"
public = true

[[services]]
folder = "Levels"
name = "NoneSync"
toolbox = "{toolbox}"
execution_type = "synchronous"
show_messages = "None"
public = true

[[services]]
folder = "Levels"
name = "Edited"
toolbox = "{toolbox}"
public = true
"""
PASSWORD = "root password"
GP = "/arcgis/rest/services/Levels"
ADMIN = "/arcgis/admin/services/Levels"
WHY = "broken on purpose"
INFO, WARNING, ERROR = "esriJobMessageTypeInformative", "esriJobMessageTypeWarning", "esriJobMessageTypeError"
SHOWN = {"Info": {INFO, WARNING, ERROR}, "Warning": {WARNING, ERROR}, "Error": {ERROR}, "None": set()}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("message-level"), demo=False)
    server.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    add_user(server.data_dir, "root", "administrator", PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def anyone(srv):
    with client_as(srv, None) as c:
        yield c


@pytest.fixture(scope="module")
def root(srv):
    with client_as(srv, "root", PASSWORD) as c:
        yield c


def failed_job(c, service: str) -> tuple[str, dict]:
    """A failed ``Fail`` job of ``Levels/<service>``: its task URL and its status (read by GET)."""
    task = f"{GP}/{service}/GPServer/Fail"
    job_id = submit(c, task, message=WHY)
    body = wait(c, task, job_id)
    assert body["jobStatus"] == "esriJobFailed"
    return f"{task}/jobs/{job_id}", body


@pytest.mark.parametrize("service, shown", [("Info", "Info"), ("Warning", "Warning"), ("Error", "Error"),
                                            ("None", "None")])
def test_the_config_files_level_is_in_the_services_admin_json(root, service, shown):
    """``show_messages`` in any letter case (``error``); a service without it shows every message."""
    described = root.get(f"{ADMIN}/{service}.GPServer", params={"f": "json"}).json()
    assert described["properties"]["showMessages"] == shown


@pytest.mark.parametrize("service", ["Info", "Warning", "Error", "None"])
def test_a_jobs_status_has_only_the_messages_its_level_allows(anyone, service):
    job_url, polled = failed_job(anyone, service)
    posted = anyone.post(job_url, data={"f": "json"}).json()      # the route (a GET is the fast path's)
    for body in (polled, posted):
        assert {m["type"] for m in body["messages"]} == SHOWN[service], body
    texts = [m["description"] for m in polled["messages"]]
    assert (WHY in texts) == (service != "None")
    assert ("about to fail" in texts) == (service in ("Info", "Warning"))
    assert ("Submitted." in texts) == (service == "Info")


@pytest.mark.parametrize("service", ["Info", "Error", "None"])
def test_the_job_page_and_its_live_state_show_only_what_the_level_allows(anyone, service):
    job_url, _ = failed_job(anyone, service)
    page = anyone.get(job_url, params={"f": "html"}).text
    listed = page.split('<ol id="messages"', 1)[1].split("</ol>", 1)[0]       # (the inputs show WHY too)
    state = anyone.get(f"{job_url}/events", params={"once": "true"}).json()
    levels = {m["level"] for m in state["messages"]}
    assert levels == {"Info": {"info", "warning", "error"}, "Error": {"error"}, "None": set()}[service]
    assert state["count"] == len(state["messages"])
    assert (WHY in listed) == (service != "None")
    assert ("about to fail" in listed) == (service == "Info")
    assert ("Executing (Fail)" in listed) == (service == "Info")


def test_execute_returns_only_the_messages_its_level_allows(anyone):
    done = anyone.post(f"{GP}/WarningSync/GPServer/Noop/execute", data={"f": "json", "value": "v"}).json()
    assert done["results"][0]["value"] == "v"
    assert done["messages"] == []          # Noop says only informative things
    failed = error_of(anyone.post(f"{GP}/WarningSync/GPServer/Fail/execute", data={"f": "json", "message": WHY}))
    assert WHY in failed["details"]
    quiet = error_of(anyone.post(f"{GP}/NoneSync/GPServer/Fail/execute", data={"f": "json", "message": WHY}))
    assert quiet["message"] == "Error executing tool." and quiet["details"] == ["Failed."]


@pytest.mark.parametrize("service", ["Error", "None"])
def test_the_ogc_face_says_why_a_job_failed_only_if_the_level_shows_errors(anyone, service):
    ogc = f"{anyone.base_url}/ogcapi"
    created = anyone.post(f"{ogc}/processes/Levels.{service}.Fail/execution", json={"inputs": {"message": WHY}},
                          headers={"Prefer": "respond-async"})
    assert created.status_code == 201, created.text
    job = f"{ogc}/jobs/{created.json()['jobID']}"
    wait(anyone, f"{GP}/{service}/GPServer/Fail", created.json()["jobID"])
    info = anyone.get(job).json()
    problem = anyone.get(f"{job}/results").json()
    assert info["status"] == "failed"
    assert (WHY in info.get("message", "")) == (service == "Error")
    assert (WHY in problem.get("detail", "")) == (service == "Error")
    sync = anyone.post(f"{ogc}/processes/Levels.NoneSync.Fail/execution", json={"inputs": {"message": WHY}})
    assert sync.status_code == 500 and WHY not in sync.text


def test_the_admin_api_edits_the_level_and_jobs_follow_it(root):
    service = f"{ADMIN}/Edited.GPServer"
    job_url, before = failed_job(root, "Edited")
    assert {m["type"] for m in before["messages"]} == SHOWN["Info"]
    edited = root.post(f"{service}/edit", data={"f": "json", "service": json.dumps(
        {"properties": {"showMessages": "Error"}})}).json()
    try:
        assert edited["status"] == "success" and edited["service"]["properties"]["showMessages"] == "Error"
        assert root.get(service, params={"f": "json"}).json()["properties"]["showMessages"] == "Error"
        _, after = failed_job(root, "Edited")
        assert {m["type"] for m in after["messages"]} == {ERROR}
        # the level applies to the jobs already run as well: the store keeps every message
        assert {m["type"] for m in root.get(job_url, params={"f": "json"}).json()["messages"]} == {ERROR}
    finally:
        root.post(f"{service}/edit", data={"f": "json", "service": json.dumps({"properties": {"showMessages": "Info"}})})


def test_an_unknown_level_is_refused_naming_the_levels(root):
    service = f"{ADMIN}/Edited.GPServer"
    refused = root.post(f"{service}/edit", data={"f": "json", "service": json.dumps(
        {"properties": {"showMessages": "Loud"}})})
    assert refused.status_code == 200
    body = refused.json()
    assert body["status"] == "error" and body["code"] == 400, body
    said = " ".join(body["messages"])
    assert "properties.showMessages" in said and all(level in said for level in ("None", "Error", "Warning", "Info"))
    assert root.get(service, params={"f": "json"}).json()["properties"]["showMessages"] == "Info"
