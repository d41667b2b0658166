"""The ``arcgis`` package's server administration module (``arcgis.gis.server``) against opengp.

A stand-alone ArcGIS Server site is opened as the package documents it, without a portal::

    Server(url=f"{base}/arcgis/admin", username=..., password=..., all_ssl=False,
           token_url=f"{base}/arcgis/admin/generateToken")

``GIS()`` is never constructed (with no arguments it connects to arcgis.com), and name resolution of
anything but the loopback fails for the whole module, so nothing leaves the machine.  Every client call
runs in a daemon thread with a deadline (``call``): a client stuck polling fails instead of hanging.

What the client sends, seen on the wire against this server:

- ``Server(...)`` probes ``/arcgis/info``, ``/arcgis/rest/info``, ``/arcgis/sharing/rest/info`` and
  ``/arcgis/rest/services`` (all ``f=json``), then, on the first admin request, logs in with
  ``POST /arcgis/tokens/generateToken`` (``client=referer``, ``referer=http``, ``expiration=60``): the
  token URL is the ``authInfo.tokenServicesUrl`` of ``rest/info``, not the ``token_url`` passed in.
  Every later request carries ``X-Esri-Authorization: Bearer <token>``.
- ``ServiceManager.list(folder)``: ``GET /arcgis/admin/services[/<folder>]``; a ``Service`` reads
  ``GET .../<folder>/<name>.GPServer``; ``status`` reads ``.../status``; ``start()``/``stop()``/
  ``delete()`` POST ``.../start|stop|delete``; ``edit(json, future=True)`` POSTs ``.../edit`` with
  ``runAsync=True`` and polls ``GET /arcgis/admin/system/jobs/<jobid>``.
- ``JobManager.search``: ``GET .../jobs/query?start=1&number=10&startTime=&endTime=&userName=&machineName=``
  (plus ``status=``), following ``nextStart`` until -1; ``Job.cancel()`` POSTs ``jobs/<id>/cancel``;
  ``JobManager.purge()`` POSTs ``jobs/purgeQueue``.

Client-side problems (not the server's), worked around here:

1. ``Connection`` defaults to ``all_ssl=True`` (the ``Server`` docstring says False) and rewrites every
   ``http://`` URL to ``https://``: against a plain-HTTP server each request fails with an SSL error,
   which ``BaseServer._init`` swallows into empty properties.  Pass ``all_ssl=False``.
2. Without ``token_url`` the connection builds ``https://<host>/arcgis/admin/generateToken`` whatever
   ``all_ssl`` says; ``EsriGenTokenAuth`` then probes ``https://<host>/arcgis/...info``, finds nothing,
   keeps ``None`` as its token URL, and every request fails with "Invalid URL 'None'" (again swallowed).
   Pass an ``http://`` ``token_url`` (the client replaces it with the one ``rest/info`` names).
   (Both only because this server speaks plain HTTP: over HTTPS ``Server(url, username=, password=)``
   works as documented, test_arcgis_login.py.)
3. ``BaseServer.properties`` is read once and cached: ``Service._refresh()`` or a new object re-reads it.
4. ``JobManager.search(start_time=...)`` without ``end_time`` raises ``AttributeError: 'int' object has
   no attribute 'timestamp'`` (it fills ``end_time`` with epoch ms, then calls ``.timestamp()`` on it).
   Pass both.
5. ``Job.delete()`` POSTs to ``jobs/<id>/cancel``, not ``/delete``: the job is kept.  The test posts to
   ``/delete`` itself through the client's connection.
6. The connection does not raise on the admin error shape (``{"status": "error", "messages", "code"}``):
   a refusal comes back as that dict, as ``False`` from ``stop()``/``start()``, or as a ``KeyError`` when
   the client indexes a key the error body lacks (``folders``, ``results``).  Real ArcGIS Server answers
   in the same shape, so that is what users of this client see there too.

The three server gaps the first run of this module found are mended and tested here: the admin
root (``GET /arcgis/admin``, which ``Server.services`` reads first), ``services/exists``, and the
``machineName`` filter of ``jobs/query``.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any, Callable

import httpx
import pytest

from .guards import call as guarded_call, loopback_only
from conftest import TOOLBOXES, add_user, require
from conftest import Server as OpengpProcess

pytestmark = pytest.mark.clients

try:
    from arcgis.gis.server import Server
    from arcgis.gis.server.admin._services import Job, Service, ServiceManager
except Exception as exc:  # noqa: BLE001 - any import failure means the client is unusable here
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None

DEADLINE = 30.0
ADMIN, ADMIN_PASSWORD = "siteadmin", "site admin password 7"
PLAIN, PLAIN_PASSWORD = "plainuser", "plain user password 7"
TOOLBOX = str(TOOLBOXES / "testing.py")
CONFIG = f"""
[server]
workers = 2
heartbeat_interval = 1.0

