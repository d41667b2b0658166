"""The admin console's webhook pages over HTTP (api/admin/console_webhooks.py): who may see
and use them, and that a refusal comes back as the page with its reason, never the API's
JSON.  The browser test (tests/browser/test_webhook_pages.py) drives them end to end.

This server keeps the private-address guard on (``allow_private_urls = false``), so the
guard's refusal can be seen on the page."""
from __future__ import annotations

import json
import re
from typing import Iterator

import httpx
import pytest

from conftest import TOOLBOXES, Server, add_user

PAGES = "/arcgis/admin/console/webhooks"
API = "/arcgis/admin/services/{}.GPServer/webhooks"
PASSWORDS = {"root": "root password", "alice": "alice password", "pat": "pat password"}
ROLES = {"root": "administrator", "alice": "user", "pat": "publisher"}
PUBLIC_URL = "http://93.184.216.34/hook"      # a global address: the guard lets it by without a DNS lookup


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("console-webhooks"), demo=False)
    config = server.config.read_text()
    assert "allow_private_urls = true" in config
    server.config.write_text(config.replace("allow_private_urls = true", "allow_private_urls = false"))
    for name, role in ROLES.items():
        add_user(server.data_dir, name, role, PASSWORDS[name])
    server.start()
    yield server
    server.stop()


def signed_in(server: Server, name: str | None) -> httpx.Client:
    """A client signed in through the login page (the cookie a browser keeps), or anonymous."""
    c = httpx.Client(base_url=server.url, timeout=30)
    if name:
        r = c.post("/arcgis/login", data={"username": name, "password": PASSWORDS[name], "next": "/arcgis/admin"})
        assert r.status_code == 303 and "agstoken" in c.cookies, r.text
    return c


@pytest.fixture(scope="module")
def as_(srv) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: signed_in(srv, name) for name in (*ROLES, None)}
    yield clients          # type: ignore[misc]
    for c in clients.values():
        c.close()


@pytest.fixture(scope="module")
def pats_service(as_) -> str:
    r = as_["pat"].post("/arcgis/admin/services/createService", data={"f": "json", "service": json.dumps({
        "serviceName": "PatHooks", "type": "GPServer",
        "properties": {"toolbox": str(TOOLBOXES / "testing.py"), "executionType": "esriExecutionTypeAsynchronous"}})})
    assert r.json()["status"] == "success", r.text
    return "PatHooks"


def hooks(as_: dict[str, httpx.Client], key: str) -> list[dict]:
    """The service's webhooks, as the admin API lists them (to root)."""
    return as_["root"].get(API.format(key), params={"f": "json"}).json()["webhooks"]


def alert(page: str) -> str:
    """The text of the page's alert (its error box)."""
    found = re.search(r'role="alert">(.*?)</div>', page, re.S)
    assert found, page
    return re.sub(r"<[^>]+>", " ", found.group(1)).replace("&#39;", "'")


