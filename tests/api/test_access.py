"""Who may use which service, and who may see which job, across users and an administrator."""
from __future__ import annotations


import httpx
import pytest

from conftest import TOOLBOXES, Server, add_user
from .helpers import error_of, wait

CONFIG = """
[server]
workers = 2

[[services]]
folder = "Open"
name = "Jobs"
toolbox = "{toolbox}"
public = true

[[services]]
folder = "Secure"
name = "AliceOnly"
toolbox = "{toolbox}"
allowed = ["alice"]

[[services]]
folder = "Secure"
name = "Publishers"
toolbox = "{toolbox}"
allowed = ["role:publisher"]

[[services]]
folder = "Secure"
name = "AdminOnly"
toolbox = "{toolbox}"

[[services]]
folder = "Hidden"
name = "AdminOnly"
toolbox = "{toolbox}"
"""
PASSWORDS = {"alice": "alice password", "bob": "bob password", "pat": "pat password", "root": "root password"}
ROLES = {"alice": "user", "bob": "user", "pat": "publisher", "root": "administrator"}
OPEN = "/Open/Jobs/GPServer"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("access"), demo=False)
    server.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    for name, role in ROLES.items():
        add_user(server.data_dir, name, role, PASSWORDS[name])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def as_(srv):
    """``as_[name]``: an httpx client sending that user's token (``as_[None]``: anonymous)."""
    clients = {None: httpx.Client(base_url=srv.url + "/arcgis/rest/services", timeout=30)}
    for name, password in PASSWORDS.items():
        token = httpx.post(f"{srv.url}/arcgis/tokens/generateToken",
                           data={"username": name, "password": password, "client": "requestip", "f": "json"}
                           ).json()["token"]
        clients[name] = httpx.Client(base_url=srv.url + "/arcgis/rest/services", timeout=30,
                                     headers={"X-Esri-Authorization": f"Bearer {token}"})
    yield clients
    for c in clients.values():
        c.close()


def listing(client, path: str = "") -> dict:
    return client.get(path, params={"f": "json"}).json()


def test_the_directory_shows_only_what_each_caller_may_use(as_):
    assert listing(as_[None])["folders"] == ["Open"]
    assert listing(as_["alice"])["folders"] == ["Open", "Secure"]
    assert listing(as_["root"])["folders"] == ["Hidden", "Open", "Secure"]
    names = lambda who: [s["name"] for s in listing(as_[who], "/Secure")["services"]]   # noqa: E731
    assert names("alice") == ["Secure/AliceOnly"]
    assert names("pat") == ["Secure/Publishers"]
    assert names("root") == ["Secure/AdminOnly", "Secure/AliceOnly", "Secure/Publishers"]   # by name
    assert error_of(as_[None].get("/Secure", params={"f": "json"}))["code"] == 499
    assert error_of(as_["bob"].get("/Hidden", params={"f": "json"}))["code"] == 403


@pytest.mark.parametrize("service,allowed", [
    ("Secure/AliceOnly", {"alice", "root"}),
    ("Secure/Publishers", {"pat", "root"}),
    ("Secure/AdminOnly", {"root"}),
    ("Open/Jobs", {None, "alice", "bob", "pat", "root"}),
])
def test_each_service_answers_only_those_allowed(as_, service, allowed):
    for who in (None, "alice", "bob", "pat", "root"):
        for r in (as_[who].get(f"/{service}/GPServer/Noop", params={"f": "json"}),
                  as_[who].post(f"/{service}/GPServer/Noop/submitJob", data={"f": "json", "value": "v"})):
            body = r.json()
            if who in allowed:
                assert "error" not in body, (who, service, body)
            else:
                expected = 499 if who is None else 403
                assert body["error"]["code"] == expected, (who, service, body)