[[services]]
folder = "Ops"
name = "Jobs"
toolbox = "{TOOLBOX}"
execution_type = "asynchronous"
public = true
"""


def call(fn: Callable[..., Any], *args: Any, timeout: float = DEADLINE, **kwargs: Any) -> Any:
    return guarded_call(fn, *args, timeout=timeout, **kwargs)


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline() -> Iterator[list[str]]:
    """Refuse name resolution of anything but the loopback while the client runs."""
    yield from loopback_only()


@pytest.fixture(scope="module")
def opengp(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Iterator[OpengpProcess]:
    """A server of this module's own: Ops/Jobs (the testing toolbox), an administrator and a plain user."""
    require(_IMPORT_ERROR is None, f"the arcgis package is not importable: {_IMPORT_ERROR}")
    srv = OpengpProcess(tmp_path_factory.mktemp("arcgis-admin"), demo=False)
    srv.config.write_text(CONFIG)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    add_user(srv.data_dir, ADMIN, "administrator", ADMIN_PASSWORD)
    add_user(srv.data_dir, PLAIN, "user", PLAIN_PASSWORD)
    srv.start()
    yield srv
    srv.stop()


def open_site(opengp: OpengpProcess, username: str, password: str) -> Any:
    """``arcgis.gis.server.Server`` for a stand-alone site (client quirks 1 and 2 in the module docstring)."""
    return call(Server, url=f"{opengp.url}/arcgis/admin", username=username, password=password,
                all_ssl=False, token_url=f"{opengp.url}/arcgis/admin/generateToken")


@pytest.fixture(scope="module")
def site(opengp: OpengpProcess) -> Any:
    return open_site(opengp, ADMIN, ADMIN_PASSWORD)


def service_manager(site: Any) -> Any:
    """What ``Server.services`` returns once the admin root lists "services" (it does not: see the first test)."""
    return call(ServiceManager, url=site.url + "/services", gis=site._con, initialize=True, sm=site)


@pytest.fixture
def services(site: Any) -> Any:
    return service_manager(site)


@pytest.fixture
def service(services: Any) -> Any:
    """Ops/Jobs as a ``Service`` the client found by listing the folder."""
    found = [s for s in call(services.list, folder="Ops") if call(lambda: s.properties.serviceName) == "Jobs"]
    assert len(found) == 1
    return found[0]


# -- helpers ---------------------------------------------------------------------------------------

def submit(opengp: OpengpProcess, task: str, token: str | None = None, **params: Any) -> str:
    """``submitJob`` over plain HTTP (the jobs the administrator will look for)."""
    data = {**{k: str(v) for k, v in params.items()}, "f": "json", **({"token": token} if token else {})}
    body = httpx.post(f"{opengp.url}/arcgis/rest/services/Ops/Jobs/GPServer/{task}/submitJob", data=data,
                      timeout=10).json()
    assert "jobId" in body, body
    return body["jobId"]


def user_token(opengp: OpengpProcess, username: str, password: str) -> str:
    body = httpx.post(f"{opengp.url}/arcgis/tokens/generateToken", timeout=10, data={
        "username": username, "password": password, "client": "requestip", "f": "json"}).json()
    return body["token"]


def job_id(job: Any) -> str:
    return job.url.rsplit("/", 1)[-1]


def ids(jobs: list[Any]) -> list[str]:
    return [job_id(j) for j in jobs]


def admin_job(service: Any, jid: str) -> dict[str, Any]:
    """The job as the admin module reads it (a new ``Job`` each time: properties are cached)."""
    return dict(call(lambda: Job(url=f"{service.url}/jobs/{jid}", con=service._con).properties))


def wait_status(service: Any, jid: str, wanted: set[str], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := admin_job(service, jid))["status"] not in wanted:
        assert time.monotonic() < deadline, f"job {jid} is {job['status']}, not {sorted(wanted)}"
        time.sleep(0.05)
    return job