def test_without_a_token_the_pages_ask_to_sign_in_and_come_back(as_):
    r = as_[None].get(PAGES, params={"service": "Test/Jobs"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/arcgis/login?next=%2Farcgis%2Fadmin%2Fconsole%2Fwebhooks%3Fservice%3DTest%252FJobs"
    # a form posted without a token comes back to the page it was on, not to its POST-only URL
    r = as_[None].post(f"{PAGES}/create", params={"service": "Test/Jobs"},
                       data={"name": "anon", "hookUrl": PUBLIC_URL}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/arcgis/login?next=%2Farcgis%2Fadmin%2Fconsole%2Fwebhooks%3Fservice%3DTest%252FJobs"
    assert hooks(as_, "Test/Jobs") == []


def test_a_user_gets_no_webhook_pages(as_):
    r = as_["alice"].get(PAGES, params={"service": "Test/Jobs"})
    assert r.status_code == 403 and "not authorized" in alert(r.text)
    r = as_["alice"].post(f"{PAGES}/create", params={"service": "Test/Jobs"}, data={"name": "a", "hookUrl": PUBLIC_URL})
    assert r.status_code == 403 and hooks(as_, "Test/Jobs") == []


def test_a_publisher_manages_the_webhooks_of_their_own_services_only(as_, pats_service):
    pat = as_["pat"]
    page = pat.get(PAGES)                         # their only service is the one shown
    assert page.status_code == 200 and f"<h1>Webhooks of {pats_service}</h1>" in page.text
    assert "Test/Jobs" not in page.text
    r = pat.post(f"{PAGES}/create", params={"service": pats_service},
                 data={"name": "mine", "hookUrl": PUBLIC_URL, "active": "true"}, follow_redirects=False)
    assert r.status_code == 303 and [h["name"] for h in hooks(as_, pats_service)] == ["mine"]
    assert "mine" in pat.get(r.headers["location"]).text
    r = pat.get(PAGES, params={"service": "Test/Jobs"})
    assert r.status_code == 403 and "Test/Jobs" not in pat.get(PAGES).text
    r = pat.post(f"{PAGES}/create", params={"service": "Test/Jobs"}, data={"name": "theirs", "hookUrl": PUBLIC_URL})
    assert r.status_code == 403 and hooks(as_, "Test/Jobs") == []
    mine = hooks(as_, pats_service)[0]["id"]
    # another service's webhook is not reached through a service one administers either way
    assert as_["root"].get(f"{PAGES}/{mine}", params={"service": "Test/Jobs"}).status_code == 404


def test_a_form_posted_from_another_site_is_refused(as_):
    r = as_["root"].post(f"{PAGES}/create", params={"service": "Test/Jobs"}, data={"name": "csrf", "hookUrl": PUBLIC_URL},
                         headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and "Cross-origin" in alert(r.text)
    assert hooks(as_, "Test/Jobs") == []


@pytest.mark.parametrize("form, reason", [
    ({"name": "local", "hookUrl": "http://127.0.0.1:8080/hook"}, "points at this machine or a private network"),
    ({"name": "", "hookUrl": PUBLIC_URL}, "'name' is required."),
    ({"name": "ftp", "hookUrl": "ftp://hooks.example.com/x"}, "'hookUrl' must be an http(s) URL."),
])
def test_a_refused_create_is_shown_on_the_page_with_what_was_typed(as_, form, reason):
    r = as_["root"].post(f"{PAGES}/create", params={"service": "Test/Jobs"},
                         data={**form, "signatureKey": "do-not-echo", "payloadFormat": "pjson", "active": "false"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "Invalid webhook." in alert(r.text) and reason in alert(r.text)
    assert f'value="{form["hookUrl"]}"' in r.text and '<option value="pjson" selected>' in r.text
    assert 'id="hook-active" name="active" type="checkbox" value="true">' in r.text       # left unticked
    assert "do-not-echo" not in r.text
    assert hooks(as_, "Test/Jobs") == []


def test_a_taken_name_and_a_synchronous_service_are_refused_on_their_pages(as_):
    root = as_["root"]
    r = root.post(f"{PAGES}/create", params={"service": "Test/Jobs"}, data={"name": "dup", "hookUrl": PUBLIC_URL},
                  follow_redirects=False)
    assert r.status_code == 303
    r = root.post(f"{PAGES}/create", params={"service": "Test/Jobs"}, data={"name": "dup", "hookUrl": PUBLIC_URL})
    assert r.status_code == 400 and "dup" in alert(r.text)
    hook = hooks(as_, "Test/Jobs")[0]["id"]
    r = root.post(f"{PAGES}/{hook}/edit", params={"service": "Test/Jobs"}, data={"hookUrl": "http://10.0.0.7/x"})
    assert r.status_code == 400 and "private network" in alert(r.text)
    assert f'action="{PAGES}/{hook}/edit' in r.text        # the webhook's own page, its edit form again
    assert hooks(as_, "Test/Jobs")[0]["hookUrl"] == PUBLIC_URL
    root.post(f"{PAGES}/{hook}/delete", params={"service": "Test/Jobs"})
    assert hooks(as_, "Test/Jobs") == []
    r = root.post(f"{PAGES}/create", params={"service": "Test/Sync"}, data={"name": "s", "hookUrl": PUBLIC_URL})
    assert r.status_code == 400 and "Only asynchronous services take webhooks" in alert(r.text)