def test_a_job_is_seen_only_by_its_owner_and_administrators(as_):
    r = as_["alice"].post(f"{OPEN}/WriteFile/submitJob", data={"f": "json", "text": "alice's secret"})
    job_id = r.json()["jobId"]
    done = wait(as_["alice"], f"{OPEN}/WriteFile", job_id)
    assert done["jobStatus"] == "esriJobSucceeded"
    result = as_["alice"].get(f"{OPEN}/WriteFile/jobs/{job_id}/results/result", params={"f": "json"}).json()
    file_url = result["value"]["url"]
    urls = [f"{OPEN}/WriteFile/jobs/{job_id}", f"{OPEN}/jobs/{job_id}",
            f"{OPEN}/WriteFile/jobs/{job_id}/results/result", f"{OPEN}/WriteFile/jobs/{job_id}/inputs/text",
            f"{OPEN}/WriteFile/jobs/{job_id}/results", f"{OPEN}/WriteFile/jobs/{job_id}/cancel"]
    for who in (None, "bob", "pat"):
        for url in urls:
            error = error_of(as_[who].get(url, params={"f": "json"}))
            assert error["code"] == 404 and job_id in " ".join(error["details"]) + error["message"], (who, url)
        refused = as_[who].get(file_url)      # no token at all: asked to sign in, as for any protected file
        assert "alice's secret" not in refused.text and error_of(refused)["code"] == (499 if who is None else 404)
    for who in ("alice", "root"):
        assert as_[who].get(urls[0], params={"f": "json"}).json()["jobStatus"] == "esriJobSucceeded"
        assert as_[who].get(file_url).text == "alice's secret"


def test_someone_else_cannot_cancel_a_running_job(as_):
    job_id = as_["alice"].post(f"{OPEN}/Sleep/submitJob", data={"f": "json", "seconds": "5"}).json()["jobId"]
    assert error_of(as_["bob"].post(f"{OPEN}/Sleep/jobs/{job_id}/cancel", data={"f": "json"}))["code"] == 404
    status = as_["alice"].get(f"{OPEN}/Sleep/jobs/{job_id}", params={"f": "json"}).json()["jobStatus"]
    assert status in ("esriJobSubmitted", "esriJobExecuting")
    assert as_["root"].post(f"{OPEN}/Sleep/jobs/{job_id}/cancel", data={"f": "json"}).json()["jobId"] == job_id
    assert wait(as_["alice"], f"{OPEN}/Sleep", job_id)["jobStatus"] == "esriJobCancelled"


def test_the_admin_api_has_its_own_login_for_administrators_and_publishers(srv):
    def login(name: str, password: str) -> dict:
        return httpx.post(f"{srv.url}/arcgis/admin/generateToken",
                          data={"username": name, "password": password, "client": "requestip", "f": "json"}).json()

    assert "token" in login("root", PASSWORDS["root"]) and "token" in login("pat", PASSWORDS["pat"])
    refused = login("alice", PASSWORDS["alice"])
    assert refused["status"] == "error" and refused["code"] == 403 and "token" not in refused
    wrong = login("root", "not the password")
    assert wrong == {"status": "error", "code": 400,
                     "messages": ["Unable to generate token.", "Invalid username or password."]}


def test_file_urls_never_tell_whether_a_job_exists(srv, as_):
    """Found in review: a restricted service's file URL answered 499 for a real job, 404 for a made-up one."""
    job_id = as_["alice"].post("/Secure/AliceOnly/GPServer/WriteFile/submitJob", data={"f": "json"}).json()["jobId"]
    wait(as_["alice"], "/Secure/AliceOnly/GPServer/WriteFile", job_id)
    files = f"{srv.url}/arcgis/rest/directories/arcgisjobs/secure/aliceonly_gpserver"
    real, made_up = f"{files}/{job_id}/scratch/out.txt", f"{files}/j{'0' * 32}/scratch/out.txt"
    assert as_["alice"].get(real).status_code == 200
    for who in (None, "bob"):
        assert error_of(as_[who].get(real))["code"] == error_of(as_[who].get(made_up))["code"]
    base = f"{srv.url}/arcgis/rest/directories/arcgisjobs/open/jobs_gpserver"
    for odd in ("%00", "a" * 300, f"{job_id}/%00", f"{job_id}/" + "b" * 5000):
        assert error_of(as_["root"].get(f"{base}/{odd}"))["code"] == 404
