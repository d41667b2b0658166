"""The OGC API - Processes 1.0 face (/ogcapi) over HTTP, against a real server.

Every JSON answer is validated against the official 1.0 schemas (OpenAPI 3.0
schema objects in YAML, with relative ``$ref``s between the files), read from
``tests/data/ogc-processes-1.0`` (a copy of the official files) or ``$OPENGP_OGC_SCHEMAS``.

Known bugs are pinned with ``xfail(strict=True)``: they fail today, and the
pin breaks (XPASS) the day the bug is mended, so the marker is removed then.
"""
from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, Server, add_user, free_port, require

import jsonschema  # noqa: E402  (test dependencies: pyproject's [test] extra)
import referencing  # noqa: E402
import yaml  # noqa: E402
from referencing.jsonschema import DRAFT4  # noqa: E402

SCHEMAS = Path(os.environ.get("OPENGP_OGC_SCHEMAS", Path(__file__).resolve().parents[1] / "data/ogc-processes-1.0"))
SCHEMA_BASE = "https://schemas.opengis.net/ogcapi/processes/part1/1.0/openapi/schemas/"

EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CONF = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
FINAL = {"successful", "failed", "dismissed"}

POINT = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "a"}, "geometry": {"type": "Point", "coordinates": [10, 50]}}]}


# -- the official schemas as a validator ---------------------------------------------------
# OpenAPI 3.0 schema objects are JSON Schema draft 4/5 (boolean exclusiveMinimum, single-string
# `type`) plus `nullable`.  Two adjustments, both narrow:
#  * `nullable: true` lets null through (OAS 3.0); without it null stays invalid.
#  * `oneOf` matching several branches is tolerated only for scalars: the 1.0 schemas offer
#    both `string` and base64 `string` (and both `number` and `integer`), so every plain string
#    or whole number is "valid under more than one" (a known 1.0 defect the CITE suite ignores).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _type(validator, types, instance, schema):
    if instance is None and schema.get("nullable") is True:
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


def _one_of(validator, branches, instance, schema):
    matched, errors = [], []
    for i, branch in enumerate(branches):
        found = list(validator.descend(instance, branch, schema_path=i))
        if found:
            errors.extend(found)
        else:
            matched.append(i)
    if not matched:
        yield jsonschema.ValidationError(f"{instance!r} is not valid under any of the given schemas",
                                         context=errors)
    elif len(matched) > 1 and not (isinstance(instance, (str, int, float)) and not isinstance(instance, bool)):
        yield jsonschema.ValidationError(f"{instance!r} is valid under each of branches {matched}")


OpenAPI30Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {"type": _type, "oneOf": _one_of})


@lru_cache(maxsize=None)
def _registry() -> referencing.Registry:
    require(SCHEMAS.is_dir(), f"the OGC API - Processes 1.0 schemas are not at {SCHEMAS}")
    return referencing.Registry().with_resources(
        (SCHEMA_BASE + path.name, DRAFT4.create_resource(yaml.safe_load(path.read_text())))
        for path in sorted(SCHEMAS.glob("*.yaml")))


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    checker.checks("date-time")(lambda v: not isinstance(v, str) or _RFC3339.fullmatch(v) is not None)
    return checker


def schema_errors(name: str, instance: Any) -> list[str]:
    validator = OpenAPI30Validator({"$ref": SCHEMA_BASE + name + ".yaml"}, registry=_registry(),
                                   format_checker=_format_checker())
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)]


def check(name: str, instance: Any) -> Any:
    """Assert ``instance`` is valid under the official ``<name>.yaml``; return it."""
    errors = schema_errors(name, instance)
    assert not errors, f"not a valid {name}: {errors}"
    return instance


def test_the_schema_validator_resolves_references_and_rejects_what_it_should():
    """The validator itself: refs across files resolve, and it is not vacuous."""
    status = {"jobID": "j1", "type": "process", "status": "running", "created": "2024-01-02T03:04:05Z"}
    assert not schema_errors("statusInfo", status)
    assert schema_errors("statusInfo", {**status, "finished": None})        # null is not nullable here
    assert schema_errors("statusInfo", {**status, "status": "paused"})      # statusCode.yaml, by $ref
    assert schema_errors("statusInfo", {**status, "created": "yesterday"})  # date-time is checked
    assert schema_errors("statusInfo", {**status, "progress": 101})
    assert not schema_errors("results", {"a": "text", "b": 3, "c": {"href": "http://x"},
                                         "d": {"value": {"k": 1}, "mediaType": "application/json"}})
    assert schema_errors("results", {"a": None})
    assert schema_errors("processList", {"processes": [{"id": "p"}], "links": []})   # no version
    assert schema_errors("process", {"id": "p", "version": "1", "inputs": {"x": {"title": "no schema"}}})
    assert schema_errors("process", {"id": "p", "version": "1", "inputs": {"x": {"schema": {"type": "date"}}}})
    assert schema_errors("exception", {"title": "no type"})


