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

from ...core import Job, Stored
from ...system.files import JOBS_URL_PATH, split_job_path
from ...runtime.storage import StoredFile
from ...store.values import RESULT
from .. import heavy
from ..files import file_response, open_job_file, read_all
from ..values import json_answer
from . import processes as P
from .dialect import Problem


def wanted_outputs(job: Job, task: Any) -> dict[str, Any]:
    """The outputs the execute request named (all of the task's when it named none)."""
    return ((job.options or {}).get("ogc", {}).get("outputs")) or {p.name: {} for p in task.outputs}


async def _part(jobs: Any, job: Job, name: str) -> P.Part | None:
    """The output's OGC forms, or None when it has no value.  A large value (kept apart:
    store/values.py) is translated in the helper process (api/heavy.py), never here."""
    r = (job.results or {}).get(name)
    if r is None or r.get("value") is None:
        return None
    if isinstance(r["value"], Stored):
        return await heavy.run(P.ogc_part_of_json, r["dataType"], await jobs.kept_apart(job.id, RESULT, name))
    return P.ogc_part(r["dataType"], r["value"])


async def results_document(jobs: Any, job: Job, task: Any) -> bytes:
    """The results document of a succeeded job, every output by value (what successUri receives)."""
    parts = {name: await _part(jobs, job, name) for name in wanted_outputs(job, task)}
    return _document({name: part.json for name, part in parts.items() if part is not None})


def _document(values: dict[str, bytes]) -> bytes:
    """A JSON object of the outputs' JSON, put together around each one's own bytes."""
    return b"{%b}" % b",".join(orjson.dumps(name) + b":" + value for name, value in values.items())


async def results_response(request: Request, job: Job, task: Any, base: str, only: str | None = None) -> Response:
    """The results as the execute request asked (module docstring); ``only``: one output
    by value, whatever was asked (``/jobs/{id}/results/{output}``)."""
    jobs = request.app.state.jobs
    raw = (job.options or {}).get("ogc", {}).get("response", "raw") != "document"
    wanted = {only: {}} if only is not None else wanted_outputs(job, task)
    parts: dict[str, P.Part] = {}
    links: dict[str, str] = {}
    for name, how in wanted.items():
        r = (job.results or {}).get(name)
        if r is None or r.get("value") is None:
            continue
        if (how or {}).get("transmissionMode") == "reference":
            file_url = r["value"].get("url") if isinstance(r["value"], dict) else None
            links[name] = file_url or f"{base}/jobs/{job.id}/results/{name}"
        elif (part := await _part(jobs, job, name)) is not None:
            parts[name] = part
    if only is not None:
        if only not in parts:
            raise Problem(404, "no-such-output", f"Job '{job.id}' has no value for output '{only}'.")
        return await _raw(request, job.id, parts[only])
    if not raw or not (parts or links):
        values = {name: part.json for name, part in parts.items()}
        values.update({name: orjson.dumps({"href": href}) for name, href in links.items()})
        return json_answer(_document({name: values[name] for name in wanted if name in values}))
    if not parts:
        link = ", ".join(f'<{href}>; rel="{name}"' for name, href in links.items())
        return Response(status_code=204, headers={"Link": link})
    if len(parts) == 1 and not links:
        return await _raw(request, job.id, next(iter(parts.values())))
    return await _multipart(request, job.id, [(name, parts.get(name), links.get(name)) for name in wanted
                                              if name in parts or name in links])


async def _raw(request: Request, job_id: str, part: P.Part) -> Response:
    """One output by value as itself."""
    if part.href is not None:
        return file_response(await _open_file(request, job_id, part.href))   # a file: its content
    return json_answer(part.content or b"", media_type=part.media_type)


async def _content(request: Request, job_id: str, part: P.Part) -> tuple[bytes, str]:
    """An output value's bytes and media type, as ``raw`` sends it."""
    if part.href is not None:
        return await read_all(await _open_file(request, job_id, part.href)), part.media_type
    return part.content or b"", part.media_type


async def _multipart(request: Request, job_id: str, outputs: list[tuple[str, P.Part | None, str | None]]) -> Response:
    """``multipart/related`` (RFC 2387): one part per output, ``Content-ID: <output id>``;
    the root (first) part's type is the ``type`` parameter, as RFC 2387 requires.  An output
    by reference is an empty part with its ``Content-Location``."""
    boundary = "ogc-" + secrets.token_hex(12)
    chunks, root_type = [], None
    for name, part, href in outputs:
        if part is None:
            headers, content, media_type = [f"Content-Location: {href}"], b"", "application/octet-stream"
        else:
            content, media_type = await _content(request, job_id, part)
            headers = [f"Content-Type: {media_type}"]
        root_type = root_type or media_type.split(";")[0]
        head = "\r\n".join([f"--{boundary}", f"Content-ID: <{name}>", *headers]) + "\r\n\r\n"
        chunks += [head.encode(), content, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return json_answer(b"".join(chunks), media_type=f'multipart/related; boundary="{boundary}"; type="{root_type}"')


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
