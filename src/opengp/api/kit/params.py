"""Reading a request as ArcGIS clients send it: query string and form body merged, the form
fields checked, whether a person asked for a page, and where a page may send one next."""
from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ...core import InvalidInput


# What the ArcGIS-style faces answer in; a resource with more (a layer query's geojson) says so
ANSWER_FORMATS = ("json", "pjson", "html")


async def read_params(request: Request, formats: tuple[str, ...] = ANSWER_FORMATS) -> dict[str, str]:
    """Query string and form body merged (body wins), as ArcGIS reads them, with ``f`` checked
    against ``formats``.  The body is held to the request's allowance as it arrives
    (api/limits.py)."""
    params = dict(request.query_params) if request.scope["query_string"] else {}
    if request.method != "POST":
        return checked_format(params, formats)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        params.update({k: v for k, v in (await read_form(request)).items() if isinstance(v, str)})
    else:
        params.update(form_fields(b"".join([chunk async for chunk in request.stream()])))
    return checked_format(params, formats)


def query_params(request: Request, formats: tuple[str, ...] = ANSWER_FORMATS) -> dict[str, str]:
    """The query string alone (for resources that take no form), ``f`` checked as above."""
    return checked_format(dict(request.query_params), formats)


def checked_format(params: dict[str, str], formats: tuple[str, ...] = ANSWER_FORMATS) -> dict[str, str]:
    """``params`` with ``f`` in lower case (ArcGIS takes ``f=PJSON``), or an ``InvalidInput``
    naming the formats this resource answers in: a client asking for ``f=kmz`` must not be
    handed JSON it did not ask for.  No ``f`` (or an empty one) is the resource's default."""
    f = params.get("f")
    if f:
        lowered = f.strip().lower()
        if lowered not in formats:
            raise InvalidInput("Unable to complete operation.", [
                f"f={f!r} is not a supported format for this resource; use {', '.join(formats)}."])
        params["f"] = lowered
    return params


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's fields.  Text that is not UTF-8, raw or percent-encoded, is an
    error: quietly replaced by U+FFFD it would reach a job as a value its sender never sent."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("Unable to complete operation.", ["The request body is not valid UTF-8."]) from None


async def read_form(request: Request, **limits: int) -> Any:
    """The multipart form (parsed once; Starlette keeps it for later calls).  A malformed one is
    an ``InvalidInput`` (Starlette raises it as an HTTP 400 of its own)."""
    try:
        return await request.form(max_part_size=request.app.state.settings.max_request_bytes, **limits)
    except (MultiPartException, HTTPException) as exc:
        why = getattr(exc, "message", None) or getattr(exc, "detail", "")
        raise InvalidInput("Unable to complete operation.", [f"Malformed multipart body: {why}"]) from None


def wants_html(request: Request, params: Mapping[str, str]) -> bool:
    """``f=html``, or no ``f`` and a browser's ``Accept: text/html``."""
    f = params.get("f")
    if f:
        return f == "html"
    return "text/html" in request.headers.get("accept", "")


def safe_next(target: str | None) -> str:
    """Where a page may send a person next: only a path on this server (never //elsewhere or a
    full URL); anything else is the services directory."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/arcgis/rest/services?f=html"
    return target
