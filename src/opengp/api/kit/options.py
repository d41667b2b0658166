"""Request-wide settings a job keeps, read the same way by every face that submits jobs."""
from __future__ import annotations

from typing import Any, Mapping

import orjson
from starlette.requests import Request

from ...config import Settings
from ...core import InvalidInput
from ...tools import geometry as geo


def job_options(request: Request, settings: Settings, params: Mapping[str, str]) -> dict[str, Any]:
    """Output SR (``env:outSR``, or ``context``'s ``outSR``) and the base URL for file links."""
    options: dict[str, Any] = {
        "base_url": base_url(request, settings),
    }
    out_sr = params.get("env:outSR") or ""
    context = params.get("context") or ""
    if context:
        try:
            ctx = orjson.loads(context)
        except orjson.JSONDecodeError:
            raise InvalidInput("Unable to complete operation.", ["'context' is not valid JSON."]) from None
        if isinstance(ctx, dict) and ctx.get("outSR"):
            options["out_sr"] = spatial_reference(ctx["outSR"])
    if out_sr:
        options["out_sr"] = spatial_reference(out_sr)
    return options


def base_url(request: Request, settings: Settings) -> str:
    """Where clients reach this server (``public_url``, else the request's own scheme, host and
    port): the start of the URLs an answer hands out."""
    return settings.public_url or str(request.base_url).rstrip("/")


def spatial_reference(value: Any) -> dict[str, Any]:
    """``3857``, ``"3857"``, ``{"wkid": 3857}`` or ``{"wkt": ...}`` -> SR JSON, checked
    now so that a job never fails later on an unknown spatial reference."""
    sr = _sr_json(value)
    try:
        geo.crs_of(sr)
    except Exception:
        raise InvalidInput("Unable to complete operation.", [f"Unknown spatial reference: {value!r}."]) from None
    return sr


def _sr_json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return {"wkid": int(text)}
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise InvalidInput("Unable to complete operation.", [f"Invalid spatial reference: {text!r}."]) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return {"wkid": value}
    if isinstance(value, dict) and ({"wkid", "latestWkid", "wkt"} & value.keys()):
        return value
    raise InvalidInput("Unable to complete operation.", [f"Invalid spatial reference: {value!r}."])
