"""The ArcGIS API for Python (``arcgis``) signs in the usual way, end to end against a real server.

What a user of the package writes, and nothing else::

    gis = GIS("https://host:port/arcgis", "alice", password, verify_cert=False)   # self-signed here
    tools = import_toolbox(".../rest/services/Private/Tools/GPServer", gis=gis)
    tools.echo(text="hi")
    site = Server(url="https://host:port/arcgis/admin", username=..., password=...)

``GIS`` speaks HTTPS only (it rewrites ``http://`` to ``https://`` on the same port), so the
server of this module serves HTTPS (``opengp serve --ssl-certfile/--ssl-keyfile``) with a
certificate made by the test.  ``GIS`` signs in through the sharing API (api/arcgis/sharing.py):
``sharing/rest/info``, the OAuth sign-in page and form, ``portals/self`` and
``community/users/<name>``.  With HTTPS the admin module's ``Server`` needs none of the
workarounds of test_arcgis_admin.py (``all_ssl=False``, an ``http://`` ``token_url``).

One server for the module (the package is slow to import and to sign in); every client call
runs with a deadline and nothing but the loopback resolves (guards.py).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import InvalidStateError
from typing import Any

import httpx
import pytest

from .guards import call, loopback_only
from conftest import add_user, require
from conftest import Server as OpengpProcess
from tls import self_signed

pytestmark = [pytest.mark.clients, pytest.mark.local_only]

try:
    import arcgis
    from arcgis.gis import GIS
    from arcgis.gis.server import Server
    from arcgis.geoprocessing import import_toolbox
except Exception as exc:  # noqa: BLE001 - any import failure means the client is unusable here
    _IMPORT_ERROR: Exception | None = exc
else:
    _IMPORT_ERROR = None

ALICE, ALICE_PASSWORD = "alice", "alice password 7"
BOB, BOB_PASSWORD = "bob", "bob password 77"
ADMIN, ADMIN_PASSWORD = "siteadmin", "site admin password 7"
CONFIG = """
[server]
workers = 2
heartbeat_interval = 1.0

