"""Execute-request inputs -> the GP form the job service validates (``ToolSpec.validate``).

What an input value may be (OGC 1.0 ``execute.yaml``, §5.1 of the summary):

- inline: a literal, an array (``maxOccurs > 1``: GPMultiValue), or a qualified value
  ``{"value": ..., "mediaType", "encoding", "schema"}`` (objects must be qualified);
- binary, for file inputs: a base64 string, or a qualified value (``encoding`` base64 by
  default; ``utf-8``/``binary``/``7bit``/``8bit`` for a string that is the content itself;
  an object value is the content as JSON).  The bytes are kept like an
  ``uploads/upload`` file (``settings.max_upload_bytes``) and the job gets its itemID;
- by reference ``{"href": ..., "type": ...}``: for a file input the href is the file's
  URL (the worker reads it); for any other input the server GETs it now, through the
  one outbound guard (``system.urls.fetch``, ``allow_private_urls``, at most
  ``settings.max_request_bytes``), and reads it as the inline value;
- a bounding box ``{"bbox": [minx, miny, maxx, maxy(, ...)], "crs": ...}`` for feature
  inputs: one polygon.

Anything else, or a value of the wrong shape, is an ``InvalidInput`` naming the input.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import mimetypes
import re
from dataclasses import dataclass
from typing import Any

import orjson

from ...core import InvalidInput, RequestTooLarge
from ...system.urls import fetch
from ...tools.params import ParamSpec, ToolSpec
from .processes import value_type

_LINK_KEYS = {"href", "type", "rel", "title", "hreflang"}
_TEXT_ENCODINGS = {"utf-8", "utf8", "binary", "7bit", "8bit"}
_CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84", "CRS84")
_EPSG = re.compile(r"(?:https?://www\.opengis\.net/def/crs/EPSG/0/|urn:ogc:def:crs:EPSG:[\d.]*:|EPSG:)(\d+)$")


@dataclass(frozen=True)
class Sources:
    """Where inputs that are not inline come from: ``jobs.save_upload`` keeps decoded
    files; references are fetched with these limits."""

    jobs: Any
    allow_private: bool
    max_fetch_bytes: int
    max_upload_bytes: int


def _bad(p: ParamSpec, why: str) -> InvalidInput:
    return InvalidInput("Invalid execute request.", [f"Input '{p.name}': {why}"])


async def gp_form(task: ToolSpec, inputs: Any, sources: Sources) -> dict[str, Any]:
    """OGC input values -> the values ``ToolSpec.validate`` takes (it checks them)."""
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise InvalidInput("Invalid execute request.", ["'inputs' must be a JSON object keyed by input id."])
    known = {p.name: p for p in task.inputs}
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise InvalidInput("Invalid execute request.", [f"Unknown input(s): {', '.join(unknown)}."])
    return {name: await _gp_value(known[name], value, sources) for name, value in inputs.items()}


async def _gp_value(p: ParamSpec, value: Any, sources: Sources) -> Any:
    is_file = p.gp.is_file
    if isinstance(value, dict) and "href" in value and set(value) <= _LINK_KEYS:
        if is_file:
            return orjson.dumps({"url": value["href"]}).decode()
        value = await _fetched(p, value, sources)
    elif is_file and (isinstance(value, str) or (isinstance(value, dict) and "value" in value)):
        return orjson.dumps({"itemID": await _kept(p, value, sources)}).decode()
    elif isinstance(value, dict) and "bbox" in value and p.gp.form == "features":
        value = _bbox_features(p, value)
    elif isinstance(value, dict) and "value" in value:            # a qualified value
        value = value["value"]
    expected = value_type(p.data_type)
    if isinstance(value, list) != (expected == "array") or (isinstance(value, dict) and expected != "object"):
        got = "an array" if isinstance(value, list) else "an object" if isinstance(value, dict) else "a single value"
        raise _bad(p, f"expected {expected}, got {got}.")
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


async def _fetched(p: ParamSpec, link: dict[str, Any], sources: Sources) -> Any:
    """A non-file input by reference: GET it now and read it as the inline value would be."""
    href = link["href"]
    try:
        body, kind = await asyncio.to_thread(fetch, href, allow_private=sources.allow_private,
                                             max_bytes=sources.max_fetch_bytes)
    except ValueError as exc:
        raise _bad(p, f"its reference cannot be used: {exc}.") from None
    kind = (link.get("type") or kind or "").split(";")[0].strip().lower()
    if value_type(p.data_type) == "string" and not kind.endswith("json"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(p, f"{href} is not UTF-8 text.") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _bad(p, f"{href} is not JSON ({kind or 'no content type'}).") from None


async def _kept(p: ParamSpec, value: Any, sources: Sources) -> str:
    """A file input by value: decode it and keep it as an upload; returns its itemID."""
    media_type, encoding = "application/octet-stream", "base64"
    if isinstance(value, dict):
        media_type = str(value.get("mediaType") or media_type)
        encoding = str(value.get("encoding") or ("json" if isinstance(value["value"], (dict, list)) else "base64"))
        value = value["value"]
    encoding = encoding.lower()
    if encoding == "json":
        data = orjson.dumps(value)
    elif not isinstance(value, str):
        raise _bad(p, "a file given inline is a base64 string (or a qualified value with one).")
    elif encoding in _TEXT_ENCODINGS:
        data = value.encode("utf-8")
    elif encoding == "base64":
        if len(value) // 4 * 3 > sources.max_upload_bytes + 3:
            raise _too_large(p, sources.max_upload_bytes)
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(p, "not valid base64.") from None
    else:
        raise _bad(p, f"unknown encoding {encoding!r}; use base64 (or utf-8 for text).")
    name = p.name + (mimetypes.guess_extension(media_type.split(";")[0].strip()) or ".bin")
    item_id = (await sources.jobs.save_upload(name, io.BytesIO(data), sources.max_upload_bytes)).item_id
    return item_id


def _too_large(p: ParamSpec, limit: int) -> Exception:
    return RequestTooLarge("Invalid execute request.", [f"Input '{p.name}' exceeds the {limit}-byte upload limit."])


def _bbox_features(p: ParamSpec, value: dict[str, Any]) -> dict[str, Any]:
    """``bbox.yaml`` -> an Esri JSON feature set of one polygon (CRS84 by default; an
    EPSG CRS is read in its own axis order, so EPSG:4326 is lat, lon)."""
    box = value.get("bbox")
    if (not isinstance(box, list) or len(box) not in (4, 6)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
        raise _bad(p, "a bbox is an array of 4 (or 6) numbers.")
    lo, hi = (box[:2], box[2:]) if len(box) == 4 else (box[:2], box[3:5])
    crs = str(value.get("crs") or _CRS84[0])
    if crs in _CRS84:
        wkid, swap = 4326, False
    else:
        m = _EPSG.match(crs)
        if m is None:
            raise _bad(p, f"unknown crs {crs!r}; use CRS84 or an EPSG URI.")
        wkid = int(m.group(1))
        swap = wkid == 4326
    (x0, y0), (x1, y1) = ((lo[1], lo[0]), (hi[1], hi[0])) if swap else (lo, hi)
    ring = [[x0, y0], [x0, y1], [x1, y1], [x1, y0], [x0, y0]]        # clockwise: an outer ring
    return {"geometryType": "esriGeometryPolygon", "spatialReference": {"wkid": wkid},
            "features": [{"geometry": {"rings": [ring]}, "attributes": {}}]}
