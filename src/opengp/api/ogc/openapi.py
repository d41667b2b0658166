"""The OpenAPI 3.0 document of the OGC face (``/ogcapi/api``): every path it serves,
every status it answers, its security scheme, and the official 1.0 schemas as
components (``schemas.json``, bundled from the OGC files by
``tools/bundle_ogc_schemas.py``)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .joblist import MAX_LIMIT, MAX_OFFSET

JSON = "application/json"
PROBLEM = "application/problem+json"
MULTIPART = "multipart/related"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _ref("exception")}}}


def _param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False,
           explode: bool | None = None) -> dict[str, Any]:
    out = {"name": name, "in": where, "required": required or where == "path", "schema": schema,
           "description": description}
    if explode is not None:
        out["style"], out["explode"] = "form", explode
    return out


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    schemas = json.loads((Path(__file__).parent / "schemas.json").read_text())
    return {
        "schemas": schemas,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "A token from /arcgis/tokens/generateToken."}},
        "responses": {
            "unauthorized": _problem("A token is needed (or the one sent is invalid)."),
            "invalid": _problem("A parameter or the request body is invalid."),
            "server": _problem("The server failed."),
        },
    }


def document(base: str) -> dict[str, Any]:
    pid = _param("processId", "path", {"type": "string"}, "<folder>.<service>.<task>")
    job = _param("jobId", "path", {"type": "string"}, "A job id (the same as the GP face's).")
    limit = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
                   "Page size.")
    offset = _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                    "Items to skip.")
    common = {"401": {"$ref": "#/components/responses/unauthorized"}, "500": {"$ref": "#/components/responses/server"}}
    gone = {"410": _problem("The job was dismissed (no-such-job): to its owner, gone rather than unknown.")}
    job_filters = [
        _param("processID", "query", {"type": "array", "items": {"type": "string"}},
               "Only jobs of these processes (repeated or comma-separated).", explode=True),
        _param("type", "query", {"type": "array", "items": {"type": "string"}},
               "Only jobs of these types (every job here is a 'process').", explode=True),
        _param("datetime", "query", {"type": "string"},
               "Created at an instant, or within an interval 'start/end' ('..' or nothing: open)."),
        _param("minDuration", "query", {"type": "integer", "minimum": 0}, "Seconds run, at least."),
        _param("maxDuration", "query", {"type": "integer", "minimum": 0}, "Seconds run, at most.")]
    return {
        "openapi": "3.0.3",
        "info": {"title": "opengp OGC API - Processes", "version": "1.0.0",
                 "description": "The tools and jobs of this opengp server, through OGC API - Processes 1.0."},
        "servers": [{"url": base}],
        "security": [{}, {"bearer": []}],
        "paths": {
            "/": {"get": {"operationId": "getLandingPage", "summary": "Landing page", "responses": {
                "200": _ok("landingPage", "Links to the API definition, conformance, processes and jobs."),
                **common}}},
            "/conformance": {"get": {"operationId": "getConformanceClasses", "summary": "Conformance classes",
                                     "responses": {"200": _ok("confClasses", "The conformance classes."),
                                                   **common}}},
            "/api": {"get": {"operationId": "getAPI", "summary": "This document", "responses": {
                "200": {"description": "The OpenAPI document.",
                        "content": {"application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}}}},
                **common}}},
            "/processes": {"get": {"operationId": "getProcesses", "summary": "Processes the caller may use",
                                   "parameters": [limit, offset], "responses": {
                                       "200": _ok("processList", "A page of process summaries."),
                                       "400": {"$ref": "#/components/responses/invalid"}, **common}}},
            "/processes/{processId}": {"get": {"operationId": "getProcessDescription", "summary": "A process",
                                               "parameters": [pid], "responses": {
                                                   "200": _ok("process", "The process description."),
                                                   "404": _problem("No such process (no-such-process)."),
                                                   **common}}},
            "/processes/{processId}/execution": {"post": {
                "operationId": "execute", "summary": "Execute a process", "parameters": [
                    pid, _param("Prefer", "header", {"type": "string"},
                                "RFC 7240: respond-async answers with the job at once; wait=N waits at most N "
                                "seconds for the results (else the server's bound), then answers with the job.")],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("execute")}}},
                "callbacks": {},
                "responses": {
                    "200": {"description": "Synchronous execution (no respond-async): the results once the job "
                                           "ended (a document, one raw output, or several as multipart/related).",
                            "content": {JSON: {"schema": _ref("results")},
                                        "text/plain": {"schema": {"type": "string"}},
                                        "application/geo+json": {"schema": {"type": "object"}},
                                        "application/octet-stream": {"schema": {"type": "string",
                                                                                "format": "binary"}},
                                        MULTIPART: {"schema": {"type": "string", "format": "binary"}}}},
                    "201": {"description": "Asynchronous execution (respond-async), or a synchronous one whose "
                                           "job outlasted its wait: the job's status; Location names it.",
                            "headers": {"Location": {"schema": {"type": "string"}},
                                        "Preference-Applied": {"schema": {"type": "string"},
                                                               "description": "respond-async, when asked."}},
                            "content": {JSON: {"schema": _ref("statusInfo")}}},
                    "204": {"description": "Raw outputs all by reference: a Link header names each.",
                            "headers": {"Link": {"schema": {"type": "string"}}}},
                    "400": {"$ref": "#/components/responses/invalid"},
                    "404": _problem("No such process (no-such-process), or the job was cancelled while the "
                                    "request waited (no-such-job)."),
                    "410": _problem("The job was dismissed while the request waited for it (no-such-job)."),
                    "413": _problem("The request, a file sent by value or a value by reference is too large."),
                    **common}}},
            "/jobs": {"get": {"operationId": "getJobs", "summary": "Jobs the caller may see (anonymous callers: none)",
                              "parameters": [
                limit, offset, _param("status", "query", {"type": "array", "items": _ref("statusCode")},
                                      "Only jobs in these states (repeated or comma-separated).", explode=True),
                *job_filters],
                "responses": {"200": _ok("jobList", "A page of jobs, newest first."),
                              "400": {"$ref": "#/components/responses/invalid"}, **common}}},
            "/jobs/{jobId}": {
                "get": {"operationId": "getStatus", "summary": "A job's status", "parameters": [job],
                        "responses": {"200": _ok("statusInfo", "The job's status."),
                                      "404": _problem("No such job (no-such-job)."), **gone, **common}},
                "delete": {"operationId": "dismiss", "summary": "Cancel the job if it runs, then remove it",
                           "parameters": [job],
                           "responses": {"200": _ok("statusInfo", "The job, dismissed."),
                                         "404": _problem("No such job (no-such-job)."), **gone, **common}}},
            "/jobs/{jobId}/results": {"get": {
                "operationId": "getResult", "summary": "A job's results, as its execute request asked",
                "parameters": [job], "responses": {
                    "200": {"description": "The results (a document, one raw output, or several as "
                                           "multipart/related).",
                            "content": {JSON: {"schema": _ref("results")},
                                        MULTIPART: {"schema": {"type": "string", "format": "binary"}}}},
                    "204": {"description": "Raw outputs all by reference: a Link header names each.",
                            "headers": {"Link": {"schema": {"type": "string"}}}},
                    "404": _problem("No such job, or results not ready (result-not-ready)."), **gone, **common}}},
            "/jobs/{jobId}/results/{outputId}": {"get": {
                "operationId": "getResultOutput", "summary": "One output of a job (as in 1.1)",
                "parameters": [job, _param("outputId", "path", {"type": "string"}, "An output id.")],
                "responses": {"200": {"description": "The output's value.",
                                      "content": {JSON: {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}},
                              "404": _problem("No such job or output."), **gone, **common}}},
        },
        "components": _components(),
    }
