"""Malformed requests to the token and job endpoints never produce a 500 or a stack trace."""
from __future__ import annotations

import os
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import Server

# OPENGP_FUZZ_EXAMPLES=2000 for a longer hunt
FUZZ = settings(max_examples=int(os.environ.get("OPENGP_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
junk = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)
field = st.one_of(st.none(), junk, st.sampled_from(["", "referer", "ip", "requestip", "-1", "1e400", "nan"]))


def assert_handled(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        assert not (isinstance(body, dict) and body.get("error", {}).get("code") == 500), body
    assert "Traceback" not in r.text


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    # a server of its own: the junk logins get this address throttled
    server = Server(tmp_path_factory.mktemp("fuzz")).start()
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
    server.stop()


@FUZZ
@given(username=field, password=field, client=field, referer=field, ip=field, expiration=field, f=field)
def test_generate_token_with_junk(http, username, password, client, referer, ip, expiration, f):
    form = {k: v for k, v in dict(username=username, password=password, client=client, referer=referer, ip=ip,
                                  expiration=expiration, f=f).items() if v is not None}
    assert_handled(http.post("/arcgis/tokens/generateToken", data=form))


@FUZZ
@given(job_id=junk, token=junk, tail=st.sampled_from(["", "/cancel", "/results", "/results/x", "/inputs/x"]),
       header=st.sampled_from(["token", "X-Esri-Authorization", "Authorization", "cookie"]))
@example(job_id="j\x00", token="", tail="", header="token")       # PostgreSQL text holds no NUL (CI found it)
@example(job_id="j\x00", token="", tail="/results/x", header="token")
def test_job_endpoints_with_junk_ids_and_tokens(http, job_id, token, tail, header):
    url = f"/arcgis/rest/services/Demo/Tools/GPServer/Echo/jobs/{quote(job_id, safe='') or 'x'}{tail}"
    params, headers = {"f": "json"}, {}
    printable = "".join(c for c in token if " " < c < "\x7f") or "x"      # what HTTP headers can carry
    if header == "token":
        params["token"] = token
    elif header == "cookie":
        headers["Cookie"] = f"agstoken={printable}"
    else:
        headers[header] = "Bearer " + printable
    assert_handled(http.get(url, params=params, headers=headers))
    assert_handled(http.post(url, data=params, headers=headers))
