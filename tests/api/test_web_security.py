"""Security review of the pages for people, the agstoken cookie, uploads and
service management (2026-12-01).

Each attack is made over HTTP against a real server and must be refused:
same-site CSRF with the cookie, state changes by GET, script URLs on job
pages, tool-written HTML run as this origin, jobs inherited by a re-created
service, unbounded (chunked) bodies, long upload names, the stale-token
sign-in loop, XSS in every page, and access to other users' jobs.
"""
from __future__ import annotations

import json
import time
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from conftest import TOOLBOXES, Server, add_user

CONFIG = """
[server]
workers = 2

[[services]]
folder = "Sec"
name = "Open"
toolbox = "{toolbox}"
public = true

[[services]]
folder = "Sec"
name = "Members"
toolbox = "{toolbox}"
allowed = ["role:user"]

[[services]]
folder = "Sec"
name = "Gone"
toolbox = "{toolbox}"
allowed = ["role:user"]

[[services]]
folder = "Sec"
name = "Now"
toolbox = "{toolbox}"
execution_type = "synchronous"
allowed = ["role:user"]
"""

# A toolbox as a publisher might write one: a file input passed through to an
# output, and a report written as HTML from the caller's text.
HOSTILE = '''"""Tools that hand user input back."""
from opengp import DataFile, JobContext, tool


@tool(name="PassFile")
def pass_file(data: DataFile) -> DataFile:
    return data


@tool(name="ScriptLink")
def script_link() -> DataFile:
    return DataFile(url="javascript:alert(document.domain)")


@tool(name="HtmlReport")
def html_report(title: str = "report", ctx: JobContext = None) -> DataFile:
    path = ctx.workdir / "report.html"
    path.write_text("<h1>" + title + "</h1>")
    return DataFile(path=path)


@tool(name="Say")
def say(text: str = "x", ctx: JobContext = None) -> str:
    ctx.info(text)
    return text
'''

PASSWORDS = {"root": "root password", "alice": "alice password", "bob": "bob password",
             "pub1": "pub1 password", "pub2": "pub2 password"}
ROLES = {"root": "administrator", "alice": "user", "bob": "user", "pub1": "publisher", "pub2": "publisher"}
TERMINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"}
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
RAW = ("<script>alert(1)", "<img src=x", "onerror=alert(2)>")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web-security")
    server = Server(tmp, demo=False)
    server.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "testing.py"))
    (tmp / "hostile.py").write_text(HOSTILE)
    for name, role in ROLES.items():
        add_user(server.data_dir, name, role, PASSWORDS[name])
    server.start()
    root = _login(server, "root")
    r = root.post("/arcgis/admin/services/createService", data={"f": "json", "service": json.dumps({
        "serviceName": "Hostile", "folderName": "Sec", "type": "GPServer", "public": True,
        "properties": {"toolbox": str(tmp / "hostile.py")}})})
    assert r.json()["status"] == "success", r.text
    yield server
    server.stop()


def _login(server: Server, name: str) -> httpx.Client:
    """A client signed in through the login page: it carries the agstoken cookie, nothing else."""
    c = httpx.Client(base_url=server.url, timeout=30)
    r = c.post("/arcgis/login", data={"username": name, "password": PASSWORDS[name], "next": "/arcgis/rest/services?f=html"})
    assert r.status_code == 303 and "agstoken" in c.cookies, r.text
    return c


@pytest.fixture(scope="module")
def as_(srv):
    clients = {name: _login(srv, name) for name in ROLES}
    clients["anon"] = httpx.Client(base_url=srv.url, timeout=30)
    yield clients
    for c in clients.values():
        c.close()


def _submit(c: httpx.Client, task_url: str, **params) -> str:
    r = c.post(f"{task_url}/submitJob", data={"f": "json", **params})
    assert "jobId" in r.json(), r.text
    return r.json()["jobId"]