def cancel_unfinished(service: Any, *jids: str) -> None:
    for jid in jids:
        if admin_job(service, jid)["status"] in {"esriJobSubmitted", "esriJobExecuting", "esriJobNew",
                                                 "esriJobWaiting"}:
            call(Job(url=f"{service.url}/jobs/{jid}", con=service._con).cancel)
    for jid in jids:
        wait_status(service, jid, {"esriJobCancelled", "esriJobSucceeded", "esriJobFailed", "esriJobTimedOut"})


def wait_idle(service: Any, timeout: float = 20) -> None:
    """No job of the service is running or queued (earlier tests' jobs have ended)."""
    deadline = time.monotonic() + timeout
    for status in ("esriJobExecuting", "esriJobSubmitted", "esriJobCancelling"):
        while call(service.jobs.search, status=status):
            assert time.monotonic() < deadline, f"the service still has {status} jobs"
            time.sleep(0.05)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- the site and its services ---------------------------------------------------------------------

def test_the_site_object_gives_its_service_manager(site: Any) -> None:
    """``Server.services`` (the documented entry point) first reads the admin root,
    ``GET /arcgis/admin?f=json``, and needs ``"services"`` in its ``resources`` list."""
    root = dict(call(lambda: site.properties))
    assert "services" in (root.get("resources") or []), (
        f"GET {site.url}?f=json (read by Server.services) gave {root!r}: arcgis needs the admin root "
        "resource listing 'services' in 'resources'")
    manager = call(lambda: site.services)
    names = [call(lambda s=s: s.properties.serviceName) for s in call(manager.list, folder="Ops")]
    assert names == ["Jobs"]


def test_the_service_manager_lists_folders_and_gp_services(services: Any, opengp: OpengpProcess) -> None:
    assert "Ops" in call(lambda: services.folders)
    assert call(services.list) == []                 # nothing published in the root folder
    listed = call(services.list, folder="Ops")
    assert [s.url for s in listed] == [f"{opengp.url}/arcgis/admin/services/Ops/Jobs.GPServer"]
    assert [(call(lambda s=s: s.properties.serviceName), call(lambda s=s: s.properties.type)) for s in listed] == [
        ("Jobs", "GPServer")]


def test_a_service_reads_its_properties_and_status(service: Any) -> None:
    props = call(lambda: service.properties)
    assert (props.serviceName, props.folderName, props.type) == ("Jobs", "Ops", "GPServer")
    assert (props.configuredState, props.realTimeState) == ("STARTED", "STARTED")
    assert {"Noop", "Sleep", "Add"} <= set(props.tasks)
    assert props.properties["executionType"] == "Asynchronous"
    assert props.properties["toolbox"] == TOOLBOX
    assert call(lambda: service.status) == {"configuredState": "STARTED", "realTimeState": "STARTED"}


def test_exists_finds_the_folder_and_the_service(site: Any, services: Any) -> None:
    """``ServiceManager.exists(folder, name, type)`` POSTs ``/arcgis/admin/services/exists``
    with ``folderName``, ``serviceName`` and ``type``, and reads ``exists``."""
    assert call(services.exists, "Ops") is True
    assert call(services.exists, "Nowhere") is False
    answer = call(site._con.post, site.url + "/services/exists",
                  {"f": "json", "folderName": "Ops", "serviceName": "Jobs", "type": "GPServer"})
    assert call(services.exists, "Ops", "Jobs", "GPServer") is True, (
        f"POST /arcgis/admin/services/exists (folderName=Ops, serviceName=Jobs, type=GPServer) answered {answer!r}; "
        "arcgis expects {'exists': true}")
    assert call(services.exists, "Ops", "NoSuchService", "GPServer") is False


# -- jobs ------------------------------------------------------------------------------------------

def test_search_finds_the_submitted_jobs_by_status_and_user(service: Any, opengp: OpengpProcess) -> None:
    anonymous = [submit(opengp, "Noop", value=f"v{i}") for i in range(3)]
    mine = submit(opengp, "Noop", token=user_token(opengp, PLAIN, PLAIN_PASSWORD), value="mine")
    for jid in (*anonymous, mine):
        wait_status(service, jid, {"esriJobSucceeded"})

    found = call(service.jobs.search)
    assert {*anonymous, mine} <= set(ids(found))
    assert all(j.url == f"{service.url}/jobs/{job_id(j)}" for j in found)
    assert {*anonymous, mine} <= set(ids(call(service.jobs.search, status="esriJobSucceeded")))
    assert not {*anonymous, mine} & set(ids(call(service.jobs.search, status="esriJobFailed")))
    assert ids(call(service.jobs.search, username=PLAIN)) == [mine]

    record = admin_job(service, mine)
    assert (record["jobID"], record["status"], record["username"], record["task"]) == (
        mine, "esriJobSucceeded", PLAIN, "Noop")
    assert record["serviceName"] == "Ops/Jobs"
    assert record["submittedTime"] <= record["endTime"]
    assert admin_job(service, anonymous[0])["username"] is None


