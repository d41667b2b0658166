"""The area of interest of a product: one polygon, its CRS and its attributes.

It travels to the GenerateProduct tool as a GeoJSON Feature (a string), with
its coordinate system as a ``"crs"`` member: ``"EPSG:32633"`` (or the old
GeoJSON 2008 form ``{"type": "name", "properties": {"name": "EPSG:32633"}}``);
without one, the coordinates are WGS84 longitude/latitude as RFC 7946 says.
"""
from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any

import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Aoi:
    """The AOI polygon in ``crs``, and the attributes its title is filled from."""

    geometry: BaseGeometry
    crs: CRS
    attributes: dict[str, Any] = field(default_factory=dict)


def parse_aoi(text: str | dict[str, Any]) -> Aoi:
    """A GeoJSON Feature (or bare Polygon/MultiPolygon) -> Aoi; ValueError with a sentence when it is not one."""
    try:
        doc = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as exc:
        raise ValueError(f"The AOI is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError("The AOI must be a GeoJSON Feature object.")
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
        if len(features) != 1:
            raise ValueError(f"The AOI must be one feature; the FeatureCollection has {len(features)}.")
        doc = {**features[0], "crs": features[0].get("crs", doc.get("crs"))}
    if doc.get("type") == "Feature":
        geometry, attributes = doc.get("geometry"), doc.get("properties") or {}
    else:
        geometry, attributes = doc, {}
    if not isinstance(geometry, dict):
        raise ValueError("The AOI feature has no geometry.")
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely's errors for malformed coordinates vary
        raise ValueError(f"The AOI geometry cannot be read: {exc}") from exc
    if geom.is_empty or shapely.get_dimensions(geom) != 2:
        raise ValueError(f"The AOI must be a polygon, not {geom.geom_type if not geom.is_empty else 'empty'}.")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
        geom = shapely.union_all([p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == 2])
    if geom.area <= 0:
        raise ValueError("The AOI polygon has no area.")
    return Aoi(geom, _crs(doc.get("crs")), dict(attributes))


def _crs(member: Any) -> CRS:
    if member is None:
        return CRS.from_epsg(4326)
    if isinstance(member, dict):                     # GeoJSON 2008: {"type": "name", "properties": {"name": ...}}
        member = (member.get("properties") or {}).get("name")
    if isinstance(member, int):
        member = f"EPSG:{member}"
    try:
        return CRS.from_user_input(member)
    except (CRSError, TypeError) as exc:
        raise ValueError(f"The AOI's crs {member!r} is not a coordinate system (use e.g. \"EPSG:32633\").") from exc


def fill_title(template: str, attributes: dict[str, Any]) -> tuple[str, list[str]]:
    """The title with ``{field}`` placeholders filled from ``attributes``.

    Returns (title, missing field names); a missing field is left blank rather
    than failing the product.  ``{{`` and ``}}`` are literal braces.
    """
    missing: list[str] = []
    out: list[str] = []
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"The title template {template!r} is malformed: {exc}") from exc
    for literal, name, spec, _conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if name not in attributes or attributes[name] is None:
            missing.append(name)
            continue
        value = attributes[name]
        try:
            out.append(format(value, spec or ""))
        except (ValueError, TypeError):
            out.append(str(value))
    return "".join(out), missing