def _wait(c: httpx.Client, task_url: str, job_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = c.get(f"{task_url}/jobs/{job_id}", params={"f": "json"}).json()
        if body.get("jobStatus") in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


MEMBERS = "/arcgis/rest/services/Sec/Members/GPServer"
OPEN = "/arcgis/rest/services/Sec/Open/GPServer"
HOST = "/arcgis/rest/services/Sec/Hostile/GPServer"


# -- the cookie, signing in and out -------------------------------------------------
def test_the_cookie_is_httponly_and_samesite_strict(srv):
    r = httpx.post(srv.url + "/arcgis/login", data={"username": "alice", "password": PASSWORDS["alice"]})
    cookie = r.headers["set-cookie"].lower()
    assert "agstoken=" in cookie and "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize("target", [
    "//evil.example", "/\\evil.example", "\\/evil.example", "https://evil.example", "http:/evil.example",
    "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", " //evil.example",
])
def test_login_never_redirects_off_the_server(srv, target):
    with httpx.Client(base_url=srv.url) as c:
        r = c.post("/arcgis/login", data={"username": "alice", "password": PASSWORDS["alice"], "next": target})
    assert r.status_code == 303
    location = r.headers["location"]
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")


def test_logout_is_post_only(srv):
    c = _login(srv, "alice")
    assert c.get("/arcgis/logout").status_code == 405
    assert c.get(f"{MEMBERS}?f=json").json().get("tasks"), "a GET must not have signed alice out"


def test_signing_out_revokes_the_token_on_every_server(srv):
    """Sign-out only deleted the cookie: the token itself worked for the rest of its hour (a copy
    of it in a proxy log, or on a shared machine).  Now it is revoked in the store, and every API
    server of a deployment (two behind the proxy in the scale-out pass) refuses it."""
    c = _login(srv, "bob")
    bearer = {"X-Esri-Authorization": f"Bearer {c.cookies['agstoken']}"}
    assert httpx.get(f"{srv.url}{MEMBERS}", params={"f": "json"}, headers=bearer).json().get("tasks")
    refused = c.post("/arcgis/logout", headers={**_same_site_headers(srv), "accept": "text/html"})
    assert refused.status_code == 403 and "agstoken" in c.cookies       # not from another page
    assert httpx.get(f"{srv.url}{MEMBERS}", params={"f": "json"}, headers=bearer).json().get("tasks")
    r = c.post("/arcgis/logout", headers={"origin": srv.url, "sec-fetch-site": "same-origin"})
    assert r.status_code == 303 and "agstoken" not in c.cookies
    deadline, refusals = time.monotonic() + 5, 0
    while refusals < 2 * srv.servers:        # in a row: each server in turn (the proxy round-robins)
        answer = httpx.get(f"{srv.url}{MEMBERS}", params={"f": "json"}, headers=bearer).json()
        refusals = refusals + 1 if answer.get("error", {}).get("code") == 498 else 0
        assert time.monotonic() < deadline, f"the token still works after signing out: {answer}"
        time.sleep(0.05)


def test_signing_in_after_a_stale_token_in_the_url_does_not_loop(srv):
    with httpx.Client(base_url=srv.url) as c:
        r = c.get(f"{OPEN}?f=html&token=stale", follow_redirects=False)
        assert r.status_code == 303
        target = unquote(r.headers["location"].split("next=", 1)[1])
        r = c.post("/arcgis/login", data={"username": "alice", "password": PASSWORDS["alice"], "next": target})
        r = c.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 200, f"sent back to {r.headers.get('location')}"


# -- who sees what --------------------------------------------------------------------
def test_someone_elses_job_page_events_and_results_do_not_exist(as_):
    job = _submit(as_["alice"], f"{MEMBERS}/Sleep", seconds="0.1")
    _wait(as_["alice"], f"{MEMBERS}/Sleep", job)
    for suffix in ("?f=html", "/events?once=true", "/events", "/results?f=json", "/inputs?f=json"):
        for url in (f"{MEMBERS}/Sleep/jobs/{job}", f"{MEMBERS}/jobs/{job}"):
            r = as_["bob"].get(url + suffix)
            refused = r.status_code == 404 if suffix == "?f=html" else r.json()["error"]["code"] == 404
            assert refused, (suffix, r.status_code, r.text[:200])
        r = as_["anon"].get(f"{MEMBERS}/Sleep/jobs/{job}{suffix}", follow_redirects=False)
        assert r.status_code == 303 or r.json()["error"]["code"] == 499
    assert as_["root"].get(f"{MEMBERS}/Sleep/jobs/{job}/events?once=true").json()["terminal"] is True


