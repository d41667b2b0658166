"""The GP face's parameter parsing, fuzzed with hypothesis: every GP type, fed malformed JSON,
huge and deeply nested values, NUL and invalid UTF-8, and values of the wrong type.

Each answer must be what an ArcGIS client can handle: HTTP 200 with a job id, or with an ArcGIS
error body of code 400 (or 413 for a body over the limit), never a 500, and the keep-alive
connection must stay up (every example is sent on one ``http.client`` connection, which does not
reconnect quietly: a server that dropped it fails the next example).

``OPENGP_FUZZ_EXAMPLES`` (default 60 per test) sets how many examples hypothesis tries.
"""
from __future__ import annotations

import http.client
import json
import os
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TOOLBOXES, Server

FUZZ = settings(max_examples=int(os.environ.get("OPENGP_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
CONFIG = """
[server]
workers = 2

[[services]]
name = "Fuzz"
toolbox = "{toolbox}"
max_usage_time = 10
public = true
"""
TASK = "/arcgis/rest/services/Fuzz/GPServer/AllTypes"
# every GP type, one parameter each (tests/toolboxes/fuzzing.py AllTypes)
PARAMS = ["text", "whole", "real", "flag", "when", "names", "numbers", "distance", "area", "file", "raster",
          "features", "table"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fuzz-gp"), demo=False)
    srv.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "fuzzing.py"))
    from conftest import add_user

    add_user(srv.data_dir, "root", "administrator", "root password")      # a server needs an administrator
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def conn(server):
    """One keep-alive connection for every example of a test module."""
    parts = urlsplit(server.url)
    c = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    yield c
    c.close()


def post(conn: http.client.HTTPConnection, body: bytes) -> dict:
    conn.request("POST", TASK + "/submitJob", body=body,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200, (r.status, data[:300])
    assert r.getheader("connection", "").lower() != "close", "the server closed the connection"
    answer = json.loads(data)
    assert "jobId" in answer or answer["error"]["code"] in (400, 413), answer
    assert "Traceback" not in data.decode("utf-8", "replace")
    return answer


def form(**fields: str | bytes) -> bytes:
    """A form body; a bytes value goes in as it is (invalid UTF-8 stays invalid)."""
    parts = []
    for name, value in fields.items():
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        parts.append(quote(name).encode() + b"=" + quote(raw, safe="").encode())
    return b"&".join(parts)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                           max_leaves=20)
malformed = st.one_of(
    st.text(max_size=200),                                                   # anything at all
    st.text(max_size=100).map(lambda t: "{" + t), st.text(max_size=100).map(lambda t: "[" + t),
    json_values.map(json.dumps),                                             # JSON of the wrong type
    st.sampled_from(['{"features": 5}', '{"features": [1, 2]}', '{"features": [{"geometry": {"x": "a"}}]}',
                     '{"distance": "far", "units": 3}', '{"area": 1e999}', '{"url": 123}', '{"url": "file:///etc/passwd"}',
                     '{"itemID": "../../etc"}', '{"rows": "x"}', '[1, "two", null]', "NaN", "-Infinity", "1e400",
                     '{"x": 1, "y": 2, "spatialReference": {"wkid": -1}}', "\u0000", "\ud7ff\ue000"]),
    st.integers(min_value=1, max_value=200_000).map(lambda n: "[" * n + "]" * n),        # deeply nested
    st.integers(min_value=1, max_value=200_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(min_value=1, max_value=3_000_000).map(lambda n: "x" * n),                # huge
    st.text(st.characters(codec="utf-8"), max_size=50).map(lambda t: t + "\x00" + t),    # NUL inside
)
invalid_utf8 = st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"caf\xe9",
                                b'{"features": [\xff]}'])


@FUZZ
@given(name=st.sampled_from(PARAMS), value=malformed)
def test_junk_in_any_parameter_is_refused_or_taken_never_a_failure(conn, name, value):
    post(conn, form(f="json", **{name: value}))


@FUZZ
@given(name=st.sampled_from(PARAMS), value=invalid_utf8)
def test_invalid_utf8_is_a_clear_error(conn, name, value):
    answer = post(conn, form(f="json", **{name: value}))
    assert answer["error"]["code"] == 400, answer


@FUZZ
@given(values=st.dictionaries(st.sampled_from(PARAMS), malformed, min_size=2, max_size=len(PARAMS)))
def test_junk_in_many_parameters_at_once(conn, values):
    post(conn, form(f="json", **values))


def test_a_body_over_the_limit_is_413_and_the_connection_stays(conn):
    answer = post(conn, form(f="json", text="x" * (11 * 1024 * 1024)))
    assert answer["error"]["code"] == 413
    assert "jobId" in post(conn, form(f="json", text="fine"))