def test_search_pages_through_a_time_window(service: Any, opengp: OpengpProcess) -> None:
    """Twelve jobs: more than the client's page of 10, so it follows ``nextStart``.  (Client quirk 4:
    ``end_time`` is passed along with ``start_time``.)"""
    wait_idle(service)
    before = now()
    submitted = [submit(opengp, "Noop", value=str(i)) for i in range(12)]
    after = now() + dt.timedelta(seconds=1)
    try:
        window = call(service.jobs.search, start_time=before, end_time=after)
        assert sorted(ids(window)) == sorted(submitted)
        assert len(set(ids(window))) == 12                  # the pages neither overlap nor skip
        earlier = call(service.jobs.search, start_time=before - dt.timedelta(hours=1),
                       end_time=before - dt.timedelta(milliseconds=1))
        assert not set(submitted) & set(ids(earlier))
    finally:
        for jid in submitted:
            wait_status(service, jid, {"esriJobSucceeded"})


def test_search_by_machine_returns_only_that_machines_jobs(service: Any, opengp: OpengpProcess) -> None:
    """``search(machine=...)`` sends ``machineName=<name>`` to ``jobs/query`` (spec section 11): the
    jobs that ran on that machine (the job record's ``machinename``), and none for a machine that ran nothing."""
    jid = submit(opengp, "Noop", value="machine")
    machine = wait_status(service, jid, {"esriJobSucceeded"})["machinename"]
    assert machine
    assert jid in ids(call(service.jobs.search, machine=machine))
    elsewhere = ids(call(service.jobs.search, machine="no-such-machine"))
    assert jid not in elsewhere, (
        "GET jobs/query?machineName=no-such-machine answered this job (ran on "
        f"{machine!r}): opengp ignores machineName")


def test_a_running_job_is_found_and_cancelled(service: Any, opengp: OpengpProcess) -> None:
    jid = submit(opengp, "Sleep", seconds=30)
    try:
        wait_status(service, jid, {"esriJobExecuting"})
        running = [j for j in call(service.jobs.search, status="esriJobExecuting") if job_id(j) == jid]
        assert len(running) == 1
        assert call(running[0].cancel) == "success"
        job = wait_status(service, jid, {"esriJobCancelled"}, timeout=10)
        assert job["endTime"] is not None
        assert jid in ids(call(service.jobs.search, status="esriJobCancelled"))
        rest = httpx.get(f"{opengp.url}/arcgis/rest/services/Ops/Jobs/GPServer/Sleep/jobs/{jid}",
                         params={"f": "json"}, timeout=10).json()
        assert rest["jobStatus"] == "esriJobCancelled"
    finally:
        cancel_unfinished(service, jid)


def test_purge_cancels_the_queued_jobs_only(service: Any, opengp: OpengpProcess) -> None:
    wait_idle(service)
    running = [submit(opengp, "Sleep", seconds=30) for _ in range(2)]    # the server has 2 workers
    queued: list[str] = []
    try:
        for jid in running:
            wait_status(service, jid, {"esriJobExecuting"})
        queued = [submit(opengp, "Sleep", seconds=30) for _ in range(2)]
        assert {admin_job(service, jid)["status"] for jid in queued} == {"esriJobSubmitted"}

        assert call(service.jobs.purge) == {"status": "success", "cancelled": 2}
        for jid in queued:
            wait_status(service, jid, {"esriJobCancelled"}, timeout=5)
        assert {admin_job(service, jid)["status"] for jid in running} == {"esriJobExecuting"}
    finally:
        cancel_unfinished(service, *running, *queued)