def test_the_event_stream_of_a_finished_job_ends(as_):
    job = _submit(as_["alice"], f"{MEMBERS}/Sleep", seconds="0.1")
    _wait(as_["alice"], f"{MEMBERS}/Sleep", job)
    with as_["alice"].stream("GET", f"{MEMBERS}/Sleep/jobs/{job}/events", timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = b"".join(r.iter_bytes())         # returns only because the server closed the stream
    events = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]
    assert events[-1]["terminal"] is True


def test_the_console_and_admin_api_are_for_administrators_and_publishers(as_):
    r = as_["anon"].get("/arcgis/admin/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/arcgis/login?")
    assert as_["alice"].get("/arcgis/admin/console").status_code == 403
    for path in ("/arcgis/admin?f=json", "/arcgis/admin/services?f=json", "/arcgis/admin/jobs?f=json",
                 "/arcgis/admin/services/Sec/Open.GPServer/jobs?f=json"):
        assert as_["alice"].get(path).json()["code"] == 403, path
        assert as_["anon"].get(path).json()["code"] == 499, path
    r = as_["alice"].post("/arcgis/admin/services/createService", data={"f": "json", "service": json.dumps(
        {"serviceName": "Mine", "type": "GPServer", "properties": {"toolbox": str(TOOLBOXES / "testing.py")}})})
    assert r.json()["code"] == 403


def test_a_publisher_cannot_touch_another_publishers_service_or_admin_jobs(as_):
    r = as_["pub1"].post("/arcgis/admin/services/createService", data={"f": "json", "service": json.dumps(
        {"serviceName": "P1", "type": "GPServer", "properties": {"toolbox": str(TOOLBOXES / "testing.py")}})})
    assert r.json()["status"] == "success", r.text
    for op in ("edit", "stop", "start", "delete"):
        r = as_["pub2"].post(f"/arcgis/admin/services/P1.GPServer/{op}",
                             data={"f": "json", "service": json.dumps({"description": "mine now"})})
        assert r.json()["code"] == 403, (op, r.text)
    for path in ("jobs?f=json", "jobs/purgeQueue?f=json", "status?f=json", "?f=json"):
        assert as_["pub2"].get(f"/arcgis/admin/services/P1.GPServer/{path}").json()["code"] == 403, path
    admin_job = as_["pub1"].get("/arcgis/admin/jobs?f=json").json()["jobs"][0]["jobid"]
    assert as_["pub2"].get(f"/arcgis/admin/jobs/{admin_job}?f=json").json()["code"] == 404
    assert as_["pub2"].post(f"/arcgis/admin/jobs/{admin_job}/cancel?f=json").json()["code"] == 404
    assert "P1" not in as_["pub2"].get("/arcgis/admin/console").text.replace("pub2", "")


def test_a_recreated_service_does_not_inherit_another_owners_jobs(as_):
    job = _submit(as_["alice"], "/arcgis/rest/services/Sec/Gone/GPServer/Fail",
                  message="alice's private message")
    _wait(as_["alice"], "/arcgis/rest/services/Sec/Gone/GPServer/Fail", job)
    assert as_["root"].post("/arcgis/admin/services/Sec/Gone.GPServer/delete", data={"f": "json"}).json()[
        "status"] == "success"
    r = as_["pub1"].post("/arcgis/admin/services/Sec/createService", data={"f": "json", "service": json.dumps(
        {"serviceName": "Gone", "folderName": "Sec", "type": "GPServer",
         "properties": {"toolbox": str(TOOLBOXES / "testing.py")}})})
    assert r.json()["status"] == "success", r.text
    listed = as_["pub1"].get("/arcgis/admin/services/Sec/Gone.GPServer/jobs/query?f=json&number=1000").json()
    record = as_["pub1"].get(f"/arcgis/admin/services/Sec/Gone.GPServer/jobs/{job}?f=json").text
    assert job not in listed.get("results", {}) and "alice's private message" not in record


