"""Bundle the official OGC API - Processes 1.0 schema files (tests/data/ogc-processes-1.0)
into one JSON document of OpenAPI components, shipped with the package for /ogcapi/api.

    python tools/bundle_ogc_schemas.py   # rewrites src/opengp/api/ogc/schemas.json
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests/data/ogc-processes-1.0"
TARGET = ROOT / "src/opengp/api/ogc/schemas.json"


def rewrite(node):
    """``$ref: "foo.yaml"`` (or ``foo.yaml#/x``) -> ``#/components/schemas/foo``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and ".yaml" in value:
                out[key] = "#/components/schemas/" + value.split("/")[-1].split(".yaml")[0]
            else:
                out[key] = rewrite(value)
        return out
    if isinstance(node, list):
        return [rewrite(v) for v in node]
    return node


# Defects of the 1.0 files that make the bundled document invalid OpenAPI, mended here only
# (the tests validate against the files as published).
FIXES = {
    "transmissionMode": lambda s: {**s, "default": "value"},     # published as the list ["value"]
    "execute": lambda s: {**s, "properties": {**s["properties"], "response": {   # default ["raw"]
        **s["properties"]["response"], "default": "raw"}}},
}


def main() -> None:
    schemas = {path.stem: rewrite(yaml.safe_load(path.read_text())) for path in sorted(SOURCE.glob("*.yaml"))}
    for name, fix in FIXES.items():
        schemas[name] = fix(schemas[name])
    TARGET.write_text(json.dumps(schemas, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(schemas)} schemas to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