def test_a_deleted_job_is_gone(service: Any, opengp: OpengpProcess) -> None:
    """Client quirk 5: ``Job.delete()`` posts to ``/cancel``; the delete is posted through the client's
    connection to ``jobs/<id>/delete`` instead."""
    jid = submit(opengp, "Noop", value="to delete")
    wait_status(service, jid, {"esriJobSucceeded"})
    job = [j for j in call(service.jobs.search) if job_id(j) == jid][0]
    assert call(service._con.post, job.url + "/delete", {"f": "json"}) == {"status": "success"}
    assert jid not in ids(call(service.jobs.search))
    gone = admin_job(service, jid)
    assert (gone["status"], gone["code"]) == ("error", 404)


# -- service operations ----------------------------------------------------------------------------

def test_a_stopped_service_refuses_jobs_until_started(service: Any, opengp: OpengpProcess) -> None:
    rest = f"{opengp.url}/arcgis/rest/services/Ops/Jobs/GPServer"
    try:
        assert call(service.stop) is True
        assert call(lambda: service.status) == {"configuredState": "STOPPED", "realTimeState": "STOPPED"}
        call(service._refresh)
        assert call(lambda: service.properties.configuredState) == "STOPPED"

        refused = httpx.post(f"{rest}/Noop/submitJob", data={"value": "x", "f": "json"}, timeout=10).json()
        assert "jobId" not in refused
        assert refused["error"]["code"] == 503
        assert "stopped" in refused["error"]["message"]
    finally:
        assert call(service.start) is True
    assert call(lambda: service.status) == {"configuredState": "STARTED", "realTimeState": "STARTED"}
    jid = submit(opengp, "Noop", value="after start")
    wait_status(service, jid, {"esriJobSucceeded"})


def test_an_asynchronous_edit_is_polled_to_completion_and_visible_after(
        service: Any, services: Any, opengp: OpengpProcess) -> None:
    description = f"Edited through arcgis at {time.time():.3f}"
    definition = dict(call(lambda: service.properties))       # the whole JSON, as ArcGIS asks
    definition["description"] = description
    ok, job = call(service.edit, definition, future=True)
    assert ok is True
    assert job.url.startswith(f"{opengp.url}/arcgis/admin/system/jobs/j")

    done = call(job.result)
    assert done["status"] == "COMPLETED", done
    assert done["operationURI"] == "/arcgis/admin/services/Ops/Jobs.GPServer/edit"
    assert done["username"] == ADMIN
    assert done["resource"] == {"name": "Ops/Jobs.GPServer"}
    assert done["result"]["status"] == "success"
    assert done["result"]["service"]["description"] == description      # as the synchronous edit answers

    call(service._refresh)
    assert call(lambda: service.properties.description) == description
    listed = call(services._con.get, services.url + "/Ops", {"f": "json"})     # the folder listing
    assert [s["description"] for s in listed["services"] if s["serviceName"] == "Jobs"] == [description]
    rest = httpx.get(f"{opengp.url}/arcgis/rest/services/Ops/Jobs/GPServer", params={"f": "json"}, timeout=10)
    assert rest.json()["serviceDescription"] == description


def test_edits_that_are_refused_or_fail_change_nothing(service: Any) -> None:
    ok, answer = call(service.edit, {"maxUsageTime": 300})
    assert ok is True and answer["service"]["maxUsageTime"] == 300

    ok, answer = call(service.edit, {"maxUsageTime": -1})
    assert ok is False
    assert answer["status"] == "error" and answer["code"] == 400
    assert any("maxUsageTime" in m for m in answer["messages"]), answer

    ok, job = call(service.edit, {"properties": {"toolbox": "/no/such/toolbox.py"}}, future=True)
    assert ok is True                                   # accepted: the toolbox is checked by the job
    failed = call(job.result)
    assert failed["status"] == "FAILED", failed
    assert "/no/such/toolbox.py" in failed["error"]
    assert failed["result"]["status"] == "error" and failed["result"]["code"] == 400       # the failure's details
    assert "/no/such/toolbox.py" in failed["result"]["messages"][0]

    call(service._refresh)
    props = call(lambda: service.properties)
    assert (props.maxUsageTime, props.properties["toolbox"]) == (300, TOOLBOX)
    assert call(lambda: service.status) == {"configuredState": "STARTED", "realTimeState": "STARTED"}
    assert call(service.edit, {"maxUsageTime": 600})[0] is True