# -- cross-site and same-site requests -----------------------------------------------
@pytest.mark.parametrize("action", ["delete", "cancel", "bulk-delete", "purgeQueue"])
def test_admin_job_actions_refuse_get(as_, action):
    job = _submit(as_["anon"], f"{OPEN}/Sleep", seconds="2")
    base = "/arcgis/admin/services/Sec/Open.GPServer/jobs"
    url = {"delete": f"{base}/{job}/delete", "cancel": f"{base}/{job}/cancel",
           "bulk-delete": f"{base}/delete", "purgeQueue": f"{base}/purgeQueue"}[action]
    r = as_["root"].get(url, params={"f": "json", "jobIds": job})
    assert r.json().get("status") == "error", r.text
    assert as_["anon"].get(f"{OPEN}/Sleep/jobs/{job}", params={"f": "json"}).json().get("jobStatus") != "esriJobCancelled"


def _same_site_headers(srv: Server) -> dict[str, str]:
    """What Chromium sends with a form posted from another port of the same host (same site,
    other origin): the SameSite=Strict cookie goes along."""
    return {"origin": "http://127.0.0.1:1", "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate",
            "referer": "http://127.0.0.1:1/attack.html"}


def test_a_same_site_origin_cannot_create_a_service_with_the_cookie(srv, as_):
    r = as_["root"].post("/arcgis/admin/services/createService", headers=_same_site_headers(srv), data={
        "f": "json", "service": json.dumps({"serviceName": "Planted", "type": "GPServer",
                                            "properties": {"toolbox": str(TOOLBOXES / "testing.py")}})})
    created = r.json().get("status") == "success"
    if created:
        as_["root"].post("/arcgis/admin/services/Planted.GPServer/delete", data={"f": "json"})
    assert not created, "a page on another port of this host created a service with the admin's cookie"


def test_a_same_site_origin_cannot_submit_or_cancel_with_the_cookie(srv, as_):
    job = _submit(as_["alice"], f"{MEMBERS}/Sleep", seconds="3")
    r = as_["alice"].post(f"{MEMBERS}/Sleep/jobs/{job}/cancel", headers=_same_site_headers(srv), data={"f": "json"})
    assert r.json().get("jobStatus") not in ("esriJobCancelling", "esriJobCancelled"), r.text


def _from_another_port() -> dict[str, str]:
    """What Chromium sends with an image, a link or a GET form from another port of this host:
    the SameSite=Strict cookie goes along (same site), and a GET carries no Origin."""
    return {"sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image",
            "referer": "http://127.0.0.1:1/attack.html"}


def _my_jobs(c: httpx.Client, service: str) -> int:
    return c.get(f"/arcgis/admin/services/Sec/{service}.GPServer/jobs/query", params={"f": "json"}).json()["total"]


@pytest.mark.parametrize("f", ["json", "html"])
def test_a_same_site_page_cannot_submit_by_get_with_the_cookie(srv, as_, f):
    """submitJob and execute take GET (as ArcGIS does); the cookie's origin check ran only for
    other methods, so an image tag on another port could submit as the signed-in user (with
    f=html the submit even redirected to the new job)."""
    before = _my_jobs(as_["root"], "Members")
    r = as_["alice"].get(f"{MEMBERS}/Sleep/submitJob", params={"f": f, "seconds": "0.1"},
                         headers=_from_another_port(), follow_redirects=False)
    assert r.status_code != 303 and "jobId" not in r.text, r.text[:300]
    assert r.status_code == 403 if f == "html" else r.json()["error"]["code"] == 403
    r = as_["alice"].get("/arcgis/rest/services/Sec/Now/GPServer/Add/execute", params={"f": "json", "a": "1"},
                         headers=_from_another_port())
    assert r.json()["error"]["code"] == 403, r.text
    assert _my_jobs(as_["root"], "Members") == before and _my_jobs(as_["root"], "Now") == 0


def test_a_same_site_page_cannot_cancel_by_get_with_the_cookie(as_):
    job = _submit(as_["alice"], f"{MEMBERS}/Sleep", seconds="3")
    r = as_["alice"].get(f"{MEMBERS}/Sleep/jobs/{job}/cancel", params={"f": "json"}, headers=_from_another_port())
    assert r.json()["error"]["code"] == 403, r.text
    status = as_["alice"].get(f"{MEMBERS}/Sleep/jobs/{job}", params={"f": "json"}).json()["jobStatus"]
    assert status not in ("esriJobCancelling", "esriJobCancelled")


