"""Tokens over HTTP: generateToken, the four ways to present one, refusals (498)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from opengp.store.sql import SqlStore

from conftest import Server, add_user
from .helpers import error_of, submit, wait

ECHO = "/Demo/Tools/GPServer/Echo"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("tokens"), extra_args=["--log-level", "info"])   # logins are INFO
    add_user(server.data_dir, "alice", "user", "correct horse")
    add_user(server.data_dir, "victim", "user", "right password")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(srv):
    with httpx.Client(base_url=srv.url + "/arcgis/rest/services", timeout=30) as c:
        yield c


def token_for(srv, username="alice", password="correct horse", **extra) -> dict:
    r = httpx.post(f"{srv.url}/arcgis/tokens/generateToken",
                   data={"username": username, "password": password, "f": "json", **extra})
    assert r.status_code == 200, r.text
    return r.json()


def owner_of(srv, job_id: str) -> str | None:
    store = SqlStore(srv.store_url, migrate=False)
    try:
        return store.get(job_id).owner
    finally:
        store.close()


def test_info_tells_clients_where_tokens_come_from(srv):
    auth = httpx.get(f"{srv.url}/arcgis/rest/info", params={"f": "json"}).json()["authInfo"]
    assert auth["isTokenBasedSecurity"] is True
    assert auth["tokenServicesUrl"] == f"{srv.url}/arcgis/tokens/generateToken"
    assert auth["shortLivedTokenValidity"] == 60


def test_generate_token_returns_token_and_expiry_in_ms(srv):
    body = token_for(srv, client="requestip")
    assert set(body) == {"token", "expires", "ssl"} and body["ssl"] is False
    assert body["expires"] / 1000 == pytest.approx(time.time() + 3600, abs=30)
    short = token_for(srv, client="requestip", expiration="5")
    assert short["expires"] / 1000 == pytest.approx(time.time() + 300, abs=30)
    capped = token_for(srv, client="requestip", expiration="999999")
    assert capped["expires"] / 1000 == pytest.approx(time.time() + 1440 * 60, abs=30)
    assert "correct horse" not in (srv.log.read_text())


def test_bad_credentials_get_one_message_whoever_is_asked(srv):
    wrong = token_for(srv, password="wrong password")
    nobody = token_for(srv, username="nobody", password="whatever")
    for body in (wrong, nobody):
        assert body["error"]["code"] == 400
        assert body["error"]["details"] == ["Invalid username or password."]


def test_a_password_over_get_is_refused(srv):
    r = httpx.get(f"{srv.url}/arcgis/tokens/generateToken",
                  params={"username": "alice", "password": "correct horse", "f": "json"})
    body = r.json()
    assert "token" not in body and body["error"]["code"] == 400
    assert "POST" in " ".join(body["error"]["details"])


@pytest.mark.parametrize("how", ["query", "form", "x-esri", "authorization", "cookie"])
def test_each_way_of_presenting_a_token_identifies_the_submitter(srv, http, how):
    token = token_for(srv, client="requestip")["token"]
    data, headers, cookies, params = {"f": "json", "text": how}, {}, {}, {}
    if how == "query":
        params["token"] = token
    elif how == "form":
        data["token"] = token
    elif how == "x-esri":
        headers["X-Esri-Authorization"] = f"Bearer {token}"
    elif how == "authorization":
        headers["Authorization"] = f"Bearer {token}"
    else:
        cookies["agstoken"] = token
    with httpx.Client(base_url=srv.url + "/arcgis/rest/services", cookies=cookies, timeout=30) as c:
        r = c.post(f"{ECHO}/submitJob", data=data, params=params, headers=headers)
        job_id = r.json()["jobId"]
    with httpx.Client(base_url=srv.url + "/arcgis/rest/services", timeout=30,
                      headers={"X-Esri-Authorization": f"Bearer {token}"}) as as_alice:
        assert wait(as_alice, ECHO, job_id)["jobStatus"] == "esriJobSucceeded"
    assert owner_of(srv, job_id) == "alice"
    hidden = http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json"})     # anonymous: not even there
    assert error_of(hidden)["code"] == 404
    anonymous = submit(http, ECHO, text="anon")
    assert owner_of(srv, anonymous) is None


def test_bad_tokens_are_refused_with_498_not_treated_as_anonymous(srv, http):
    good = token_for(srv, client="requestip")["token"]
    job_id = submit(http, ECHO, text="x")
    for bad in (good[:-3] + "abc", "garbage", good.split(".")[0] + ".x"):
        status = http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json", "token": bad})
        assert error_of(status) == {"code": 498, "message": "Invalid Token",
                                    "details": ["The token is invalid, expired or was revoked."]}
        posted = http.post(f"{ECHO}/submitJob", data={"f": "json", "text": "y", "token": bad})
        assert error_of(posted)["code"] == 498


def test_a_referer_bound_token_only_works_with_that_referer(srv, http):
    token = token_for(srv, client="referer", referer="http")["token"]      # what arcgis asks for
    job_id = submit(http, ECHO, text="r")
    ok = http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json"},
                  headers={"X-Esri-Authorization": f"Bearer {token}", "Referer": "http"})
    assert ok.json()["jobId"] == job_id
    other = http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json"},
                     headers={"X-Esri-Authorization": f"Bearer {token}", "Referer": "https://evil.example"})
    assert error_of(other)["code"] == 498


def test_a_password_change_revokes_tokens(srv, http):
    add_user(srv.data_dir, "carol", "user", "first password")
    token = token_for(srv, "carol", "first password", client="requestip")["token"]
    job_id = submit(http, ECHO, text="c")
    assert "jobId" in http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json", "token": token}).json()
    env = {**os.environ, **srv.env, "OPENGP_PASSWORD": "second password"}
    subprocess.run([sys.executable, "-m", "opengp", "users", "passwd", "carol", "--data-dir",
                    str(srv.data_dir)], env=env, check=True, capture_output=True, timeout=60)
    time.sleep(1.2)       # the server caches users for a second
    refused = http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json", "token": token})
    assert error_of(refused)["code"] == 498


def test_failed_logins_are_throttled_per_user(srv):
    # each API server process counts failures (docs/deployment.md, "The load balancer"): behind the
    # scale-out deployment's round-robin proxy, each of its servers sees every other guess
    for _ in range(5 * srv.servers):
        assert token_for(srv, "victim", "guess")["error"]["code"] == 400
    throttled = token_for(srv, "victim", "right password")
    assert throttled["error"]["code"] == 429
    assert "try again" in throttled["error"]["details"][0]
    assert "token" in token_for(srv, client="requestip")              # other users are not locked out


def _from(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def _login(c: httpx.Client, srv, username: str, password: str) -> dict:
    return c.post(f"{srv.url}/arcgis/tokens/generateToken",
                  data={"username": username, "password": password, "f": "json"}).json()


# the addresses the server sees must be the test's own: behind the scale-out proxy, all are the proxy's
@pytest.mark.local_only
def test_failed_logins_lock_a_name_only_where_they_came_from(srv):
    """Five wrong passwords from anywhere locked that name (``admin`` too) for everyone, for five
    minutes, as often as an attacker liked.  Now they lock it from the address they came from; the
    user signs in from anywhere else.  Many addresses guessing one name meet a looser ceiling."""
    add_user(srv.data_dir, "target", "user", "target password")
    with _from("127.0.0.2") as attacker, _from("127.0.0.3") as owner:
        for _ in range(5):
            assert _login(attacker, srv, "target", "guess")["error"]["code"] == 400
        assert _login(attacker, srv, "target", "target password")["error"]["code"] == 429
        assert "token" in _login(owner, srv, "target", "target password")
    from concurrent.futures import ThreadPoolExecutor

    def guesses(i: int) -> list[int]:        # 5 from each of 20 more addresses: 100 in all
        with _from(f"127.0.1.{i}") as c:
            return [_login(c, srv, "target", f"guess {j}")["error"]["code"] for j in range(5)]

    with ThreadPoolExecutor(8) as pool:
        assert sorted(set(code for codes in pool.map(guesses, range(1, 21)) for code in codes)) in ([400], [400, 429])
    with _from("127.0.0.3") as owner:
        locked = _login(owner, srv, "target", "target password")
    assert locked["error"]["code"] == 429, locked


def test_an_expired_token_is_refused(srv, http, monkeypatch):
    """Issued here with the server's own secret and users, an hour and a minute ago, for one minute."""
    from opengp.auth import TokenIssuer
    from opengp.auth import tokens as tokens_module
    from opengp.auth.secret import load_secret
    from opengp.store.users import SqlUserStore

    store = SqlStore(srv.store_url, migrate=False)
    try:
        issuer = TokenIssuer(load_secret(srv.env.get("OPENGP_SECRET_KEY"), srv.data_dir), SqlUserStore(store.engine))
        then = time.time() - 3660
        monkeypatch.setattr(tokens_module.time, "time", lambda: then)
        token, _ = issuer.issue(issuer.users.get("alice"), "", 1)
    finally:
        monkeypatch.undo()
        store.close()
    job_id = submit(http, ECHO, text="e")
    assert error_of(http.get(f"{ECHO}/jobs/{job_id}", params={"f": "json", "token": token}))["code"] == 498
    assert "refused a token from 127.0.0.1: expired" in srv.log.read_text()


