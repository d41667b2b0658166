"""schemathesis against every OpenAPI document the server publishes: the ArcGIS REST face's
(``/openapi.json``) and OGC API - Processes' (``/ogcapi/api``), as an anonymous caller and as an
administrator.  Gate: no 5xx, no dropped connection, every error in its face's format, and
(OGC) every status and body as the document declares.

Bounded to fit CI: ``OPENGP_FUZZ_EXAMPLES`` examples per operation (default 12), generated
deterministically; ``OPENGP_FUZZ_EXAMPLES=200`` for a longer hunt.
"""
from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.generation import GenerationMode

from conftest import TOOLBOXES, Server, add_user

EXAMPLES = int(os.environ.get("OPENGP_FUZZ_EXAMPLES", "12"))
PASSWORD = "fuzz admin password"


CONFIG = """
[server]
workers = 2
allow_private_urls = false

[[services]]
folder = "Fuzz"
name = "Async"
toolbox = "{toolbox}"
max_usage_time = 10
public = true

[[services]]
folder = "Fuzz"
name = "Sync"
toolbox = "{toolbox}"
execution_type = "synchronous"
max_usage_time = 10
public = true
"""
# the demo's own GP tools (Slow sleeps, BufferFeatures buffers...) would spend the time budget
# running jobs: its feature service and product service are fuzzed, its GP tools are not
SKIPPED = ("/arcgis/rest/services/Demo/Tools/", "/arcgis/rest/services/Demo/ToolsSync/")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("fuzz-openapi"), workers=2)
    srv.config.write_text(CONFIG.format(toolbox=TOOLBOXES / "fuzzing.py"))
    add_user(srv.data_dir, "root", "administrator", PASSWORD)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def token(server) -> str:
    """The administrator's, taken before any fuzzing (the fuzzed generateToken gets this address
    throttled)."""
    return requests.post(f"{server.url}/arcgis/tokens/generateToken", data={
        "username": "root", "password": PASSWORD, "client": "requestip", "f": "json"}, timeout=30).json()["token"]


def _content_type(response) -> str:
    return (response.headers.get("content-type") or [""])[0]       # schemathesis keeps each header's values


def arcgis_error(ctx, response, case) -> None:
    """An ArcGIS error body is well formed, and never says 500."""
    if not _content_type(response).startswith("application/json"):
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"not JSON: {response.text[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if error is None:
        return
    assert isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(error.get("message"), str), body
    # a synchronous tool that failed is code 500 "Error executing tool.", as ArcGIS answers it: the
    # tool's failure, not the server's
    assert error["code"] != 500 or error["message"] == "Error executing tool.", f"a server error: {body}"


def ogc_problem(ctx, response, case) -> None:
    """Every OGC error is a problem body whose status is the HTTP status."""
    if response.status_code < 400:
        return
    assert _content_type(response).startswith("application/problem+json"), response.headers
    body = response.json()
    assert body.get("status") == response.status_code and body.get("type", "").startswith("http"), body


def _fuzz(schema, checks, headers: dict[str, str], subtests) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(SKIPPED):
            continue
        strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                             operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case) -> None:
            try:
                response = case.call(headers=headers, timeout=60)
            except requests.RequestException as exc:        # reset, dropped, cut short
                raise AssertionError(f"{case.method} {case.formatted_path}: {type(exc).__name__}: {exc}\n"
                                     f"{case.as_curl_command()}") from exc
            case.validate_response(response, checks=checks)

        with subtests.test(msg=operation.label):
            run()


def _schema(server: Server, path: str, base: str = ""):
    """The document at ``path``; its paths are under ``base`` (its ``servers`` URL, on our port)."""
    config = schemathesis.Config.from_dict({"base-url": server.url + base, "request-timeout": 60,
                                            "generation": {"allow-x00": True}})
    return schemathesis.openapi.from_url(f"{server.url}{path}", config=config, timeout=30)


@pytest.mark.parametrize("who", ["anonymous", "administrator"])
def test_the_arcgis_face_as_its_openapi_document_describes_it(server, token, who, subtests):
    schema = _schema(server, "/openapi.json")
    headers = {"X-Esri-Authorization": f"Bearer {token}"} if who == "administrator" else {}
    _fuzz(schema, [not_a_server_error, arcgis_error, status_code_conformance], headers, subtests)


@pytest.mark.parametrize("who", ["anonymous", "administrator"])
def test_ogc_api_processes_as_its_openapi_document_describes_it(server, token, who, subtests):
    schema = _schema(server, "/ogcapi/api", "/ogcapi")
    headers = {"Authorization": f"Bearer {token}"} if who == "administrator" else {}
    _fuzz(schema, [not_a_server_error, ogc_problem, status_code_conformance, response_schema_conformance],
          headers, subtests)