[[services]]
folder = "Private"
name = "Tools"
toolbox = "opengp.toolboxes.demo"
execution_type = "asynchronous"
allowed = ["alice"]
"""


# -- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline() -> Iterator[list[str]]:
    yield from loopback_only()


@pytest.fixture(scope="module")
def opengp(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Iterator[OpengpProcess]:
    """A server of this module's own, over HTTPS: Private/Tools (the demo tools, for alice only)."""
    require(_IMPORT_ERROR is None, f"the arcgis package is not importable: {_IMPORT_ERROR}")
    tmp = tmp_path_factory.mktemp("arcgis-login")
    cert, key = self_signed(tmp / "tls")
    srv = OpengpProcess(tmp, demo=False, extra_args=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    srv.url = f"https://127.0.0.1:{srv.port}"
    srv.certificate = cert          # type: ignore[attr-defined]
    srv.config.write_text(CONFIG)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    for name, role, password in ((ALICE, "user", ALICE_PASSWORD), (BOB, "user", BOB_PASSWORD),
                                 (ADMIN, "administrator", ADMIN_PASSWORD)):
        add_user(srv.data_dir, name, role, password)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def gis(opengp: OpengpProcess) -> Iterator[Any]:
    """alice, signed in the usual way (and so the active GIS, as the package makes it)."""
    signed_in = call(GIS, f"{opengp.url}/arcgis", ALICE, ALICE_PASSWORD, verify_cert=False)
    yield signed_in
    arcgis.env.active_gis = None        # other modules' clients run without a GIS


@pytest.fixture(scope="module")
def tools(gis: Any, opengp: OpengpProcess) -> Any:
    return call(import_toolbox, f"{opengp.url}/arcgis/rest/services/Private/Tools/GPServer", gis=gis)


@pytest.fixture(scope="module")
def site(opengp: OpengpProcess) -> Any:
    """The admin module's ``Server``, opened as its docstring shows for a stand-alone site."""
    return call(Server, url=f"{opengp.url}/arcgis/admin", username=ADMIN, password=ADMIN_PASSWORD)


def rest(opengp: OpengpProcess, path: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(f"{opengp.url}/arcgis/{path}", params={"f": "json", **params}, verify=False, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- GIS -------------------------------------------------------------------------------------------

def test_gis_signs_in_with_a_user_name_and_password(gis: Any, opengp: OpengpProcess) -> None:
    me = call(lambda: gis.users.me)
    assert (me.username, me.role) == (ALICE, "org_user")
    assert call(lambda: gis.version) == [11, 1]
    assert gis.url == f"{opengp.url}/arcgis"
    assert arcgis.env.active_gis is gis


def test_gis_given_an_http_url_signs_in_over_https(opengp: OpengpProcess) -> None:
    """The package turns ``http://`` into ``https://`` itself (same port): the URL a user copied
    from the services directory works as it is.  (And the certificate is checked against the
    one the server was given, ``ca_bundles``, as docs/clients.md shows.)"""
    plain = opengp.url.replace("https://", "http://")
    admin = call(GIS, f"{plain}/arcgis", ADMIN, ADMIN_PASSWORD, ca_bundles=str(opengp.certificate),
                 set_active=False)
    me = call(lambda: admin.users.me)
    assert (me.username, me.role) == (ADMIN, "org_admin")
    assert arcgis.env.active_gis is not admin


def test_a_wrong_password_reaches_the_user_as_the_servers_message(opengp: OpengpProcess) -> None:
    with pytest.raises(Exception, match="Invalid username or password"):
        call(GIS, f"{opengp.url}/arcgis", BOB, "not the password", verify_cert=False, set_active=False)


# -- running tools with the signed-in GIS ----------------------------------------------------------

def test_import_toolbox_with_the_gis_runs_a_private_tool_as_its_user(
        tools: Any, gis: Any, opengp: OpengpProcess, site: Any) -> None:
    anonymous = rest(opengp, "rest/services/Private/Tools/GPServer")
    assert anonymous["error"]["code"] == 499        # private: nothing without a token

    out = call(tools.echo, text="signed in", count=2, gis=gis)
    assert (out.out_text, out.out_count) == ("signed in", 2)
    # without gis=: the active GIS (the one GIS() made), as the package documents
    assert call(tools.echo, text="active GIS").out_text == "active GIS"

    owners = {dict(job.properties)["username"] for job in call(_service(site).jobs.search)}
    assert owners == {ALICE}


def test_another_user_is_refused_the_private_service(opengp: OpengpProcess) -> None:
    bob = call(GIS, f"{opengp.url}/arcgis", BOB, BOB_PASSWORD, verify_cert=False, set_active=False)
    answer = call(bob._con.get, f"{opengp.url}/arcgis/rest/services/Private/Tools/GPServer",
                  {"f": "json"}, ignore_error_key=True)
    assert answer["error"]["code"] == 403


# -- the admin module ------------------------------------------------------------------------------

def _service(site: Any) -> Any:
    [service] = [s for s in call(site.services.list, folder="Private")
                 if call(lambda s=s: s.properties.serviceName) == "Tools"]
    return service


def test_the_admin_module_lists_services_and_jobs_without_workarounds(site: Any, tools: Any) -> None:
    assert "services" in call(lambda: site.properties.resources)
    assert "Private" in call(lambda: site.services.folders)
    service = _service(site)
    assert call(lambda: service.status) == {"configuredState": "STARTED", "realTimeState": "STARTED"}

    job = call(tools.echo, text="for the administrator", future=True)
    call(job.result)
    found = [j for j in call(service.jobs.search, username=ALICE) if j.url.endswith(job._jobid)]
    assert len(found) == 1
    record = dict(call(lambda: found[0].properties))
    assert (record["status"], record["task"]) == ("esriJobSucceeded", "Echo")


# -- cancel ----------------------------------------------------------------------------------------

class QuietCancelledJobs(logging.Filter):
    """docs/clients.md's filter: drops the traceback the package's poller thread logs after
    ``GPJob.cancel()`` ("Exception in worker", InvalidStateError); counts what it dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InvalidStateError):
            self.dropped += 1
            return False
        return True


def test_cancel_with_the_documented_filter_ends_the_job_quietly(tools: Any, caplog: pytest.LogCaptureFixture) -> None:
    quiet = QuietCancelledJobs()
    logging.getLogger("concurrent.futures").addFilter(quiet)
    try:
        job = call(tools.slow, seconds=30, stages=3, future=True)
        deadline = time.monotonic() + 20
        while call(lambda: job.status) != "esriJobExecuting":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
        assert call(job.cancel) is True

        deadline = time.monotonic() + 15
        while (status := call(lambda: job.status)) != "esriJobCancelled" or not quiet.dropped:
            assert time.monotonic() < deadline, (status, quiet.dropped)
            time.sleep(0.1)
        assert quiet.dropped == 1       # the client's poller did end, on the server's esriJobCancelled
        assert not [r for r in caplog.records if r.name == "concurrent.futures"]
    finally:
        logging.getLogger("concurrent.futures").removeFilter(quiet)