def test_the_log_records_logins_without_secrets(srv):
    body = token_for(srv, client="requestip")
    token_for(srv, password="a wrong password")
    log = srv.log.read_text()
    assert "token issued to alice from 127.0.0.1" in log
    assert "failed login for user 'alice' from 127.0.0.1" in log
    for secret in ("correct horse", "a wrong password", body["token"], body["token"][-20:]):
        assert secret not in log


def test_the_demo_password_is_not_in_the_log(srv):
    password = (srv.data_dir / "demo-admin-password").read_text().strip()
    assert password not in srv.log.read_text()


def test_a_password_in_a_post_url_is_refused(srv):
    r = httpx.post(f"{srv.url}/arcgis/tokens/generateToken?username=alice&password=correct%20horse",
                   data={"f": "json", "client": "requestip"})
    assert "token" not in r.json() and r.json()["error"]["code"] == 400


def test_a_disguised_token_on_the_fast_path_is_still_checked(srv, http):
    job_id = submit(http, ECHO, text="d")
    r = http.get(f"{ECHO}/jobs/{job_id}?f=json&%74oken=garbage")
    assert error_of(r)["code"] == 498


def test_a_burst_of_guesses_is_throttled_like_a_sequence(srv):
    """Found in review: concurrent guesses all passed the throttle check before any failure counted."""
    from concurrent.futures import ThreadPoolExecutor

    add_user(srv.data_dir, "burst", "user", "burst password")
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda i: token_for(srv, "burst", f"guess {i}"), range(30)))
    codes = sorted(a["error"]["code"] for a in answers)
    # at most 5 failures counted per server process (one server locally, two behind the proxy)
    assert codes.count(400) <= 5 * srv.servers and codes.count(429) >= 30 - 5 * srv.servers
    assert token_for(srv, "burst", "burst password")["error"]["code"] == 429
