"""GP tasks as OGC processes: ids, descriptions (JSON Schema from the same
parameter definitions as the GP face), and values translated both ways.

A process id is ``<folder>.<service>.<task>`` (``<service>.<task>`` in the
root folder): stable as long as the service and task keep their names.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from ...tools.gptypes import known_type
from ...tools.params import ParamSpec, ToolSpec
from ...tools.registry import Registry, Service

GEOJSON = "application/geo+json"
# every process runs both ways, whatever its service's execution type (modes.py)
JOB_CONTROL = ("sync-execute", "async-execute", "dismiss")


def process_id(service: Service, task: ToolSpec) -> str:
    return f"{service.key.replace('/', '.')}.{task.name}"


def find(registry: Registry, pid: str) -> tuple[Service, ToolSpec] | None:
    for service in registry.services.values():
        prefix = service.key.replace("/", ".") + "."
        if pid.startswith(prefix) and pid[len(prefix):] in service.tools:
            return service, service.tools[pid[len(prefix):]]
    return None


def all_processes(registry: Registry) -> list[tuple[Service, ToolSpec]]:
    return sorted(((s, t) for s in registry.services.values() for t in s.tools.values()),
                  key=lambda st: process_id(*st))


def schema(p: ParamSpec) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0 flavour, as OGC 1.0 uses) of one parameter."""
    out = value_schema(p.data_type)
    if p.choices is not None:
        out["enum"] = list(p.choices)
    default = p.gp.describe_default(p.default) if not p.output and p.default is not None else None
    if default is not None:         # as the schema spells a value (a date's default in RFC 3339)
        out["default"] = p.gp.open_value(default)
    return out


def value_schema(data_type: str) -> dict[str, Any]:
    """The JSON Schema of one value of a GP data type (the type says: ``GPType.schema``)."""
    gp = known_type(data_type)
    return gp.schema if gp is not None else {"type": "string"}     # a type this server no longer knows


@lru_cache(maxsize=256)
def value_type(data_type: str) -> str:
    """The JSON type of one value of a GP data type (``value_schema``'s ``type``)."""
    return str(value_schema(data_type)["type"])


def summary(service: Service, task: ToolSpec, base: str) -> dict[str, Any]:
    pid = process_id(service, task)
    return {
        "id": pid, "version": "1.0.0", "title": task.display_name, "description": task.description,
        "keywords": [k for k in (task.category, service.key) if k],
        "jobControlOptions": list(JOB_CONTROL),
        "outputTransmission": ["value", "reference"],
        "links": [{"href": f"{base}/processes/{pid}", "rel": "self", "type": "application/json",
                   "title": "Process description"}],
    }


def description(service: Service, task: ToolSpec, base: str) -> dict[str, Any]:
    pid = process_id(service, task)
    out = summary(service, task, base)
    out["inputs"] = {p.name: {"title": p.display_name, "description": p.description, "schema": schema(p),
                              "minOccurs": 1 if p.required else 0, "maxOccurs": 1} for p in task.inputs}
    out["outputs"] = {p.name: {"title": p.display_name, "description": p.description, "schema": schema(p)}
                      for p in task.outputs}
    out["links"].append({"href": f"{base}/processes/{pid}/execution", "type": "application/json",
                         "rel": "http://www.opengis.net/def/rel/ogc/1.0/execute", "title": "Execute"})
    return out


# -- outputs: GP results -> OGC values -------------------------------------------
def ogc_value(data_type: str, value: Any) -> Any:
    """A stored GP result as an OGC inline value: a file by reference, objects as qualified
    values, each in its type's open form (``GPType.open_value``: RFC 3339 dates, GeoJSON)."""
    gp = known_type(data_type)      # None: a type this server no longer knows, as it was stored
    if gp is not None and gp.is_file and isinstance(value, dict) and value.get("url"):
        return {"href": value["url"], "type": "application/octet-stream"}
    if gp is not None:
        value = gp.open_value(value)
    if isinstance(value, dict):
        return {"value": value, "mediaType": gp.media_type if gp is not None else "application/json"}
    return value


@dataclass(frozen=True)
class Part:
    """One output, as the OGC face sends it: ``json``, its inline value in a results document;
    ``content`` and ``media_type``, what ``raw`` sends of it; ``href``, a file sent from its URL
    instead (``content`` is then None)."""

    json: bytes
    content: bytes | None
    media_type: str
    href: str | None = None


def ogc_part(data_type: str, value: Any) -> Part:
    """A stored GP result's OGC forms (``ogc_value``)."""
    ogc = ogc_value(data_type, value)
    if isinstance(ogc, dict) and "href" in ogc and set(ogc) <= {"href", "type"}:
        return Part(orjson.dumps(ogc), None, ogc.get("type", "application/octet-stream"), ogc["href"])
    if isinstance(ogc, dict) and "value" in ogc:         # a qualified value: its value is what raw sends
        content = orjson.dumps(ogc["value"])
        return Part(b'{"value":' + content + b',"mediaType":' + orjson.dumps(ogc["mediaType"]) + b"}",
                    content, ogc["mediaType"])
    json = orjson.dumps(ogc)
    if isinstance(ogc, str):
        return Part(json, ogc.encode(), "text/plain; charset=utf-8")
    return Part(json, json, "application/json")


def ogc_part_of_json(data_type: str, raw: bytes) -> Part:
    """``ogc_part`` of a value given as its JSON (a large one: run in the helper process, api/heavy.py)."""
    return ogc_part(data_type, orjson.loads(raw))