def test_a_created_service_is_listed_until_deleted(services: Any) -> None:
    created = call(services.create_service, {
        "serviceName": "Extra", "folderName": "Ops", "type": "GPServer", "description": "made by arcgis",
        "properties": {"toolbox": TOOLBOX, "executionType": "Synchronous"}})
    assert created["status"] == "success", created
    try:
        listed = {call(lambda s=s: s.properties.serviceName): s for s in call(services.list, folder="Ops")}
        assert sorted(listed) == ["Extra", "Jobs"]
        extra = listed["Extra"]
        assert call(lambda: extra.properties.properties)["executionType"] == "Synchronous"
        assert call(lambda: extra.properties.owner) == ADMIN
    finally:
        extra = Service(url=f"{services.url}/Ops/Extra.GPServer", gis=services._con)
        assert call(extra.delete) is True
    assert [call(lambda s=s: s.properties.serviceName) for s in call(services.list, folder="Ops")] == ["Jobs"]


# -- who may administer ----------------------------------------------------------------------------

def test_a_plain_user_is_refused_by_the_admin_module(opengp: OpengpProcess, site: Any) -> None:
    """A user without an admin role logs in (the services token endpoint gives them a token), and every
    admin call is answered ``{"status": "error", "messages": ["User 'plainuser' is not authorized to
    administer services."], "code": 403}``; the client hands that back (client quirk 6)."""
    plain = open_site(opengp, PLAIN, PLAIN_PASSWORD)
    manager = service_manager(plain)
    refusal = dict(call(lambda: manager.properties))
    assert (refusal["status"], refusal["code"]) == ("error", 403)
    assert PLAIN in refusal["messages"][0]
    with pytest.raises(KeyError, match="folders"):
        call(manager.list, folder="Ops")

    jobs = Service(url=f"{opengp.url}/arcgis/admin/services/Ops/Jobs.GPServer", gis=plain._con)
    assert dict(call(lambda: jobs.properties))["code"] == 403
    assert call(jobs.stop) is False
    with pytest.raises(KeyError, match="results"):
        call(jobs.jobs.search)
    # nothing changed: the administrator still sees the service started
    admin_view = Service(url=jobs.url, gis=site._con)
    assert call(lambda: admin_view.status) == {"configuredState": "STARTED", "realTimeState": "STARTED"}


def test_a_wrong_password_reaches_the_user_as_the_servers_message(opengp: OpengpProcess) -> None:
    wrong = open_site(opengp, ADMIN, "not the password")
    with pytest.raises(Exception, match="Invalid username or password"):
        call(wrong._con.get, wrong.url + "/services", {"f": "json"})


def test_usage_reports_through_the_client(opengp, site, service):
    """``Server.usage`` (a ``ReportManager``, there because the admin root lists "usagereports"):
    ``create`` posts the definition (metrics as one comma-separated string, as its docstring
    shows), ``list`` reads the reports' ``metrics``, ``Report.query`` the data with
    ``filter={"machines": "*"}``, and ``quick_report`` does all three and deletes its report."""
    from arcgis.gis.server.admin._usagereports import Report

    wait_idle(service)                  # the other tests' jobs end before the report's window starts
    since = int(time.time() * 1000) + 1
    time.sleep(0.01)
    done = [submit(opengp, "Noop"), submit(opengp, "Fail")]
    for jid in done:
        wait_status(service, jid, {"esriJobSucceeded", "esriJobFailed"})
    usage = call(lambda: site.usage)
    assert usage is not None
    report = call(usage.create, reportname="client-report", since="CUSTOM", from_value=since,
                  to_value=int(time.time() * 1000) + 60_000, aggregation_interval="60",
                  queries=[{"resourceURIs": ["services/Ops/Jobs.GPServer"], "metrics": ["RequestCount,RequestsFailed"]}])
    assert isinstance(report, Report), report
    assert "client-report" in [r.url.rsplit("/", 1)[-1] for r in call(usage.list)]
    data = call(report.query)["report"]
    counts = {s["metric-type"]: sum(v for v in s["data"] if v) for s in data["report-data"][0]}
    assert counts == {"RequestCount": 2, "RequestsFailed": 1}
    quick = call(usage.quick_report, since="LAST_DAY", queries="services/Ops/Jobs.GPServer", metrics="RequestCount")
    assert sum(v for v in quick["report"]["report-data"][0][0]["data"] if v) >= 2
    assert call(report.delete) == {"status": "success"}
    # the quick report deleted itself too (a new ReportManager: properties are cached, quirk 3)
    assert [r.url for r in call(call(lambda: site.usage).list)] == []
