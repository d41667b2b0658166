"""A job's results as its execute request asked for them (OGC 1.0, table of §7.11):

- ``response=document``: a JSON object keyed by output id (values inline, or ``{"href"}``);
- ``raw``, one output: the value itself (a file's content, text, JSON, GeoJSON);
- ``raw``, every output by reference: ``204`` and one ``Link`` per output;
- ``raw``, several outputs: ``multipart/related``, one part per output with its
  ``Content-ID``; a part by reference is empty and carries ``Content-Location``.

Outputs without a value are left out (results documents admit no null).
"""
from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ...core import Job
from ...runtime.files import JOBS_URL_PATH, split_job_path
from ...runtime.storage import StoredFile
from ..files import file_response, open_job_file, read_all
from . import processes as P
from .common import Problem, json_response


def wanted_outputs(job: Job, task: Any) -> dict[str, Any]:
    """The outputs the execute request named (all of the task's when it named none)."""
    return ((job.options or {}).get("ogc", {}).get("outputs")) or {p.name: {} for p in task.outputs}


def results_document(job: Job, task: Any) -> dict[str, Any]:
    """The results document of a succeeded job, every output by value (what successUri receives)."""
    out = {}
    for name in wanted_outputs(job, task):
        r = (job.results or {}).get(name)
        if r is not None and r.get("value") is not None:
            out[name] = P.ogc_value(r["dataType"], r["value"])
    return out


async def results_response(request: Request, job: Job, task: Any, base: str, only: str | None = None) -> Response:
    """The results as the execute request asked (module docstring); ``only``: one output
    by value, whatever was asked (``/jobs/{id}/results/{output}``)."""
    raw = (job.options or {}).get("ogc", {}).get("response", "raw") != "document"
    wanted = {only: {}} if only is not None else wanted_outputs(job, task)
    values, by_reference = {}, set()
    for name, how in wanted.items():
        r = (job.results or {}).get(name)
        if r is None or r.get("value") is None:
            continue
        if (how or {}).get("transmissionMode") == "reference":
            file_url = r["value"].get("url") if isinstance(r["value"], dict) else None
            values[name] = {"href": file_url or f"{base}/jobs/{job.id}/results/{name}"}
            by_reference.add(name)
        else:
            values[name] = P.ogc_value(r["dataType"], r["value"])
    if only is not None:
        if only not in values:
            raise Problem(404, "no-such-output", f"Job '{job.id}' has no value for output '{only}'.")
        return await _raw(request, job.id, values[only])
    if not raw or not values:
        return json_response(values)
    if set(values) == by_reference:
        link = ", ".join(f'<{v["href"]}>; rel="{name}"' for name, v in values.items())
        return Response(status_code=204, headers={"Link": link})
    if len(values) == 1:
        return await _raw(request, job.id, next(iter(values.values())))
    return await _multipart(request, job.id, values, by_reference)


async def _raw(request: Request, job_id: str, value: Any) -> Response:
    """One output by value as itself."""
    if isinstance(value, dict) and "href" in value and set(value) <= {"href", "type"}:
        return file_response(await _open_file(request, job_id, value["href"]))   # a file: its content
    content, media_type = await _content(request, job_id, value)
    return Response(content, media_type=media_type)


async def _content(request: Request, job_id: str, value: Any) -> tuple[bytes, str]:
    """An output value's bytes and media type, as ``raw`` sends it."""
    if isinstance(value, dict) and "href" in value and set(value) <= {"href", "type"}:
        return await read_all(await _open_file(request, job_id, value["href"])), value.get("type", "application/octet-stream")
    if isinstance(value, dict) and "value" in value:
        return orjson.dumps(value["value"]), value.get("mediaType", "application/json")
    if isinstance(value, str):
        return value.encode(), "text/plain; charset=utf-8"
    return orjson.dumps(value), "application/json"


async def _multipart(request: Request, job_id: str, values: dict[str, Any], by_reference: set[str]) -> Response:
    """``multipart/related`` (RFC 2387): one part per output, ``Content-ID: <output id>``;
    the root (first) part's type is the ``type`` parameter, as RFC 2387 requires."""
    boundary = "ogc-" + secrets.token_hex(12)
    chunks, root_type = [], None
    for name, value in values.items():
        if name in by_reference:
            headers, content = [f"Content-Location: {value['href']}"], b""
            media_type = "application/octet-stream"
        else:
            content, media_type = await _content(request, job_id, value)
            headers = [f"Content-Type: {media_type}"]
        root_type = root_type or media_type.split(";")[0]
        head = "\r\n".join([f"--{boundary}", f"Content-ID: <{name}>", *headers]) + "\r\n\r\n"
        chunks += [head.encode(), content, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks), media_type=f'multipart/related; boundary="{boundary}"; type="{root_type}"')


async def _open_file(request: Request, job_id: str, url: str) -> StoredFile:
    """The file the job ``job_id`` wrote, by its URL (only its own files, from wherever they are
    kept: a tool that echoed another job's file URL must not hand over that job's file)."""
    path = unquote(url.split(JOBS_URL_PATH + "/", 1)[1].split("?", 1)[0]) if JOBS_URL_PATH + "/" in url else None
    named = split_job_path(path) if path else None
    if named is not None and named[1] != job_id:
        named = None
    stored = await open_job_file(request, request.app.state.jobs.files, *named) if named else None
    if stored is None:
        raise Problem(404, "no-such-output", "The output file is no longer there.")
    return stored