@pytest.mark.parametrize("headers", [
    {"sec-fetch-site": "none", "sec-fetch-mode": "navigate"},      # a link opened from a mail or a chat
    {"referer": "http://127.0.0.1:1/attack.html"},                  # a browser without Sec-Fetch-*
    {},                                                              # ... that sends no Referer either
], ids=["link-from-outside", "old-browser-foreign-referer", "old-browser-no-referer"])
def test_a_get_change_with_the_cookie_needs_a_sign_of_this_origin(as_, headers):
    """``Sec-Fetch-Site: none`` was accepted, so one click on a link in a mail submitted a job as
    the signed-in user; a browser without fetch metadata sends no Origin on a GET, so nothing
    was checked at all."""
    r = as_["alice"].get(f"{MEMBERS}/Sleep/submitJob", params={"f": "json", "seconds": "0.1"}, headers=headers)
    assert r.json().get("error", {}).get("code") == 403, r.text


def test_gets_that_change_things_still_work_from_this_origin_and_with_a_token(srv, as_):
    """The pages' own requests and ArcGIS clients sending their token in the query string are
    not refused."""
    for headers in ({"sec-fetch-site": "same-origin"}, {"referer": f"{srv.url}/arcgis/rest/services"}):
        r = as_["alice"].get(f"{MEMBERS}/Sleep/submitJob", params={"f": "json", "seconds": "0.1"}, headers=headers)
        assert "jobId" in r.json(), r.text
    token = httpx.post(f"{srv.url}/arcgis/tokens/generateToken", data={
        "username": "alice", "password": PASSWORDS["alice"], "client": "requestip", "f": "json"}).json()["token"]
    r = httpx.get(f"{srv.url}{MEMBERS}/Sleep/submitJob", params={"f": "json", "seconds": "0.1", "token": token},
                  headers=_from_another_port())
    job = r.json()["jobId"]
    r = httpx.get(f"{srv.url}{MEMBERS}/Sleep/jobs/{job}/cancel", params={"f": "json", "token": token})
    assert r.json()["jobStatus"] in ("esriJobCancelling", "esriJobCancelled", "esriJobSucceeded")


def test_pages_may_not_be_framed(srv, as_):
    job = _submit(as_["alice"], f"{MEMBERS}/Sleep", seconds="0.1")
    pages = [as_["alice"].get(f"{MEMBERS}/Sleep/jobs/{job}?f=html"), as_["alice"].get(f"{MEMBERS}/Sleep?f=html"),
             as_["anon"].get("/arcgis/login"), as_["alice"].get(f"{MEMBERS}/Nope?f=html"),
             as_["root"].get("/arcgis/admin/console"), as_["anon"].get("/ogcapi/processes?f=html"),
             as_["anon"].get(f"/ogcapi/jobs/{_submit(as_['anon'], f'{OPEN}/Sleep', seconds='0.1')}?f=html")]
    # (the last: a job's status page, which the OGC fast path answers)
    for r in pages:
        assert r.headers["content-type"].startswith("text/html"), r.request.url
        assert r.headers.get("x-frame-options") == "DENY", r.request.url
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), r.request.url


def test_the_pages_own_forms_still_work_from_the_same_origin(srv, as_):
    same = {"origin": srv.url, "sec-fetch-site": "same-origin"}
    job = _submit(as_["alice"], f"{MEMBERS}/Sleep", seconds="3")
    r = as_["alice"].post(f"{MEMBERS}/Sleep/jobs/{job}/cancel", headers=same, data={"f": "json"})
    assert r.json()["jobStatus"] in ("esriJobCancelling", "esriJobCancelled"), r.text


# -- output that could script the page ---------------------------------------------------
def test_user_text_is_escaped_on_every_page(as_):
    job = _submit(as_["anon"], f"{HOST}/Say", text=XSS)
    _wait(as_["anon"], f"{HOST}/Say", job)
    pages = [
        as_["anon"].get(f"{HOST}/Say/jobs/{job}?f=html"),
        as_["anon"].post(f"{HOST}/PassFile/submitJob?f=html", data={"f": "html", "data": XSS}),
        as_["anon"].post("/arcgis/login", data={"username": XSS, "password": "x", "next": XSS}),
        as_["anon"].get(f"{HOST}/{XSS}?f=html"),
        as_["root"].get("/arcgis/admin/console", params={"service": XSS, "userName": XSS, "startTime": XSS}),
        as_["root"].get("/arcgis/admin/console", params={"service": "Sec/Hostile", "userName": XSS}),
        as_["root"].get(f"/arcgis/admin/services/Sec/Hostile.GPServer/jobs/{job}?f=html"),
    ]
    for r in pages:
        assert not any(raw in r.text for raw in RAW), (r.request.url, r.text[:300])


