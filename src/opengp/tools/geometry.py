"""Esri JSON geometries <-> shapely, and reprojection with pyproj.

Esri polygons list rings flat; exterior rings run clockwise and holes
counter-clockwise.  We read both orientations (rings from sloppy writers
included: a ring that no exterior contains becomes an exterior) and always
write the Esri orientation.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import shapely
import shapely.errors
from pyproj import CRS, Transformer
from shapely.geometry import (
    LinearRing, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon, box, shape,
)
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

POINT = "esriGeometryPoint"
MULTIPOINT = "esriGeometryMultipoint"
POLYLINE = "esriGeometryPolyline"
POLYGON = "esriGeometryPolygon"
ENVELOPE = "esriGeometryEnvelope"

WGS84 = {"wkid": 4326}


def _coord(c: Any, dims: int) -> tuple[float, ...]:
    if not isinstance(c, (list, tuple)) or len(c) < 2:
        raise ValueError(f"a coordinate must be [x, y] or [x, y, z], got {c!r}")
    return tuple(float(v) for v in c[:dims] if v is not None)


def _is_nan(v: Any) -> bool:
    return v is None or v == "NaN" or (isinstance(v, float) and v != v)


def from_esri(g: dict[str, Any] | None, has_z: bool | None = None, has_m: bool | None = None) -> BaseGeometry | None:
    """One Esri JSON geometry -> a shapely geometry (None stays None).

    Coordinates are ``[x, y]``, ``[x, y, z]``, ``[x, y, m]`` or ``[x, y, z, m]``:
    which one the geometry's own ``hasZ``/``hasM`` say, else ``has_z``/``has_m``
    (the feature set's).  Without either, a third value is read as z.  M values
    are dropped.
    """
    if g is None:
        return None
    if not isinstance(g, dict):
        raise ValueError(f"a geometry must be a JSON object, got {type(g).__name__}")
    has_z = g.get("hasZ", has_z)
    has_m = g.get("hasM", has_m)
    dims = 2 if has_m and not has_z else 3
    try:
        return _from_esri(g, dims)
    except shapely.errors.ShapelyError as exc:   # e.g. a path of one point
        raise ValueError(str(exc).strip()) from None


def _from_esri(g: dict[str, Any], dims: int) -> BaseGeometry:
    if "x" in g:
        if _is_nan(g["x"]):
            return Point()
        z = g.get("z")
        return Point(float(g["x"]), float(g["y"]), float(z)) if z is not None else Point(float(g["x"]), float(g["y"]))
    if "points" in g:
        return MultiPoint([_coord(c, dims) for c in _array(g["points"], "points")])
    if "paths" in g:
        paths = [LineString(_path(p, dims)) for p in _array(g["paths"], "paths")]
        return paths[0] if len(paths) == 1 else MultiLineString(paths)
    if "rings" in g:
        return _polygon([[_coord(c, dims) for c in _array(r, "a ring")] for r in _array(g["rings"], "rings")])
    if "xmin" in g:
        if _is_nan(g["xmin"]):
            return Polygon()
        return box(float(g["xmin"]), float(g["ymin"]), float(g["xmax"]), float(g["ymax"]))
    if "curvePaths" in g or "curveRings" in g:
        raise ValueError("true curves are not supported; send densified geometries")
    raise ValueError(f"not an Esri geometry (keys: {sorted(g)})")


def _path(p: Any, dims: int) -> list[tuple[float, ...]]:
    coords = [_coord(c, dims) for c in _array(p, "a path")]
    if len(coords) == 1:
        raise ValueError("a path needs at least 2 points")
    return coords


def _array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a JSON array, got {type(value).__name__}")
    return value


def _polygon(rings: list[list[tuple[float, ...]]]) -> Polygon | MultiPolygon:
    """Esri rings -> polygons: clockwise rings are exteriors, counter-clockwise ones holes.

    Each hole goes to the smallest exterior that covers it (an island inside a
    lake inside a park: the lake is the park's hole, not the island's).
    """
    shells: list[Polygon] = []
    holes: list[LinearRing] = []
    for coords in rings:
        if len(coords) < 3:
            raise ValueError("a polygon ring needs at least 3 points")
        ring = LinearRing(coords)
        if ring.is_ccw:
            holes.append(ring)
        else:
            shells.append(Polygon(ring))
    owned: list[list[LinearRing]] = [[] for _ in shells]
    areas = [s.area for s in shells]
    for hole in holes:
        inner = Polygon(hole)
        owners = [i for i, s in enumerate(shells) if s.covers(inner)]
        if not owners:          # a counter-clockwise exterior: accept it as one
            shells.append(inner)
            areas.append(inner.area)
            owned.append([])
        else:
            owned[min(owners, key=areas.__getitem__)].append(hole)
    polys = [Polygon(s.exterior, h) for s, h in zip(shells, owned)]
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def geometry_type(geom: BaseGeometry | None) -> str | None:
    """The Esri geometryType of a shapely geometry."""
    if geom is None:
        return None
    return {
        "Point": POINT, "MultiPoint": MULTIPOINT,
        "LineString": POLYLINE, "MultiLineString": POLYLINE, "LinearRing": POLYLINE,
        "Polygon": POLYGON, "MultiPolygon": POLYGON,
    }.get(geom.geom_type) or _unsupported(geom)


def _unsupported(geom: BaseGeometry) -> str:
    raise ValueError(f"{geom.geom_type} geometries cannot be sent as Esri JSON")


def to_esri(geom: BaseGeometry | None) -> dict[str, Any] | None:
    """A shapely geometry -> Esri JSON (no spatialReference: the feature set carries it)."""
    if geom is None:
        return None
    kind = geometry_type(geom)
    if geom.is_empty:
        return {"x": None, "y": None} if kind == POINT else {
            MULTIPOINT: {"points": []}, POLYLINE: {"paths": []}, POLYGON: {"rings": []}}[kind]
    if kind == POINT:
        out = {"x": geom.x, "y": geom.y}
        if geom.has_z:
            out["z"] = geom.z
        return out
    if kind == MULTIPOINT:
        return {"points": [list(p.coords[0]) for p in geom.geoms]}
    if kind == POLYLINE:
        lines = geom.geoms if hasattr(geom, "geoms") else [geom]
        return {"paths": [[list(c) for c in line.coords] for line in lines]}
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    rings: list[list[list[float]]] = []
    for poly in polys:
        poly = orient(poly, sign=-1.0)     # exterior clockwise, holes counter-clockwise
        rings.append([list(c) for c in poly.exterior.coords])
        rings.extend([list(c) for c in hole.coords] for hole in poly.interiors)
    return {"rings": rings}


def from_geojson(g: dict[str, Any]) -> BaseGeometry:
    return shape(g)


def has_z(geoms: list[BaseGeometry | None]) -> bool:
    return any(g is not None and not g.is_empty and g.has_z for g in geoms)


# -- spatial references ------------------------------------------------------

def sr_key(sr: dict[str, Any] | None) -> int | str | None:
    """What identifies a spatial reference: its (latest) WKID or its WKT."""
    if not sr:
        return None
    return sr.get("latestWkid") or sr.get("wkid") or sr.get("wkt")


def same_sr(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if not a or not b:
        return sr_key(a) == sr_key(b)
    ids_a = {a.get("wkid"), a.get("latestWkid")} - {None}
    ids_b = {b.get("wkid"), b.get("latestWkid")} - {None}
    return bool(ids_a & ids_b) or (a.get("wkt") is not None and a.get("wkt") == b.get("wkt"))


@lru_cache(maxsize=256)
def crs(key: int | str) -> CRS:
    """A WKID (EPSG or Esri authority) or a WKT string -> pyproj CRS."""
    if isinstance(key, str):
        return CRS.from_user_input(key)
    for authority in ("EPSG", "ESRI"):
        try:
            return CRS.from_authority(authority, str(key))
        except Exception:
            continue
    raise ValueError(f"unknown spatial reference wkid {key}")


def crs_of(sr: dict[str, Any]) -> CRS:
    key = sr_key(sr)
    if key is None:
        raise ValueError(f"a spatial reference needs a wkid or wkt, got {sr!r}")
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        try:
            return crs(int(key))
        except ValueError:
            if sr.get("wkid") and sr.get("wkid") != key:
                return crs(int(sr["wkid"]))
            raise
    return crs(key)


@lru_cache(maxsize=256)
def _transformer(src: CRS, dst: CRS) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def transformer(src: dict[str, Any], dst: dict[str, Any]) -> Transformer:
    return _transformer(crs_of(src), crs_of(dst))


def project(geom: BaseGeometry | None, t: Transformer) -> BaseGeometry | None:
    """``geom`` with every coordinate passed through ``t`` (z kept when present)."""
    if geom is None or geom.is_empty:
        return geom
    if geom.has_z:
        return shapely.transform(geom, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1], c[:, 2])),
                                 include_z=True)
    return shapely.transform(geom, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))


def is_geographic(sr: dict[str, Any]) -> bool:
    return crs_of(sr).is_geographic


def valid(geom: BaseGeometry) -> BaseGeometry:
    """Repair self-intersections so overlay operations do not raise."""
    return geom if geom.is_valid else shapely.make_valid(geom)