# -- helpers ----------------------------------------------------------------------------------
@pytest.fixture
def ogc(server: Server):
    with httpx.Client(base_url=server.url + "/ogcapi", timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def lister(server: Server):
    """An /ogcapi client with the demo administrator's token: it lists every job (an anonymous
    caller lists none)."""
    password = (server.data_dir / "demo-admin-password").read_text().strip()
    token = httpx.post(f"{server.url}/arcgis/tokens/generateToken", data={
        "username": "admin", "password": password, "client": "requestip", "f": "json"}).json()["token"]
    with httpx.Client(base_url=server.url + "/ogcapi", timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def media_type(r: httpx.Response) -> str:
    return r.headers.get("content-type", "").split(";")[0].strip()


def ok_json(r: httpx.Response, schema: str, status: int = 200) -> Any:
    assert r.status_code == status, f"HTTP {r.status_code}: {r.text}"
    assert media_type(r) == "application/json", r.headers
    return check(schema, r.json())


def problem(r: httpx.Response, status: int, kind: str | None = None) -> dict:
    """An RFC 7807 problem with this HTTP status (and, given ``kind``, this OGC exception type)."""
    assert r.status_code == status, f"HTTP {r.status_code}: {r.text}"
    assert media_type(r) in ("application/problem+json", "application/json"), r.headers
    body = check("exception", r.json())
    assert body["status"] == status and body["title"], body
    if kind is not None:
        assert body["type"] == EXC + kind, body
    return body


def link(doc: dict, rel: str) -> dict | None:
    return next((x for x in doc.get("links", []) if x.get("rel") == rel), None)


def execute(ogc: httpx.Client, pid: str, body: dict | None = None, **headers: str) -> httpx.Response:
    return ogc.post(f"/processes/{pid}/execution", json=body if body is not None else {},
                    headers={k.replace("_", "-"): v for k, v in headers.items()})


def submit(ogc: httpx.Client, pid: str, inputs: dict, **extra: Any) -> dict:
    """An asynchronous execution: 201, a Location to the job, and its statusInfo."""
    r = execute(ogc, pid, {"inputs": inputs, **extra}, Prefer="respond-async")
    info = ok_json(r, "statusInfo", 201)
    assert r.headers["preference-applied"] == "respond-async"
    assert info["status"] in ("accepted", "running") and info["type"] == "process"
    assert r.headers["location"] == f"{str(ogc.base_url).rstrip('/')}/jobs/{info['jobID']}"
    return info


def status(ogc: httpx.Client, job_id: str) -> dict:
    return ok_json(ogc.get(f"/jobs/{job_id}"), "statusInfo")


def wait(ogc: httpx.Client, job_id: str, until: set[str] = FINAL, timeout: float = 30) -> dict:
    """Poll the job (validating every statusInfo) until its status is in ``until``."""
    deadline = time.monotonic() + timeout
    while True:
        info = status(ogc, job_id)
        if info["status"] in until:
            return info
        assert time.monotonic() < deadline, f"job {job_id} stuck at {info}"
        time.sleep(0.03)


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def all_processes(ogc: httpx.Client, **kw: Any) -> list[dict]:
    return ok_json(ogc.get("/processes", params={"limit": 10000}, **kw), "processList")["processes"]


# -- landing page, conformance, API definition -------------------------------------------------
def test_landing_page_links_to_conformance_processes_and_jobs(ogc):
    base = str(ogc.base_url).rstrip("/")
    for url in (base, base + "/"):
        page = ok_json(ogc.get(url), "landingPage")
        assert link(page, "self")["href"] == base
        assert link(page, "service-desc") or link(page, "service-doc")
        expected = {REL + "conformance": ("/conformance", "confClasses"),
                    REL + "processes": ("/processes", "processList"),
                    REL + "job-list": ("/jobs", "jobList")}
        for rel, (path_, schema) in expected.items():
            target = link(page, rel)
            assert target is not None and target["href"] == base + path_, (rel, page["links"])
            ok_json(ogc.get(target["href"]), schema)


def test_the_api_definition_link_answers(ogc):
    """Every URL linked as the API definition MUST answer 200 (Core, /req/core/api-definition-success)."""
    target = link(ogc.get("").json(), "service-desc")
    assert target["type"] == "application/vnd.oai.openapi+json;version=3.0"      # what OWSLib follows
    r = ogc.get(target["href"])
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.0"), r.text
    assert r.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    from openapi_spec_validator import validate

    document = r.json()
    validate(document)                                  # a valid OpenAPI 3.0 document
    served = {"/", "/conformance", "/api", "/processes", "/processes/{processId}",
              "/processes/{processId}/execution", "/jobs", "/jobs/{jobId}", "/jobs/{jobId}/results"}
    assert served <= set(document["paths"])
    assert "delete" in document["paths"]["/jobs/{jobId}"]


def test_the_api_definition_declares_what_the_server_answers(ogc):
    """A dismissed job answers 410 on its status, results and dismissal; the job list takes
    offsets up to 2^31 - 1 and its filters: the document says so (schemathesis holds the server
    to it, tests/faults/test_fuzz_openapi.py)."""
    paths = ogc.get("/api").json()["paths"]
    for path, method in (("/jobs/{jobId}", "get"), ("/jobs/{jobId}", "delete"), ("/jobs/{jobId}/results", "get"),
                         ("/jobs/{jobId}/results/{outputId}", "get")):
        assert "410" in paths[path][method]["responses"], (path, method)
    params = {p["name"]: p for p in paths["/jobs"]["get"]["parameters"]}
    assert {"limit", "offset", "status", "processID", "type", "datetime", "minDuration", "maxDuration"} <= set(params)
    assert params["offset"]["schema"]["maximum"] == 2**31 - 1 and params["limit"]["schema"]["maximum"] == 10_000
    assert ogc.get("/jobs", params={"offset": 2**31 - 1}).status_code == 200
    problem(ogc.get("/jobs", params={"offset": 2**31}), 400)


def test_conformance_declares_core_description_json_and_dismiss(ogc):
    classes = ok_json(ogc.get("/conformance"), "confClasses")["conformsTo"]
    assert {CONF + c for c in ("core", "ogc-process-description", "json", "dismiss")} <= set(classes)
    assert all(c.startswith(CONF) for c in classes), classes


# -- process list and descriptions -------------------------------------------------------------
def test_the_process_list_pages_with_limit_and_next_links(ogc):
    everything = [p["id"] for p in all_processes(ogc)]
    assert len(everything) == len(set(everything)) > 20
    assert {"Demo.Tools.BufferFeatures", "Demo.ToolsSync.Echo", "Test.Jobs.Noop", "Retry.Noop"} <= set(everything)
    assert not [p for p in everything if p.startswith("Test.Members.")]     # anonymous may not use them

    one = ok_json(ogc.get("/processes", params={"limit": 1}), "processList")
    assert len(one["processes"]) == 1                                       # the CITE check
    assert len(ok_json(ogc.get("/processes"), "processList")["processes"]) == 10     # the default limit

    seen, url, pages = [], "/processes?limit=7", 0
    while url:
        page = ok_json(ogc.get(url), "processList")
        assert link(page, "self") and len(page["processes"]) <= 7
        assert (link(page, "prev") is not None) == (pages > 0)
        seen += [p["id"] for p in page["processes"]]
        url, pages = (link(page, "next") or {}).get("href"), pages + 1
    assert seen == everything and pages == -(-len(everything) // 7)


@pytest.mark.parametrize("limit", ["0", "-1", "10001", "ten"])
def test_a_bad_limit_is_a_400_problem(ogc, limit):
    problem(ogc.get("/processes", params={"limit": limit}), 400)


def test_every_process_description_is_valid_and_matches_its_summary(ogc):
    for summary in all_processes(ogc):
        assert link(summary, "self")["href"].endswith(f"/ogcapi/processes/{summary['id']}")
        described = ok_json(ogc.get(link(summary, "self")["href"]), "process")
        assert {k: described[k] for k in ("id", "version", "jobControlOptions")} == {
            k: summary[k] for k in ("id", "version", "jobControlOptions")}
        assert isinstance(described["inputs"], dict) and isinstance(described["outputs"], dict)
        assert described["outputs"], summary["id"]
        execution = link(described, REL + "execute")
        assert execution["href"].endswith(f"/ogcapi/processes/{summary['id']}/execution")
        assert summary["jobControlOptions"] == ["sync-execute", "async-execute", "dismiss"], summary


def test_a_description_maps_gp_parameters_to_json_schema(ogc):
    buffer = ok_json(ogc.get("/processes/Demo.Tools.BufferFeatures"), "process")
    assert buffer["title"] == "Buffer Features"
    features = buffer["inputs"]["input_features"]
    assert features["minOccurs"] == 1 and features["maxOccurs"] == 1
    assert features["schema"]["format"] == "geojson-feature-collection"
    assert buffer["inputs"]["distance"]["minOccurs"] == 0
    assert buffer["inputs"]["distance"]["schema"]["default"] == {"distance": 100, "units": "esriMeters"}
    assert buffer["inputs"]["dissolve"]["schema"] == {"type": "boolean", "default": False}
    assert buffer["outputs"]["result"]["schema"]["contentMediaType"] == "application/geo+json"

    echo = ok_json(ogc.get("/processes/Demo.ToolsSync.Echo"), "process")
    assert {k: v["schema"]["type"] for k, v in echo["inputs"].items()} == {
        "text": "string", "number": "number", "count": "integer", "flag": "boolean", "when": "string",
        "tags": "array"}
    assert echo["inputs"]["when"]["schema"]["format"] == "date-time"
    assert ok_json(ogc.get("/processes/Test.Jobs.Choose"), "process")["inputs"]["color"]["schema"][
        "enum"] == ["red", "green"]
    written = ok_json(ogc.get("/processes/Test.Jobs.WriteFile"), "process")["outputs"]["result"]["schema"]
    assert written["type"] == "string" and written["contentEncoding"] == "binary"


@pytest.mark.parametrize("pid", ["Nope.Nope.Nope", "Demo.Tools", "Demo.Tools.BufferFeatures.x",
                                 "Demo.Tools.bufferfeatures", "Test.Jobs."])
def test_an_unknown_process_is_no_such_process(ogc, pid):
    problem(ogc.get(f"/processes/{pid}"), 404, "no-such-process")
    problem(execute(ogc, pid, {"inputs": {}}), 404, "no-such-process")


# -- synchronous execution ---------------------------------------------------------------------
def test_sync_document_response_is_keyed_by_output_id(ogc):
    r = execute(ogc, "Demo.ToolsSync.Echo", {"response": "document", "inputs": {
        "text": "teststring", "number": 2.5, "count": 3, "flag": True, "tags": ["a", "b"],
        "when": "2024-01-02T03:04:05Z"}})
    results = ok_json(r, "results")
    assert {k: v for k, v in results.items() if k != "out_when"} == {
        "out_text": "teststring", "out_number": 2.5, "out_count": 3, "out_flag": True, "out_tags": ["a", "b"]}


def test_a_date_output_is_an_rfc3339_string_as_described(ogc):
    described = ogc.get("/processes/Demo.ToolsSync.Echo").json()["outputs"]["out_when"]["schema"]
    assert described == {"type": "string", "format": "date-time"}
    results = execute(ogc, "Demo.ToolsSync.Echo", {"response": "document",
                                                   "inputs": {"when": "2024-01-02T03:04:05Z"}}).json()
    assert isinstance(results["out_when"], str), results
    assert when(results["out_when"]) == when("2024-01-02T03:04:05Z")


def test_a_results_document_with_an_empty_output_is_valid(ogc):
    r = execute(ogc, "Demo.ToolsSync.Echo", {"response": "document", "inputs": {"text": "no date"}})
    ok_json(r, "results")


def test_sync_raw_single_output_is_the_value_itself(ogc):
    r = execute(ogc, "Demo.ToolsSync.Echo", {"inputs": {"text": "teststring"}, "outputs": {"out_text": {}}})
    assert r.status_code == 200 and media_type(r) == "text/plain" and r.text == "teststring"
    r = execute(ogc, "Test.Sync.Add", {"inputs": {"a": 5, "b": 6}})                 # response defaults to raw
    assert r.status_code == 200 and media_type(r) == "application/json" and r.json() == 11
    r = execute(ogc, "Test.Sync.Stats", {"inputs": {"values": [1, 2, 3.5]}, "outputs": {"title": {}}})
    assert r.status_code == 200 and r.text == "Values"
    r = execute(ogc, "Demo.ToolsSync.SummarizeFeatures",
                {"inputs": {"input_features": {"value": POINT}}, "outputs": {"total_length": {}}})
    assert media_type(r) == "application/json" and r.json() == {"distance": 0.0, "units": "esriMeters"}


@pytest.mark.parametrize("pid", ["Test.Sync.Noop", "Test.Jobs.Noop"])
def test_sync_is_the_answer_unless_respond_async_is_preferred(ogc, pid):
    """Both kinds of service; preferences this server does not know, or cannot read, are ignored."""
    for prefer in (None, "respond-sync", "wait=5", "return=minimal", "wait=soon", 'wait="5"', "RESPOND-SYNC; x=1",
                   "respond-async, wait=20"):        # RFC 7240: async only if it takes longer than 20 s
        r = execute(ogc, pid, {"inputs": {"value": "v"}}, **({"Prefer": prefer} if prefer else {}))
        assert r.status_code == 200 and r.text == "v", (prefer, r.text)
        assert "preference-applied" not in r.headers


def test_a_json_body_without_content_type_and_with_extra_members_is_accepted(ogc):
    """The OpenAPI-generated client sends no Content-Type; the 1.0 example body carries an "id"."""
    r = ogc.post("/processes/Test.Sync.Noop/execution", content=b'{"id": "Noop", "inputs": {"value": "bare"}}')
    assert r.status_code == 200 and r.text == "bare"


def test_an_empty_body_runs_with_the_defaults(ogc):
    r = ogc.post("/processes/Test.Sync.Noop/execution")
    assert r.status_code == 200 and r.text == "x"


def test_features_in_and_out_as_geojson_qualified_values(ogc):
    def buffered(distance: dict | None, response: str = "raw") -> httpx.Response:
        inputs = {"input_features": {"value": POINT, "mediaType": "application/geo+json"}}
        if distance is not None:
            inputs["distance"] = {"value": distance}
        return execute(ogc, "Demo.ToolsSync.BufferFeatures", {"inputs": inputs, "response": response})

    def east_edge(fc: dict) -> float:
        (feature,) = fc["features"]
        assert feature["geometry"]["type"] == "Polygon" and feature["properties"] == {"name": "a"}
        return max(x for x, _ in feature["geometry"]["coordinates"][0])

    raw = buffered({"distance": 1, "units": "esriKilometers"})
    assert raw.status_code == 200 and media_type(raw) == "application/geo+json"
    assert raw.json()["type"] == "FeatureCollection"
    assert east_edge(raw.json()) == pytest.approx(10 + 1 / 71.7, rel=0.01)   # 1 km east at 50°N ≈ 1/71.7°
    assert east_edge(buffered(None).json()) == pytest.approx(10 + 0.1 / 71.7, rel=0.01)   # the 100 m default

    document = ok_json(buffered({"distance": 1, "units": "esriKilometers"}, "document"), "results")
    assert document["result"]["mediaType"] == "application/geo+json"
    assert east_edge(document["result"]["value"]) == pytest.approx(east_edge(raw.json()))


def test_file_outputs_by_reference_and_file_inputs_by_href(ogc):
    r = execute(ogc, "Test.Sync.WriteFile", {"inputs": {"text": "by reference"}, "response": "document",
                                             "outputs": {"result": {"transmissionMode": "reference"}}})
    href = ok_json(r, "results")["result"]["href"]
    assert ogc.get(href).text == "by reference"

    r = execute(ogc, "Test.Sync.WriteFile", {"inputs": {"text": "raw reference"},
                                             "outputs": {"result": {"transmissionMode": "reference"}}})
    assert r.status_code == 204 and not r.content                # sync + raw + reference: 204 and a Link
    target = re.fullmatch(r"<([^>]+)>;.*", r.headers["link"]).group(1)
    assert ogc.get(target).text == "raw reference"

    r = execute(ogc, "Test.Sync.ReadFile", {"inputs": {"data": {"href": href, "type": "text/plain"}}})
    assert r.status_code == 200 and r.text == "by reference"


def test_raw_results_hand_over_only_the_jobs_own_files(ogc):
    """A tool that echoes another job's file URL must not make the server read that job's file
    (which the caller may not be allowed to see) into this job's raw result."""
    href = ok_json(execute(ogc, "Test.Sync.WriteFile", {
        "inputs": {"text": "someone else's"}, "response": "document",
        "outputs": {"result": {"transmissionMode": "reference"}}}), "results")["result"]["href"]
    r = execute(ogc, "Test.Sync.PassFile", {"inputs": {"data": {"href": href, "type": "text/plain"}}})
    assert b"someone else's" not in r.content
    problem(r, 404, "no-such-output")


def test_a_single_file_output_by_value_is_its_content(ogc):
    r = execute(ogc, "Test.Sync.WriteFile", {"inputs": {"text": "inline please"},
                                             "outputs": {"result": {"transmissionMode": "value"}}})
    assert r.status_code == 200 and r.content == b"inline please"


def test_a_literal_output_by_reference_links_somewhere_that_answers(ogc):
    r = execute(ogc, "Test.Sync.Noop", {"inputs": {"value": "ref"}, "response": "document",
                                        "outputs": {"result": {"transmissionMode": "reference"}}})
    href = ok_json(r, "results")["result"]["href"]
    target = ogc.get(href)
    assert target.status_code == 200 and "ref" in target.text


@pytest.mark.parametrize("pid,body,mentions", [
    ("Test.Sync.Add", {"inputs": {"a": "not a number"}}, "'a'"),
    ("Test.Sync.Add", {"inputs": {"a": 1.5}}, "'a'"),
    ("Test.Sync.Add", {"inputs": {}}, "'a'"),
    ("Test.Sync.Choose", {"inputs": {"color": "blue"}}, "'color'"),
    ("Test.Sync.Stats", {"inputs": {"values": ["x"]}}, "'values'"),
    ("Test.Sync.Noop", {"inputs": {"nope": 1}}, "nope"),
    ("Test.Sync.Noop", {"inputs": [1]}, "inputs"),
    ("Test.Sync.Noop", {"inputs": {"value": {"href": "ftp://example.com/x"}}}, "'value'"),
    ("Test.Sync.ReadFile", {"inputs": {"data": {"href": "file:///etc/passwd"}}}, "http"),
    ("Test.Sync.Noop", {"response": "everything"}, "response"),
    ("Test.Sync.Noop", {"outputs": {"nope": {}}}, "result"),
    ("Test.Jobs.Sleep", {"inputs": {"seconds": "long"}}, "'seconds'"),     # async processes check first too
])
def test_bad_inputs_are_a_400_problem(ogc, pid, body, mentions):
    found = problem(execute(ogc, pid, body), 400)
    assert mentions in found["title"] + found["detail"], found


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"inputs"'])
def test_a_body_that_is_not_a_json_object_is_a_400_problem(ogc, raw):
    problem(ogc.post("/processes/Test.Sync.Noop/execution", content=raw,
                     headers={"Content-Type": "application/json"}), 400)


def test_an_array_for_a_single_string_input_is_refused(ogc):
    problem(execute(ogc, "Test.Sync.Noop", {"inputs": {"value": ["a"]}}), 400)


def test_a_failing_sync_process_is_a_problem_with_the_tools_message(ogc):
    found = problem(execute(ogc, "Test.Sync.Fail", {"inputs": {"message": "broken on purpose"}}), 500)
    assert "broken on purpose" in found["detail"]


# -- asynchronous execution and jobs -------------------------------------------------------------
def test_async_execution_creates_a_job_with_a_location_and_results(ogc):
    r = execute(ogc, "Test.Jobs.Noop", {"inputs": {"value": "async"}}, Prefer="respond-async")
    info = ok_json(r, "statusInfo", 201)
    assert r.headers["preference-applied"] == "respond-async"
    assert r.headers["location"] == link(info, "self")["href"] and r.headers["location"].endswith(
        f"/ogcapi/jobs/{info['jobID']}")
    assert info["processID"] == "Test.Jobs.Noop" and info["status"] in ("accepted", "running")

    done = wait(ogc, info["jobID"])
    assert done["status"] == "successful" and done["progress"] == 100 and done["processID"] == "Test.Jobs.Noop"
    assert when(done["created"]) <= when(done["started"]) <= when(done["finished"]) <= when(done["updated"])
    results = ogc.get(link(done, REL + "results")["href"])
    assert results.status_code == 200 and media_type(results) == "text/plain" and results.text == "async"


def test_a_synchronous_service_runs_a_job_when_asked_respond_async(ogc):
    for prefer in ("respond-async", "Respond-Async; x=1, return=minimal"):
        r = ogc.post("/processes/Test.Sync.Noop/execution", json={"inputs": {"value": "as a job"}},
                     headers=[("Prefer", "handling=lenient"), ("Prefer", prefer)])      # RFC 7240: they add up
        info = ok_json(r, "statusInfo", 201)
        assert r.headers["preference-applied"] == "respond-async" and info["processID"] == "Test.Sync.Noop"
        assert r.headers["location"].endswith(f"/ogcapi/jobs/{info['jobID']}")
        done = wait(ogc, info["jobID"])
        assert done["status"] == "successful"
        assert ogc.get(link(done, REL + "results")["href"]).text == "as a job"


def test_a_synchronous_request_to_an_asynchronous_service_answers_its_results(ogc, lister):
    """OWSLib's default: no respond-async.  The job is a job all the same, listed with its results."""
    since = datetime.now().astimezone().isoformat()
    r = execute(ogc, "Test.Jobs.Stats", {"inputs": {"values": [1, 2]}, "response": "document"},
                Prefer="respond-sync")
    assert ok_json(r, "results") == {"total": 3.0, "count": 2, "title": "Values"}
    assert "location" not in r.headers and "preference-applied" not in r.headers
    listed = ok_json(lister.get("/jobs", params={"processID": "Test.Jobs.Stats", "datetime": f"{since}/.."}),
                     "jobList")["jobs"]
    assert [j["status"] for j in listed] == ["successful"], listed
    assert ok_json(ogc.get(f"/jobs/{listed[0]['jobID']}/results"), "results") == r.json()


def test_a_synchronous_request_waits_on_a_job_that_can_be_dismissed_meanwhile(ogc, lister):
    from concurrent.futures import ThreadPoolExecutor

    since = datetime.now().astimezone().isoformat()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(execute, ogc, "Test.Jobs.Sleep", {"inputs": {"seconds": 2.8}})
        deadline = time.monotonic() + 10
        while not (running := lister.get("/jobs", params={"processID": "Test.Jobs.Sleep", "status": "running",
                                                          "datetime": f"{since}/.."}).json()["jobs"]):
            assert time.monotonic() < deadline and not answer.done(), "the waiting request's job is not listed"
            time.sleep(0.05)
        job_id = running[0]["jobID"]
        assert ok_json(ogc.delete(f"/jobs/{job_id}"), "statusInfo")["status"] == "dismissed"
        r = answer.result(timeout=2)                 # answered at once, not when the job would have ended
    assert r.status_code in (404, 410) and job_id in problem(r, r.status_code, "no-such-job")["title"]


def test_a_synchronous_request_that_outlasts_its_wait_is_answered_with_the_job(ogc):
    started = time.monotonic()
    r = execute(ogc, "Test.Jobs.Sleep", {"inputs": {"seconds": 2.5}}, Prefer="wait=1")
    assert 1 <= time.monotonic() - started < 2.5
    info = ok_json(r, "statusInfo", 201)
    assert info["status"] in ("accepted", "running")
    assert r.headers["location"].endswith(f"/ogcapi/jobs/{info['jobID']}")
    assert "preference-applied" not in r.headers                # it was not asked for respond-async
    assert wait(ogc, info["jobID"])["status"] == "successful"
    assert ogc.get(f"/jobs/{info['jobID']}/results").text == "rested"


@pytest.mark.parametrize("prefer", [b"wait=\xb2", b"wait=99999999999999999999", b"wait=-1, respond-async"])
def test_a_wait_that_is_no_number_of_seconds_is_ignored(ogc, prefer):
    """RFC 7240: a preference the server cannot honour is ignored (here: answered as if absent),
    never a 500."""
    r = ogc.post("/processes/Test.Jobs.Noop/execution", json={"inputs": {}}, headers={"Prefer": prefer})
    assert r.status_code in (200, 201), r.text


def test_a_failing_job_of_a_synchronous_request_is_a_problem_with_the_tools_message(ogc):
    found = problem(execute(ogc, "Test.Jobs.Fail", {"inputs": {"message": "failed in a job"}}), 500)
    assert "failed in a job" in found["detail"]


def test_async_results_keep_the_requested_response_and_outputs(ogc):
    info = submit(ogc, "Test.Jobs.Stats", {"values": [1, 2]}, response="document", outputs={"total": {}})
    wait(ogc, info["jobID"])
    assert ok_json(ogc.get(f"/jobs/{info['jobID']}/results"), "results") == {"total": 3.0}

    info = submit(ogc, "Test.Jobs.Stats", {"values": [1, 2]}, outputs={"count": {}})
    wait(ogc, info["jobID"])
    r = ogc.get(f"/jobs/{info['jobID']}/results")
    assert media_type(r) == "application/json" and r.json() == 2

    info = submit(ogc, "Demo.Tools.SummarizeFeatures", {"input_features": {"value": POINT}}, response="document")
    wait(ogc, info["jobID"])
    results = ok_json(ogc.get(f"/jobs/{info['jobID']}/results"), "results")
    assert results["count"] == 1 and results["extent"]["mediaType"] == "application/geo+json"
    assert results["total_area"] == {"value": {"area": 0.0, "units": "esriSquareMeters"},
                                     "mediaType": "application/json"}


def test_results_of_a_running_job_are_not_ready(ogc):
    info = submit(ogc, "Test.Jobs.Sleep", {"seconds": 3})
    running = wait(ogc, info["jobID"], {"running"})
    assert 0 <= running.get("progress", 0) <= 100 and "started" in running and "finished" not in running
    assert link(running, REL + "results") is None
    problem(ogc.get(f"/jobs/{info['jobID']}/results"), 404, "result-not-ready")
    ogc.delete(f"/jobs/{info['jobID']}")                                    # not needed any longer


def test_dismissing_a_running_job_cancels_and_removes_it(server, ogc):
    info = submit(ogc, "Test.Jobs.Sleep", {"seconds": 3})
    wait(ogc, info["jobID"], {"running"})
    started = time.monotonic()
    dismissed = ok_json(ogc.delete(f"/jobs/{info['jobID']}"), "statusInfo")
    assert time.monotonic() - started < 2.5                                 # cancelled, not waited out
    assert dismissed["status"] == "dismissed" and dismissed["jobID"] == info["jobID"]
    assert "finished" in dismissed

    problem(ogc.get(f"/jobs/{info['jobID']}"), 410, "no-such-job")            # gone, not unknown
    problem(ogc.get(f"/jobs/{info['jobID']}/results"), 410, "no-such-job")
    problem(ogc.delete(f"/jobs/{info['jobID']}"), 410, "no-such-job")
    problem(ogc.get("/jobs/j" + "0" * 32), 404, "no-such-job")                  # never existed
    gp = httpx.get(f"{server.url}/arcgis/rest/services/Test/Jobs/GPServer/Sleep/jobs/{info['jobID']}",
                   params={"f": "json"}).json()
    assert gp["error"]["code"] == 404


def test_dismissing_a_finished_job_removes_it(server, ogc):
    info = submit(ogc, "Test.Jobs.Noop", {"value": "done"})
    wait(ogc, info["jobID"])
    dismissed = ok_json(ogc.delete(f"/jobs/{info['jobID']}"), "statusInfo")
    assert dismissed["status"] == "dismissed" and dismissed["processID"] == "Test.Jobs.Noop"
    problem(ogc.get(f"/jobs/{info['jobID']}"), 410, "no-such-job")
    gp = httpx.get(f"{server.url}/arcgis/rest/services/Test/Jobs/GPServer/Noop/jobs/{info['jobID']}",
                   params={"f": "json"}).json()
    assert gp["error"]["code"] == 404


def test_a_failed_job_reports_why_and_has_no_results(ogc):
    info = submit(ogc, "Test.Jobs.Fail", {"message": "failed on purpose"})
    failed = wait(ogc, info["jobID"])
    assert failed["status"] == "failed" and "failed on purpose" in failed["message"]
    assert "finished" in failed and link(failed, REL + "results") is None
    r = ogc.get(f"/jobs/{info['jobID']}/results")
    assert r.status_code >= 400
    found = problem(r, r.status_code)
    assert "failed on purpose" in found["detail"]


@pytest.mark.parametrize("method,path", [("GET", "/jobs/{id}"), ("GET", "/jobs/{id}/results"),
                                         ("DELETE", "/jobs/{id}")])
@pytest.mark.parametrize("job_id", ["j" + "0" * 32, "nothing", "%2e%2e"])
def test_an_unknown_job_is_no_such_job(ogc, method, path, job_id):
    problem(ogc.request(method, path.format(id=job_id)), 404, "no-such-job")


def test_the_job_list_shows_jobs_and_filters_by_status(ogc, lister):
    failed = submit(ogc, "Test.Jobs.Fail", {})
    succeeded = submit(ogc, "Test.Jobs.Noop", {"value": "listed"})
    wait(ogc, failed["jobID"])
    wait(ogc, succeeded["jobID"])
    ogc = lister        # the jobs anyone submitted, as an administrator lists them

    listed = ok_json(ogc.get("/jobs", params={"limit": 100}), "jobList")
    assert link(listed, "self") and listed["jobs"]
    ids = [j["jobID"] for j in listed["jobs"]]
    assert {failed["jobID"], succeeded["jobID"]} <= set(ids) and len(ids) == len(set(ids))
    assert all("processID" in j for j in listed["jobs"])

    one = ok_json(ogc.get("/jobs", params={"limit": 1}), "jobList")
    assert len(one["jobs"]) == 1 and link(one, "next")
    following = ok_json(ogc.get(link(one, "next")["href"]), "jobList")
    assert following["jobs"][0]["jobID"] != one["jobs"][0]["jobID"]

    only_failed = ok_json(ogc.get("/jobs", params={"status": "failed", "limit": 100}), "jobList")["jobs"]
    assert failed["jobID"] in [j["jobID"] for j in only_failed] and {j["status"] for j in only_failed} == {"failed"}
    both = ok_json(ogc.get("/jobs", params=[("status", "failed"), ("status", "successful"), ("limit", 100)]),
                   "jobList")["jobs"]
    assert {failed["jobID"], succeeded["jobID"]} <= {j["jobID"] for j in both}
    problem(ogc.get("/jobs", params={"status": "paused"}), 400)


# -- one job, two faces ----------------------------------------------------------------------------
def test_a_job_submitted_as_a_gp_job_is_an_ogc_job(server, ogc):
    gp = httpx.post(f"{server.url}/arcgis/rest/services/Test/Jobs/GPServer/Noop/submitJob",
                    data={"f": "json", "value": "from gp"}).json()
    done = wait(ogc, gp["jobId"])
    assert done["status"] == "successful" and done["processID"] == "Test.Jobs.Noop"
    assert ogc.get(f"/jobs/{gp['jobId']}/results").text == "from gp"


def test_an_ogc_job_is_a_gp_job_and_cancelling_it_there_dismisses_it(server, ogc):
    info = submit(ogc, "Test.Jobs.Sleep", {"seconds": 3})
    wait(ogc, info["jobID"], {"running"})
    url = f"{server.url}/arcgis/rest/services/Test/Jobs/GPServer/Sleep/jobs/{info['jobID']}"
    gp = httpx.get(url, params={"f": "json"}).json()
    assert gp["jobId"] == info["jobID"] and gp["jobStatus"] == "esriJobExecuting"
    assert httpx.post(f"{url}/cancel", data={"f": "json"}).json()["jobId"] == info["jobID"]
    assert wait(ogc, info["jobID"], timeout=5)["status"] == "dismissed"
    assert httpx.get(url, params={"f": "json"}).json()["jobStatus"] == "esriJobCancelled"
    problem(ogc.get(f"/jobs/{info['jobID']}/results"), 404)


# -- who may use what ------------------------------------------------------------------------------
PASSWORDS = {"alice": "alice password", "bob": "bob password", "pat": "pat password", "root": "root password"}
ROLES = {"alice": "user", "bob": "user", "pat": "publisher", "root": "administrator"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A server of this module's own with users (Test/Members is for role:user)."""
    srv = Server(tmp_path_factory.mktemp("ogc-access"), demo=False, workers=2)
    for name, role in ROLES.items():
        add_user(srv.data_dir, name, role, PASSWORDS[name])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def as_(secured):
    """``as_[name]``: an /ogcapi client with that user's bearer token (``as_[None]``: anonymous)."""
    clients = {None: httpx.Client(base_url=secured.url + "/ogcapi", timeout=30)}
    for name, password in PASSWORDS.items():
        token = httpx.post(f"{secured.url}/arcgis/tokens/generateToken", data={
            "username": name, "password": password, "client": "requestip", "f": "json"}).json()["token"]
        clients[name] = httpx.Client(base_url=secured.url + "/ogcapi", timeout=30,
                                     headers={"Authorization": f"Bearer {token}"})
    yield clients
    for c in clients.values():
        c.close()


def test_a_restricted_process_is_listed_and_usable_only_by_those_allowed(as_):
    def members(who: str | None) -> set[str]:
        return {p["id"] for p in all_processes(as_[who]) if p["id"].startswith("Test.Members.")}

    assert members(None) == members("pat") == set()
    assert "Test.Members.Noop" in members("alice") and members("alice") == members("bob") == members("root")

    problem(as_[None].get("/processes/Test.Members.Noop"), 401)
    problem(execute(as_[None], "Test.Members.Noop", {"inputs": {"value": "v"}}), 401)
    problem(as_["pat"].get("/processes/Test.Members.Noop"), 404, "no-such-process")
    problem(execute(as_["pat"], "Test.Members.Noop", {"inputs": {"value": "v"}}), 404, "no-such-process")
    for who in ("alice", "root"):
        ok_json(as_[who].get("/processes/Test.Members.Noop"), "process")
        wait(as_[who], submit(as_[who], "Test.Members.Noop", {"value": who})["jobID"])


def test_a_401_says_how_to_authenticate(as_):
    r = as_[None].get("/processes/Test.Members.Noop")
    assert r.status_code == 401 and "bearer" in r.headers.get("www-authenticate", "").lower()


def test_a_bad_token_is_refused_even_on_public_resources(secured):
    bad = {"Authorization": "Bearer not-a-token"}
    for path in ("/processes", "/processes/Test.Jobs.Noop", "/jobs"):
        problem(httpx.get(f"{secured.url}/ogcapi{path}", headers=bad), 401)


def test_a_users_job_is_no_such_job_to_anyone_else(as_):
    info = submit(as_["alice"], "Test.Members.Sleep", {"seconds": 3})
    job = info["jobID"]
    for who in (None, "bob", "pat"):
        problem(as_[who].get(f"/jobs/{job}"), 404, "no-such-job")
        problem(as_[who].get(f"/jobs/{job}/results"), 404, "no-such-job")
        problem(as_[who].delete(f"/jobs/{job}"), 404, "no-such-job")
        assert job not in [j["jobID"] for j in ok_json(as_[who].get("/jobs", params={"limit": 1000}),
                                                      "jobList")["jobs"]]
    assert status(as_["alice"], job)["status"] in ("accepted", "running")     # nobody else dismissed it
    assert status(as_["root"], job)["processID"] == "Test.Members.Sleep"
    assert job in [j["jobID"] for j in as_["alice"].get("/jobs", params={"limit": 1000}).json()["jobs"]]
    assert ok_json(as_["alice"].delete(f"/jobs/{job}"), "statusInfo")["status"] == "dismissed"
    assert as_["alice"].get(f"/jobs/{job}").status_code == 410      # gone, for its owner
    assert as_["bob"].get(f"/jobs/{job}").status_code == 404        # and still nothing, to anyone else
    assert as_[None].get(f"/jobs/{job}").status_code in (401, 404)


def test_anonymous_callers_list_no_jobs(as_):
    """An anonymous job is protected only by its unguessable id; the job list handed every
    anonymous job to every anonymous caller, who could then read its inputs and dismiss it."""
    mine = submit(as_[None], "Test.Jobs.Noop", {"value": "a secret of mine"})["jobID"]
    wait(as_[None], mine)
    listed = ok_json(as_[None].get("/jobs", params={"limit": 1000}), "jobList")
    assert listed["jobs"] == [] and not [link for link in listed["links"] if link["rel"] == "next"]
    assert ok_json(as_[None].get(f"/jobs/{mine}"), "statusInfo")["status"] == "successful"   # by its id
    assert mine in [j["jobID"] for j in as_["root"].get("/jobs", params={"limit": 1000}).json()["jobs"]]


@pytest.mark.parametrize("path", ["", "/conformance", "/processes", "/processes/Demo.Tools.BufferFeatures", "/jobs"])
def test_every_resource_is_also_html_with_its_links_as_anchors(ogc, path):
    """The HTML class: f=html or a browser's Accept, every link an <a>; no Accept (or */*) stays JSON."""
    data = ogc.get(path).json()
    page = ogc.get(path, params={"f": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for href in re.findall(r'"href":\s*"([^"]+)"', json.dumps(data)):
        assert f"<a href='{href}'>" in page.text.replace("&amp;", "&"), href
    browser = ogc.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    assert ogc.get(path, headers={"Accept": "*/*"}).headers["content-type"].startswith("application/json")


# -- callbacks (subscriber) ---------------------------------------------------------------
class Receiver:
    """A callback endpoint on 127.0.0.1 that records every POST (path, JSON body)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.calls: list[tuple[str, Any]] = []
        received = self.calls

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, json.loads(body or b"null")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 20) -> list[tuple[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)           # and nothing more arrives
        return list(self.calls)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def subscriber(receiver: Receiver) -> dict[str, str]:
    return {k: f"{receiver.url}/{k}" for k in ("successUri", "inProgressUri", "failedUri")}


def test_callbacks_arrive_once_each_for_a_job_that_succeeds(ogc, receiver):
    r = execute(ogc, "Test.Jobs.Sleep", {"inputs": {"seconds": 0.5}, "subscriber": subscriber(receiver)},
                Prefer="respond-async")
    assert r.status_code == 201
    job_id = r.json()["jobID"]
    calls = receiver.wait_for(2)
    assert [path for path, _ in calls] == ["/inProgressUri", "/successUri"], calls
    started = calls[0][1]
    check("statusInfo", started)
    assert started["jobID"] == job_id and started["status"] == "running"
    check("results", calls[1][1])
    assert set(calls[1][1]) == {"result"}, calls[1][1]          # the results document: Sleep's one output


def test_a_failed_job_calls_failed_uri_once(ogc, receiver):
    r = execute(ogc, "Test.Jobs.Fail", {"inputs": {}, "subscriber": subscriber(receiver)}, Prefer="respond-async")
    calls = receiver.wait_for(2)
    assert [path for path, _ in calls] == ["/inProgressUri", "/failedUri"], calls
    assert calls[1][1]["status"] == "failed" and calls[1][1]["jobID"] == r.json()["jobID"]


def test_a_callback_that_cannot_be_delivered_is_noted_on_the_job(ogc, receiver):
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    r = execute(ogc, "Test.Jobs.Noop", {"inputs": {}, "subscriber": {"successUri": dead}}, Prefer="respond-async")
    job_id = r.json()["jobID"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = httpx.get(f"{ogc.base_url.scheme}://{ogc.base_url.host}:{ogc.base_url.port}"
                             f"/arcgis/rest/services/Test/Jobs/GPServer/Noop/jobs/{job_id}",
                             params={"f": "json"}).json()["messages"]
        if any("successUri callback" in m["description"] for m in messages):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the failed callback was not noted on the job")
    assert ogc.get(f"/jobs/{job_id}").json()["status"] == "successful"        # the job itself is unharmed


@pytest.mark.parametrize("bad", [{"successUri": "ftp://x/y"}, {"successUri": "not a uri"}, ["x"]])
def test_a_bad_subscriber_is_a_400(ogc, bad):
    problem(execute(ogc, "Test.Jobs.Noop", {"inputs": {}, "subscriber": bad}), 400)


def test_callbacks_to_private_addresses_are_refused_by_default():
    from opengp.api.ogc.callbacks import check_subscriber
    from opengp.core import InvalidInput

    for uri in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://localhost/x"):
        with pytest.raises(InvalidInput) as refused:
            check_subscriber({"successUri": uri}, allow_private=False)
        assert "private network" in " ".join(refused.value.details)
    assert check_subscriber({"successUri": "http://127.0.0.1:9/x"}, allow_private=True)


# -- the job-list class's filters ---------------------------------------------------------
def _ids(ogc, **params) -> list[str]:
    body = ok_json(ogc.get("/jobs", params={"limit": 1000, **params}), "jobList")
    return [j["jobID"] for j in body["jobs"]]


def test_the_job_list_filters_by_process_type_time_and_duration(ogc, lister):
    noop = execute(ogc, "Test.Jobs.Noop", {"inputs": {"value": "listed"}}, Prefer="respond-async").json()["jobID"]
    sleep = execute(ogc, "Test.Jobs.Sleep", {"inputs": {"seconds": 1.2}}, Prefer="respond-async").json()["jobID"]
    for job_id in (noop, sleep):
        deadline = time.monotonic() + 20
        while ogc.get(f"/jobs/{job_id}").json()["status"] != "successful" and time.monotonic() < deadline:
            time.sleep(0.1)
    ogc = lister
    created = when(ogc.get(f"/jobs/{noop}").json()["created"])
    both = _ids(ogc, processID=["Test.Jobs.Noop", "Test.Jobs.Sleep"])
    assert noop in both and sleep in both
    assert _ids(ogc, processID="Test.Jobs.Noop,Test.Jobs.Sleep") == both                    # comma form
    assert sleep not in _ids(ogc, processID="Test.Jobs.Noop")
    assert _ids(ogc, processID="No.Such.Process") == []
    assert noop in _ids(ogc, type="process") and _ids(ogc, type="other") == []
    iso = created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    assert noop in _ids(ogc, datetime=f"{iso}/..") and noop in _ids(ogc, datetime=f"../{iso}")
    assert noop not in _ids(ogc, datetime="../2000-01-01T00:00:00Z")
    assert sleep in _ids(ogc, minDuration=1) and noop not in _ids(ogc, minDuration=1)
    assert noop in _ids(ogc, maxDuration=1) and sleep not in _ids(ogc, maxDuration=1)
    for bad in ({"datetime": "yesterday"}, {"minDuration": "-1"}, {"maxDuration": "soon"}, {"status": "done"}):
        problem(ogc.get("/jobs", params=bad), 400)


def test_job_list_links_keep_the_filters(ogc, lister):
    for _ in range(3):
        execute(ogc, "Test.Jobs.Noop", {"inputs": {"value": "page"}}, Prefer="respond-async")
    ogc = lister
    first = ok_json(ogc.get("/jobs", params={"limit": 2, "processID": "Test.Jobs.Noop"}), "jobList")
    nxt = link(first, "next")["href"]
    assert "processID=Test.Jobs.Noop" in nxt and "limit=2" in nxt
    second = ok_json(ogc.get(nxt), "jobList")
    assert not {j["jobID"] for j in first["jobs"]} & {j["jobID"] for j in second["jobs"]}
    assert all(j["processID"] == "Test.Jobs.Noop" for j in second["jobs"])
    assert link(second, "prev")


# -- inputs by value (binary), by reference, as bounding boxes ----------------------------
def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_a_file_input_by_value_is_decoded_and_given_to_the_tool(ogc):
    text = "héllo, file\n".encode()
    for value in ({"value": b64(text), "encoding": "base64", "mediaType": "text/plain"},
                  {"value": b64(text), "mediaType": "text/plain"},                  # base64 is the default
                  b64(text),                                                         # a bare base64 string
                  {"value": text.decode(), "encoding": "utf-8", "mediaType": "text/plain"}):
        r = execute(ogc, "Test.Sync.ReadFile", {"inputs": {"data": value}})
        assert r.status_code == 200 and r.content == text, (value, r.text)
    r = execute(ogc, "Test.Sync.ReadFile", {"inputs": {"data": {"value": {"k": [1, 2]},
                                                                 "mediaType": "application/json"}}})
    assert r.status_code == 200 and json.loads(r.text) == {"k": [1, 2]}     # an object: its JSON


def test_an_async_job_reads_a_file_sent_by_value(ogc):
    info = submit(ogc, "Test.Jobs.ReadFile", {"data": {"value": b64(b"queued bytes")}}, response="document")
    done = wait(ogc, info["jobID"])
    assert done["status"] == "successful", done
    assert ok_json(ogc.get(link(done, REL + "results")["href"]), "results") == {"result": "queued bytes"}


@pytest.mark.parametrize("value,mentions", [
    ({"value": "not base64!", "encoding": "base64"}, "base64"),
    ("%%%", "base64"),
    ({"value": "aGk=", "encoding": "quoted-printable"}, "encoding"),
    ({"value": 12}, "base64"),
])
def test_a_bad_file_value_is_a_400_naming_the_input(ogc, value, mentions):
    found = problem(execute(ogc, "Test.Sync.ReadFile", {"inputs": {"data": value}}), 400, "invalid-parameter-value")
    assert "'data'" in found["detail"] and mentions in found["detail"], found


class Files:
    """A web server on 127.0.0.1 serving fixed answers: path -> (status, content type, body)."""

    def __init__(self, answers: dict[str, tuple[int, str, bytes]]) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status, kind, body = answers.get(self.path, (404, "text/plain", b"nothing here"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def files():
    f = Files({
        "/text": (200, "text/plain; charset=utf-8", "from a reference".encode()),
        "/numbers": (200, "application/json", b"[1, 2, 3.5]"),
        "/points": (200, "application/geo+json", json.dumps(POINT).encode()),
        "/distance": (200, "application/json", b'{"distance": 1, "units": "esriKilometers"}'),
        "/broken": (200, "application/json", b"[1, 2"),
        "/big": (200, "application/json", b"[" + b"1, " * 3_600_000 + b"1]"),     # > 10 MiB
    })
    yield f
    f.server.shutdown()


def test_inputs_by_reference_are_fetched_and_read_as_their_inline_values(ogc, files):
    r = execute(ogc, "Test.Sync.Noop", {"inputs": {"value": {"href": f"{files.url}/text", "type": "text/plain"}}})
    assert r.status_code == 200 and r.text == "from a reference"
    r = execute(ogc, "Test.Sync.Stats", {"inputs": {"values": {"href": f"{files.url}/numbers"}},
                                         "response": "document"})
    assert ok_json(r, "results")["total"] == 6.5
    r = execute(ogc, "Demo.ToolsSync.BufferFeatures", {"inputs": {
        "input_features": {"href": f"{files.url}/points", "type": "application/geo+json"},
        "distance": {"href": f"{files.url}/distance"}}})
    assert r.status_code == 200 and media_type(r) == "application/geo+json"
    (feature,) = r.json()["features"]
    assert max(x for x, _ in feature["geometry"]["coordinates"][0]) == pytest.approx(10 + 1 / 71.7, rel=0.01)


def test_an_async_job_gets_the_value_fetched_when_it_was_submitted(ogc, files):
    info = submit(ogc, "Test.Jobs.Noop", {"value": {"href": f"{files.url}/text"}})
    assert ogc.get(link(wait(ogc, info["jobID"]), REL + "results")["href"]).text == "from a reference"


@pytest.mark.parametrize("path,mentions", [
    ("/missing", "404"),                     # the reference answers an error
    ("/broken", "not JSON"),                 # not what the input takes
    ("/text", "not JSON"),
])
def test_a_reference_that_cannot_be_used_is_a_400_naming_the_input(ogc, files, path, mentions):
    found = problem(execute(ogc, "Test.Sync.Stats", {"inputs": {"values": {"href": files.url + path}}}), 400,
                    "invalid-parameter-value")
    assert "'values'" in found["detail"] and mentions in found["detail"], found


def test_a_reference_nobody_answers_is_a_400(ogc):
    dead = f"http://127.0.0.1:{free_port()}/x"
    found = problem(execute(ogc, "Test.Sync.Noop", {"inputs": {"value": {"href": dead}}}), 400)
    assert "'value'" in found["detail"] and dead in found["detail"]


def test_a_bbox_is_a_polygon_for_a_feature_input(ogc):
    def clipped(box: dict) -> list:
        r = execute(ogc, "Demo.ToolsSync.ClipFeatures", {"inputs": {
            "input_features": {"value": POINT}, "clip_features": box}})
        assert r.status_code == 200, r.text
        return r.json()["features"]

    assert len(clipped({"bbox": [9, 49, 11, 51]})) == 1                          # CRS84: lon, lat
    assert clipped({"bbox": [11, 49, 12, 51]}) == []
    assert len(clipped({"bbox": [49, 9, 51, 11], "crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})) == 1
    assert len(clipped({"bbox": [9, 49, 0, 11, 51, 100],
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"})) == 1    # 3D: heights ignored
    assert len(clipped({"bbox": [1000000, 6300000, 1300000, 6600000],
                        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857"})) == 1   # (10, 50) is ~(1.11e6, 6.44e6)
    for bad in ({"bbox": [1, 2, 3]}, {"bbox": "1,2,3,4"}, {"bbox": [1, 2, 3, 4], "crs": "somewhere"}):
        found = problem(execute(ogc, "Demo.ToolsSync.ClipFeatures", {"inputs": {
            "input_features": {"value": POINT}, "clip_features": bad}}), 400)
        assert "'clip_features'" in found["detail"], found


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server with small limits (a short ogc_sync_wait too) and no private URLs (the defaults a
    real server has)."""
    srv = Server(tmp_path_factory.mktemp("ogc-limits"), demo=False, workers=1)
    config = srv.config.read_text().replace("allow_private_urls = true", "allow_private_urls = false")
    srv.config.write_text(config.replace("[server]\n", "[server]\nmax_upload_bytes = 100\nmax_request_bytes = 4096\n"
                                                        "ogc_sync_wait = 1\n"))
    add_user(srv.data_dir, "root", "administrator", "root password")       # a server needs an administrator
    srv.start()
    with httpx.Client(base_url=srv.url + "/ogcapi", timeout=30) as c:
        yield c
    srv.stop()


def test_a_file_over_the_upload_limit_is_a_413(strict):
    r = execute(strict, "Test.Sync.ReadFile", {"inputs": {"data": {"value": b64(b"x" * 100)}}})
    assert r.status_code == 200 and r.text == "x" * 100
    found = problem(execute(strict, "Test.Sync.ReadFile", {"inputs": {"data": {"value": b64(b"x" * 101)}}}), 413,
                    "payload-too-large")
    assert "100" in found["detail"]
    problem(execute(strict, "Test.Sync.ReadFile", {"inputs": {"data": b64(b"x" * 3000)}}), 413, "payload-too-large")
    problem(execute(strict, "Test.Sync.Noop", {"inputs": {"value": "x" * 5000}}), 413, "payload-too-large")


def test_ogc_sync_wait_bounds_a_synchronous_request_to_an_asynchronous_service(strict):
    started = time.monotonic()
    r = execute(strict, "Test.Jobs.Sleep", {"inputs": {"seconds": 2.5}})
    assert 1 <= time.monotonic() - started < 2.5
    info = ok_json(r, "statusInfo", 201)
    assert info["status"] in ("accepted", "running")
    assert "location" in r.headers and "preference-applied" not in r.headers
    assert wait(strict, info["jobID"])["status"] == "successful"
    r = execute(strict, "Test.Sync.Sleep", {"inputs": {"seconds": 1.5}})     # waited for as its execute waits
    assert r.status_code == 200 and r.text == "rested"


def test_references_to_private_addresses_are_refused_by_default(strict, files):
    found = problem(execute(strict, "Test.Sync.Stats", {"inputs": {"values": {"href": f"{files.url}/numbers"}}}),
                    400)
    assert "'values'" in found["detail"] and "private network" in found["detail"]


def test_a_reference_larger_than_a_request_may_be_is_refused(ogc, files):
    """A fetched value is capped like a request body (max_request_bytes, 10 MiB here)."""
    found = problem(execute(ogc, "Test.Sync.Stats", {"inputs": {"values": {"href": f"{files.url}/big"}}}), 400)
    assert "'values'" in found["detail"] and "larger than" in found["detail"], found


# -- raw results with several outputs: multipart/related ------------------------------------
def parts(r: httpx.Response) -> dict[str, Any]:
    """The parts of a multipart/related answer by Content-ID: (headers, bytes)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    assert r.status_code == 200 and media_type(r) == "multipart/related", r.headers
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {r.headers['content-type']}\r\n\r\n".encode() + r.content)
    assert message.is_multipart()
    found = {}
    for part in message.iter_parts():
        found[part["Content-ID"].strip("<>")] = (part, part.get_payload(decode=True) or b"")
    return found


def test_sync_raw_with_several_outputs_is_multipart_related(ogc):
    r = execute(ogc, "Demo.ToolsSync.Echo", {"inputs": {"text": "teststring", "number": 2.5, "tags": ["a"]},
                                             "outputs": {"out_text": {}, "out_number": {}, "out_tags": {}}})
    found = parts(r)
    assert list(found) == ["out_text", "out_number", "out_tags"]
    assert 'type="text/plain"' in r.headers["content-type"]          # RFC 2387: the root part's type
    assert found["out_text"][0].get_content_type() == "text/plain" and found["out_text"][1] == b"teststring"
    assert found["out_number"][0].get_content_type() == "application/json"
    assert json.loads(found["out_number"][1]) == 2.5 and json.loads(found["out_tags"][1]) == ["a"]


def test_multipart_parts_by_reference_are_empty_with_a_content_location(ogc):
    info = submit(ogc, "Test.Jobs.Stats", {"values": [1, 2]},
                  outputs={"total": {}, "count": {"transmissionMode": "reference"}, "title": {}})
    wait(ogc, info["jobID"])
    r = ogc.get(f"/jobs/{info['jobID']}/results")
    found = parts(r)
    assert json.loads(found["total"][1]) == 3.0 and found["title"][1] == b"Values"
    counted = found["count"]
    assert counted[1] == b"" and counted[0]["Content-Location"].endswith(f"/jobs/{info['jobID']}/results/count")
    assert ogc.get(counted[0]["Content-Location"]).json() == 2


def test_raw_with_every_output_by_reference_is_204_with_a_link_each(ogc):
    info = submit(ogc, "Test.Jobs.Stats", {"values": [4]},
                  outputs={"total": {"transmissionMode": "reference"}, "count": {"transmissionMode": "reference"}})
    wait(ogc, info["jobID"])
    r = ogc.get(f"/jobs/{info['jobID']}/results")
    assert r.status_code == 204 and not r.content
    links = dict((rel, href) for href, rel in re.findall(r'<([^>]+)>; rel="([^"]+)"', r.headers["link"]))
    assert set(links) == {"total", "count"}
    assert ogc.get(links["total"]).json() == 4.0 and ogc.get(links["count"]).json() == 1


def test_a_literal_output_by_reference_in_an_async_document(ogc):
    info = submit(ogc, "Test.Jobs.Noop", {"value": "kept"}, response="document",
                  outputs={"result": {"transmissionMode": "reference"}})
    wait(ogc, info["jobID"])
    href = ok_json(ogc.get(f"/jobs/{info['jobID']}/results"), "results")["result"]["href"]
    assert ogc.get(href).text == "kept"


# -- the status fast path answers as the routes do --------------------------------------------
def test_job_status_negotiates_html_and_keeps_its_errors(ogc):
    info = submit(ogc, "Test.Jobs.Noop", {"value": "page"})
    done = wait(ogc, info["jobID"])
    page = ogc.get(f"/jobs/{info['jobID']}", params={"f": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"<a href='{link(done, REL + 'results')['href']}'>" in page.text
    assert ogc.get(f"/jobs/{info['jobID']}", headers={"Accept": "text/html"}).headers[
        "content-type"].startswith("text/html")
    plain, routed = ogc.get(f"/jobs/{info['jobID']}"), ogc.get(f"/jobs/{info['jobID']}", params={"f": "json"})
    assert plain.content == routed.content and plain.headers["content-type"] == routed.headers["content-type"]
    check("statusInfo", plain.json())
    problem(ogc.get(f"/jobs/{info['jobID']}", headers={"Authorization": "Bearer nonsense"}), 401)
    problem(ogc.get(f"/jobs/{info['jobID']}?%74oken=nonsense"), 401)           # spelled to slip past a quick look
    problem(ogc.post("/processes/Test.Jobs.Noop/execution", json={}, headers={"Authorization": "Bearer x"}), 401)