def test_a_job_page_never_links_a_script_url(as_):
    """File inputs take only http(s) URLs; and a tool that returns another scheme gets no link."""
    refused = as_["anon"].post(f"{HOST}/PassFile/submitJob", data={
        "f": "json", "data": json.dumps({"url": "javascript:alert(document.domain)"})}).json()
    assert refused["error"]["code"] == 400 and "http" in " ".join(refused["error"]["details"])
    job = _submit(as_["anon"], f"{HOST}/ScriptLink")
    assert _wait(as_["anon"], f"{HOST}/ScriptLink", job)["jobStatus"] == "esriJobSucceeded"
    page = as_["root"].get(f"{HOST}/ScriptLink/jobs/{job}?f=html").text
    assert "javascript:" in page                      # shown as text...
    assert 'href="javascript:' not in page.lower()    # ...never as a link


def test_html_a_tool_wrote_is_not_served_as_a_page_of_this_origin(as_):
    job = _submit(as_["anon"], f"{HOST}/HtmlReport", title="<script>alert(document.domain)</script>")
    body = _wait(as_["anon"], f"{HOST}/HtmlReport", job)
    assert body["jobStatus"] == "esriJobSucceeded", body
    url = as_["anon"].get(f"{HOST}/HtmlReport/jobs/{job}/results/result?f=json").json()["value"]["url"]
    r = as_["root"].get(urlsplit(url).path)
    assert r.status_code == 200
    inert = (not r.headers["content-type"].startswith(("text/html", "image/svg", "application/xhtml"))
             or r.headers.get("content-disposition", "").startswith("attachment")
             or "sandbox" in r.headers.get("content-security-policy", ""))
    assert inert, dict(r.headers)


# -- uploads ------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["upload", "form"])
def test_a_long_upload_name_is_not_a_500(srv, where):
    name = "\U0001D400" * 120 + ".txt"          # 120 word characters, 480 bytes of UTF-8
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        if where == "upload":
            r = c.post(f"{OPEN}/uploads/upload", data={"f": "json"}, files={"file": (name, b"x")})
        else:
            r = c.post(f"{OPEN}/ReadFile/submitJob?f=html", data={"f": "html"}, files={"data__file": (name, b"x")})
    if where == "form" and r.status_code == 303:      # accepted: on to the job page
        return
    assert r.status_code < 500 and r.headers["content-type"].startswith(("text/html", "application/json"))
    if r.headers["content-type"].startswith("application/json"):
        assert r.json().get("error", {}).get("code") != 500, r.text


def test_upload_item_ids_cannot_name_paths(as_):
    for item in ("../uploads", "i" + "0" * 31 + "/", "i" + "0" * 32 + "/../../x", "I" + "0" * 32):
        r = as_["anon"].post(f"{OPEN}/ReadFile/submitJob", data={"f": "json", "data": json.dumps({"itemID": item})})
        assert r.json()["error"]["code"] == 400, item


def test_a_chunked_multipart_body_is_limited_like_a_declared_one(srv):
    size = 12 * 1024 * 1024           # over the 10 MB max_request_bytes

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="blob"; filename="a.bin"\r\n\r\n'
        for _ in range(size // (1 << 20)):
            yield b"A" * (1 << 20)
        yield b"\r\n--b--\r\n"

    try:
        r = httpx.post(srv.url + f"{MEMBERS}/Sleep/submitJob", content=body(), timeout=60,
                       headers={"content-type": "multipart/form-data; boundary=b"})
    except httpx.HTTPError:
        return                        # the server hung up: refused, as it should
    assert r.status_code == 413 or (r.status_code == 200 and r.json()["error"]["code"] == 413), r.text
