"""The sharing API's sign-in over plain HTTP, as an application (or the ``arcgis`` package,
tests/clients/test_arcgis_login.py) sees it: where the token service is, the OAuth sign-in page
and form, and who is signed in.  A token is only ever sent to a page of this server."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson
import pytest

from conftest import add_user
from .helpers import error_of

USER, USER_PASSWORD = "sharer", "sharer password 1"
ADMIN, ADMIN_PASSWORD = "sharing_admin", "sharing admin password 1"
SHARING = "/arcgis/sharing"


@pytest.fixture(scope="module")
def http(server) -> Any:
    add_user(server.data_dir, USER, "user", USER_PASSWORD)
    add_user(server.data_dir, ADMIN, "administrator", ADMIN_PASSWORD)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def oauth_info(page: str) -> dict[str, Any]:
    """The ``oAuthInfo`` of a sign-in page, found as the arcgis package finds it (the first line
    holding a ``{``)."""
    match = re.search(r"\{.*\}", page)
    assert match, page
    return orjson.loads(match.group(0))


def sign_in(http: httpx.Client, redirect: str, username: str = USER, password: str = USER_PASSWORD,
            **extra: str) -> httpx.Response:
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "client_id": "pythonapi", "response_type": "token", "redirect_uri": redirect, **extra})
    assert page.status_code == 200, page.text
    state = oauth_info(page.text)["oauth_state"]
    return http.post(f"{SHARING}/oauth2/signin", data={
        "oauth_state": state, "username": username, "password": password})


def fragment(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).fragment).items()}


def bearer(token: str) -> dict[str, str]:
    return {"X-Esri-Authorization": f"Bearer {token}"}


def test_info_names_the_sharing_token_service_which_gives_tokens(http: httpx.Client, server) -> None:
    info = http.get(f"{SHARING}/rest/info", params={"f": "json"}).json()
    assert info == {"authInfo": {"tokenServicesUrl": f"{server.url}{SHARING}/rest/generateToken",
                                 "isTokenBasedSecurity": True}}
    token = http.post(info["authInfo"]["tokenServicesUrl"], data={
        "username": USER, "password": USER_PASSWORD, "client": "requestip", "f": "json"}).json()["token"]
    members = http.get("/arcgis/rest/services/Test/Members/GPServer", params={"f": "json"}, headers=bearer(token))
    assert "tasks" in members.json(), members.text
    assert http.get(f"{SHARING}/rest", params={"f": "json"}).json() == {"currentVersion": "11.1"}


def test_signing_in_sends_the_token_to_the_application_page(http: httpx.Client, server) -> None:
    answer = sign_in(http, f"{server.url}/arcgis/app", state="s-123", expiration="30")
    assert answer.headers["location"].startswith(f"{server.url}/arcgis/app#")
    got = fragment(answer)
    assert (got["username"], got["state"], got["ssl"]) == (USER, "s-123", "false")
    assert 29 * 60 <= int(got["expires_in"]) <= 30 * 60
    # an ordinary token: it opens what its user may use ...
    members = http.get("/arcgis/rest/services/Test/Members/GPServer", params={"f": "json"},
                       headers=bearer(got["access_token"]))
    assert "tasks" in members.json(), members.text
    # ... and says who is signed in
    me = http.get(f"{SHARING}/rest/community/self", params={"f": "json"}, headers=bearer(got["access_token"])).json()
    assert (me["username"], me["role"], me["privileges"]) == (USER, "org_user", [])
    portal = http.get(f"{SHARING}/rest/portals/self", params={"f": "json"}, headers=bearer(got["access_token"])).json()
    assert portal["user"]["username"] == USER
    assert (portal["portalMode"], portal["allSSL"]) == ("singletenant", False)


def test_the_page_is_a_form_a_person_can_sign_in_with(http: httpx.Client, server) -> None:
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "client_id": "myapp", "response_type": "token", "redirect_uri": f"{server.url}/arcgis/rest/services"})
    assert page.headers["content-type"].startswith("text/html")
    assert 'action="/arcgis/sharing/oauth2/signin"' in page.text
    assert 'name="oauth_state"' in page.text and 'type="password"' in page.text
    assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("redirect", [
    "https://elsewhere.example/app", "//elsewhere.example/app", "javascript:alert(1)",
    "urn:ietf:wg:oauth:2.0:oob", "{server}/app#already", "",
])
def test_a_token_is_never_sent_to_another_site(http: httpx.Client, server, redirect: str) -> None:
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "client_id": "pythonapi", "response_type": "token", "redirect_uri": redirect.format(server=server.url)})
    assert page.status_code == 400
    assert "Invalid redirect_uri" in page.text          # what the arcgis package looks for
    assert "oauth_state" not in page.text


def test_another_port_of_this_host_is_another_site(http: httpx.Client, server) -> None:
    other = server.url.rsplit(":", 1)[0] + ":1"
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "client_id": "pythonapi", "response_type": "token", "redirect_uri": f"{other}/app"})
    assert page.status_code == 400 and "Invalid redirect_uri" in page.text


def test_a_changed_or_made_up_oauth_state_signs_no_one_in(http: httpx.Client, server) -> None:
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "client_id": "pythonapi", "response_type": "token", "redirect_uri": f"{server.url}/app"})
    payload, signature = oauth_info(page.text)["oauth_state"].split(".")
    for state in (f"{payload[:-2]}xx.{signature}", "made-up", ""):
        answer = http.post(f"{SHARING}/oauth2/signin", data={
            "oauth_state": state, "username": USER, "password": USER_PASSWORD})
        assert answer.status_code == 400, answer.text
        assert "location" not in answer.headers
        assert "Invalid or expired oauth_state" in answer.text


def test_only_the_implicit_grant_is_offered(http: httpx.Client, server) -> None:
    for response_type in ("code", ""):
        page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
            "client_id": "pythonapi", "response_type": response_type, "redirect_uri": f"{server.url}/app"})
        assert page.status_code == 400 and "Unsupported response_type" in page.text
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "response_type": "token", "redirect_uri": f"{server.url}/app"})
    assert page.status_code == 400 and "Invalid client_id" in page.text


def test_a_sign_in_posted_from_another_site_is_refused(http: httpx.Client, server) -> None:
    page = http.get(f"{SHARING}/rest/oauth2/authorize", params={
        "client_id": "pythonapi", "response_type": "token", "redirect_uri": f"{server.url}/app"})
    answer = http.post(f"{SHARING}/oauth2/signin", headers={"Origin": "https://elsewhere.example"}, data={
        "oauth_state": oauth_info(page.text)["oauth_state"], "username": USER, "password": USER_PASSWORD})
    assert answer.status_code == 200 and "location" not in answer.headers
    assert "Cross-origin request refused" in oauth_info(answer.text)["messages"][0]


def test_who_is_signed_in_needs_a_token(http: httpx.Client) -> None:
    assert error_of(http.get(f"{SHARING}/rest/community/self", params={"f": "json"}))["code"] == 499
    portal = http.get(f"{SHARING}/rest/portals/self", params={"f": "json"}).json()
    assert "user" not in portal and portal["isPortal"] is True


def test_users_see_themselves_and_administrators_see_everyone(http: httpx.Client, server) -> None:
    user = fragment(sign_in(http, f"{server.url}/app"))["access_token"]
    admin = fragment(sign_in(http, f"{server.url}/app", ADMIN, ADMIN_PASSWORD))["access_token"]
    mine = http.get(f"{SHARING}/rest/community/users/{USER}", params={"f": "json"}, headers=bearer(user)).json()
    assert mine["username"] == USER
    hidden = error_of(http.get(f"{SHARING}/rest/community/users/{ADMIN}", params={"f": "json"}, headers=bearer(user)))
    missing = error_of(http.get(f"{SHARING}/rest/community/users/nobody", params={"f": "json"}, headers=bearer(user)))
    assert hidden["code"] == missing["code"] == 404          # another's record is not even confirmed
    seen = http.get(f"{SHARING}/rest/community/users/{USER}", params={"f": "json"}, headers=bearer(admin)).json()
    assert (seen["username"], seen["role"]) == (USER, "org_user")
    me = http.get(f"{SHARING}/rest/community/self", params={"f": "json"}, headers=bearer(admin)).json()
    assert me["role"] == "org_admin"


@pytest.mark.parametrize("redirect", ["http://[::1", "http://127.0.0.1:port/app", "http://\u0000/app", "%ED%A0%80"])
def test_a_malformed_redirect_uri_is_refused_not_crashed_on(http: httpx.Client, redirect: str) -> None:
    query = "client_id=pythonapi&response_type=token&redirect_uri=" + quote(redirect, safe="%")
    page = http.get(f"{SHARING}/rest/oauth2/authorize?{query}")
    assert page.status_code == 400 and "Invalid redirect_uri" in page.text


def test_a_user_name_no_user_can_have_is_not_found(http: httpx.Client, server) -> None:
    admin = fragment(sign_in(http, f"{server.url}/app", ADMIN, ADMIN_PASSWORD))["access_token"]
    for name in ("a\u0000b", "x" * 1000, "é\u202e"):
        answer = http.get(f"{SHARING}/rest/community/users/{quote(name, safe='')}", params={"f": "json"},
                          headers=bearer(admin))
        assert error_of(answer)["code"] == 404
