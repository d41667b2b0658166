"""A feature layer's ``query`` operation: parameters in, features out.

``parse_query`` checks every parameter (a bad one is InvalidInput naming it,
never a server error), ``select`` applies them to the layer's frame, and the
selection renders as ArcGIS JSON, GeoJSON or a FeatureSet for a GP tool.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from ..core import InvalidInput
from ..tools import geometry as geo
from ..tools.gptypes import flag
from ..tools.values import Feature, FeatureSet
from .catalog import OID_TYPE, Layer, sr_json
from .where import Where, WhereError, parse_where

MAX_RECORD_COUNT = 2000
FORMATS = ("json", "pjson", "geojson")
_RELATIONS = {
    "esrispatialrelintersects": "intersects",
    "esrispatialrelenvelopeintersects": "envelope",
    "esrispatialrelcontains": "contains",      # the query geometry contains the feature
    "esrispatialrelwithin": "within",          # the query geometry is within the feature
}


def bad(parameter: str, why: str) -> InvalidInput:
    return InvalidInput("Unable to complete operation.", [f"Invalid '{parameter}' parameter: {why}"])


@dataclass(frozen=True)
class Query:
    """A checked query: what to select, and how to return it."""

    where: Where | None = None
    object_ids: tuple[int, ...] | None = None
    geometry: BaseGeometry | None = None           # already in the layer's SR
    relation: str = "intersects"
    out_fields: tuple[str, ...] = ()
    return_geometry: bool = True
    out_sr: dict[str, Any] | None = None
    offset: int = 0
    count: int | None = None                      # None: every matching feature
    order_by: tuple[tuple[str, bool], ...] = ()   # (column, ascending)
    count_only: bool = False
    ids_only: bool = False
    extent_only: bool = False
    format: str = "json"


@dataclass
class Selection:
    """The features a query selected, and what to show of them."""

    layer: Layer
    frame: gpd.GeoDataFrame
    columns: list[str]
    geometry: bool
    sr: dict[str, Any] | None
    exceeded: bool = False
    fields: list[dict[str, Any]] = field(default_factory=list)


def parse_query(layer: Layer, params: Mapping[str, str], *, max_records: int | None = MAX_RECORD_COUNT) -> Query:
    """Check ``params`` (form fields, as strings) against ``layer``; InvalidInput on the first bad one.

    ``max_records`` caps one page (None: no cap, for tools reading a whole layer).
    """
    text = (params.get("where") or "").strip()
    try:
        where = parse_where(text, layer.where_fields) if text else None
    except WhereError as exc:
        raise bad("where", str(exc)) from None
    fmt = (params.get("f") or "json").lower()
    if fmt not in FORMATS:
        raise bad("f", f"{fmt!r} is not a supported format; use json, pjson or geojson")
    count = _int(params, "resultRecordCount", minimum=1)
    if max_records is not None:
        count = min(count or max_records, max_records)
    geometry, relation = _geometry_filter(layer, params)
    out_sr = _out_sr(params.get("outSR"))
    if out_sr is not None and layer.spatial_reference is None:
        raise bad("outSR", "this layer's file has no spatial reference, so its features cannot be projected")
    if out_sr is None and fmt == "geojson":
        out_sr = dict(geo.WGS84)
    return Query(
        where=where,
        object_ids=_object_ids(params.get("objectIds")),
        geometry=geometry,
        relation=relation,
        out_fields=_out_fields(layer, params.get("outFields")),
        return_geometry=_bool(params, "returnGeometry", True),
        out_sr=out_sr,
        offset=_int(params, "resultOffset", minimum=0) or 0,
        count=count,
        order_by=_order_by(layer, params.get("orderByFields")),
        count_only=_bool(params, "returnCountOnly", False),
        ids_only=_bool(params, "returnIdsOnly", False),
        extent_only=_bool(params, "returnExtentOnly", False),
        format="json" if fmt == "pjson" else fmt,
    )


def _bool(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = flag(params.get(name), default)
    if value is None:
        raise bad(name, f"expected true or false, got {(params.get(name) or '').strip()[:40]!r}")
    return value


def _int(params: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 12 or int(value) < minimum:
        raise bad(name, f"expected a whole number of at least {minimum}, got {value[:40]!r}")
    return int(value)


def _object_ids(value: str | None) -> tuple[int, ...] | None:
    text = (value or "").strip().strip("[]")
    if not text:
        return None
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isascii() or not part.lstrip("-").isdigit() or len(part) > 19:
            raise bad("objectIds", f"expected comma-separated integers, got {part[:40]!r}")
        ids.append(int(part))
    return tuple(ids)


def _out_fields(layer: Layer, value: str | None) -> tuple[str, ...]:
    """``*``, or a comma list of fields (any case); by default the object id alone, as ArcGIS."""
    text = (value or "").strip()
    if not text:
        return (layer.object_id_field,)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if "*" in names:
        return tuple(layer.attribute_columns)
    out = []
    for name in names:
        column = layer.field_named(name.strip('"'))
        if column is None:
            raise bad("outFields", f"unknown field {name[:60]!r}; fields are: {', '.join(layer.attribute_columns)}")
        if column not in out:
            out.append(column)
    return tuple(out)


def _order_by(layer: Layer, value: str | None) -> tuple[tuple[str, bool], ...]:
    out = []
    for part in (value or "").split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise bad("orderByFields", f"expected 'field [ASC|DESC]', got {part.strip()[:60]!r}")
        column = layer.field_named(words[0])
        if column is None:
            raise bad("orderByFields", f"unknown field {words[0][:60]!r}")
        out.append((column, len(words) == 1 or words[1].upper() == "ASC"))
    return tuple(out)


def parse_sr(value: Any, parameter: str) -> dict[str, Any] | None:
    """``3857``, ``{"wkid": 3857}`` or ``{"wkt": ...}`` -> SR JSON that pyproj knows, or None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and len(text) < 10:
            value = int(text)
        else:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise bad(parameter, f"expected a WKID or {{\"wkid\": ...}}, got {text[:60]!r}") from None
    sr = {"wkid": value} if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(sr, dict) or not ({"wkid", "latestWkid", "wkt"} & sr.keys()):
        raise bad(parameter, f"expected a WKID or {{\"wkid\": ...}}, got {str(value)[:60]!r}")
    try:
        geo.crs_of(sr)
    except Exception:
        raise bad(parameter, f"unknown spatial reference {str(value)[:60]}") from None
    return sr


def _out_sr(value: str | None) -> dict[str, Any] | None:
    return parse_sr(value, "outSR")


def _geometry_filter(layer: Layer, params: Mapping[str, str]) -> tuple[BaseGeometry | None, str]:
    """``geometry`` (``xmin,ymin,xmax,ymax`` or Esri JSON) in ``inSR``, moved into the layer's SR."""
    text = (params.get("geometry") or "").strip()
    relation = (params.get("spatialRel") or "esriSpatialRelIntersects").strip()
    if relation.lower() not in _RELATIONS:
        raise bad("spatialRel", f"{relation[:60]!r} is not supported; use one of "
                                "esriSpatialRelIntersects, esriSpatialRelEnvelopeIntersects, "
                                "esriSpatialRelContains, esriSpatialRelWithin")
    if not text:
        return None, _RELATIONS[relation.lower()]
    in_sr = parse_sr(params.get("inSR"), "inSR")
    if text.startswith("{"):
        try:
            value = orjson.loads(text)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            shape = geo.from_esri(value)
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
            raise bad("geometry", f"not an Esri JSON geometry: {exc}") from None
        if in_sr is None and isinstance(value.get("spatialReference"), dict):
            in_sr = parse_sr(value["spatialReference"], "geometry")
    else:
        try:
            numbers = [float(v) for v in text.split(",")]
        except ValueError:
            raise bad("geometry", f"expected 'xmin,ymin,xmax,ymax', 'x,y' or Esri JSON, got {text[:60]!r}") from None
        if len(numbers) not in (2, 4):
            raise bad("geometry", f"expected 'xmin,ymin,xmax,ymax', 'x,y' or Esri JSON, got {text[:60]!r}")
        if not all(math.isfinite(v) for v in numbers):      # before shapely sees them: it fails on NaN
            raise bad("geometry", "coordinates must be finite numbers")
        shape = box(*numbers) if len(numbers) == 4 else shapely.Point(numbers)
    if shape is None:
        raise bad("geometry", "no geometry given")
    _finite(shape, "coordinates must be finite numbers")
    layer_sr = layer.spatial_reference
    if in_sr is not None and layer_sr is not None and not geo.same_sr(in_sr, layer_sr):
        try:
            shape = geo.project(shape, geo.transformer(in_sr, layer_sr))
        except Exception as exc:
            raise bad("inSR", f"cannot project the query geometry to the layer's SR: {exc}") from None
        _finite(shape, "the geometry lies outside the area its spatial reference can be projected from")
    if not shape.is_valid:          # self-crossing or overlapping rings: GEOS predicates misjudge them
        shape = shapely.make_valid(shape)
    return shape, _RELATIONS[relation.lower()]


def _finite(shape: BaseGeometry, why: str) -> None:
    if not np.isfinite(shapely.get_coordinates(shape)).all():
        raise bad("geometry", why)


def select(layer: Layer, query: Query) -> Selection | int | list[int] | dict[str, Any]:
    """The selected features; a count for ``returnCountOnly``, ids for ``returnIdsOnly``, the
    extent (with the count when both are asked) for ``returnExtentOnly``."""
    frame = layer.frame
    oid = layer.object_id_field
    keep = np.ones(len(frame), dtype=bool)
    if query.where is not None:
        try:
            keep &= query.where.mask(frame)
        except WhereError as exc:           # the parser checks all it can; this is a backstop
            raise bad("where", str(exc)) from None
    if query.object_ids is not None:
        keep &= frame[oid].isin(query.object_ids).to_numpy()
    if query.geometry is not None:
        try:
            keep &= _spatial(frame.geometry, query.geometry, query.relation)
        except shapely.errors.GEOSException as exc:
            raise bad("geometry", f"cannot relate the query geometry to the features: {exc}") from None
    chosen = frame[keep]
    if query.extent_only:
        extent = {"extent": _extent(layer, chosen, query.out_sr)}
        return {"count": int(len(chosen)), **extent} if query.count_only else extent
    if query.count_only:
        return int(len(chosen))
    order = list(query.order_by) or [(oid, True)]
    if order != [(oid, True)] or not chosen[oid].is_monotonic_increasing:
        chosen = chosen.sort_values([c for c, _ in order], ascending=[a for _, a in order], kind="stable")
    if query.ids_only:
        return [int(v) for v in chosen[oid]]
    total = len(chosen)
    end = total if query.count is None else query.offset + query.count
    chosen = chosen.iloc[query.offset:end]
    sr = layer.spatial_reference
    if query.return_geometry and query.out_sr is not None and sr is not None and not geo.same_sr(query.out_sr, sr):
        try:
            chosen = chosen.to_crs(geo.crs_of(query.out_sr))
        except Exception as exc:
            raise bad("outSR", f"cannot project to {query.out_sr}: {exc}") from None
        sr = query.out_sr
    columns = list(query.out_fields)
    by_name = {f["name"]: f for f in layer.fields}
    return Selection(layer, chosen, columns, query.return_geometry, sr, exceeded=end < total,
                     fields=[by_name[c] for c in columns])


def _extent(layer: Layer, chosen: gpd.GeoDataFrame, out_sr: dict[str, Any] | None) -> dict[str, Any]:
    """The envelope of the chosen features, in ``out_sr`` when given.  With nothing to bound
    ArcGIS answers "NaN" corners, and so do we."""
    sr = layer.spatial_reference
    geoms = chosen.geometry[~(chosen.geometry.isna() | chosen.geometry.is_empty)]
    if out_sr is not None and sr is not None and not geo.same_sr(out_sr, sr) and len(geoms):
        try:
            geoms = geoms.to_crs(geo.crs_of(out_sr))
        except Exception as exc:
            raise bad("outSR", f"cannot project to {out_sr}: {exc}") from None
    if out_sr is not None:
        sr = out_sr
    if not len(geoms):
        return {"xmin": "NaN", "ymin": "NaN", "xmax": "NaN", "ymax": "NaN", "spatialReference": sr}
    xmin, ymin, xmax, ymax = (float(v) for v in geoms.total_bounds)
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax, "spatialReference": sr}


def _spatial(geoms: gpd.GeoSeries, shape: BaseGeometry, relation: str) -> np.ndarray:
    values = geoms.values
    present = ~(geoms.isna().to_numpy() | geoms.is_empty.to_numpy())
    if relation == "envelope":
        hit = geoms.envelope.intersects(shape.envelope).to_numpy()
    elif relation == "contains":
        hit = shapely.contains(shape, np.asarray(values))
    elif relation == "within":
        hit = shapely.within(shape, np.asarray(values))
    else:
        hit = geoms.intersects(shape).to_numpy()
    return np.asarray(hit, dtype=bool) & present


# -- output ------------------------------------------------------------------

def _column_values(series: pd.Series, field_type: str) -> list[Any]:
    """A column as JSON values: NaN and NaT are null, dates epoch milliseconds."""
    nulls = series.isna().to_numpy()
    if field_type == "esriFieldTypeDate":
        ms = series.to_numpy(dtype="datetime64[ms]").astype("int64")
        return [None if n else int(v) for v, n in zip(ms, nulls)]
    if field_type in (OID_TYPE, "esriFieldTypeInteger", "esriFieldTypeSmallInteger", "esriFieldTypeBigInteger"):
        return [None if n else int(v) for v, n in zip(series.to_numpy(), nulls)]
    if field_type == "esriFieldTypeDouble":
        return [None if n else float(v) for v, n in zip(series.to_numpy(), nulls)]
    return [None if n else str(v) for v, n in zip(series.to_numpy(), nulls)]


def attributes(selection: Selection) -> list[dict[str, Any]]:
    columns = {f["name"]: _column_values(selection.frame[f["name"]], f["type"]) for f in selection.fields}
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())] if names else [{} for _ in range(len(selection.frame))]


def esri_json(selection: Selection) -> dict[str, Any]:
    """The ArcGIS query response (a featureSet with the object id field named)."""
    layer = selection.layer
    rows = attributes(selection)
    out: dict[str, Any] = {"objectIdFieldName": layer.object_id_field, "uniqueIdField": {
        "name": layer.object_id_field, "isSystemMaintained": True}, "globalIdFieldName": ""}
    if selection.geometry:
        out["geometryType"] = layer.geometry_type
        out["spatialReference"] = selection.sr
        out["hasZ"] = bool(selection.frame.geometry.has_z.any())
        out["hasM"] = False
    out["fields"] = selection.fields
    if selection.geometry:
        geoms = [None if g is None else geo.to_esri(g) for g in selection.frame.geometry]
        out["features"] = [{"attributes": a, "geometry": g} for a, g in zip(rows, geoms)]
    else:
        out["features"] = [{"attributes": a} for a in rows]
    if selection.exceeded:
        out["exceededTransferLimit"] = True
    return out


def geojson(selection: Selection) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (in WGS84 unless outSR said otherwise, as ArcGIS: see parse_query)."""
    frame = selection.frame
    oid = selection.layer.object_id_field
    ids = [int(v) for v in frame[oid]]
    rows = attributes(selection)
    features = [{"type": "Feature", "id": i,
                 "geometry": mapping(g) if selection.geometry and g is not None else None,
                 "properties": a} for i, a, g in zip(ids, rows, frame.geometry)]
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if selection.exceeded:
        out["properties"] = {"exceededTransferLimit": True}
    return out


def feature_set(selection: Selection) -> FeatureSet:
    """The selection as the FeatureSet a GP tool receives."""
    geoms = list(selection.frame.geometry) if selection.geometry else [None] * len(selection.frame)
    rows = attributes(selection)
    return FeatureSet([Feature(g, a) for g, a in zip(geoms, rows)], selection.sr,
                      selection.layer.geometry_type, selection.fields)


__all__ = ["MAX_RECORD_COUNT", "Query", "Selection", "attributes", "esri_json", "feature_set", "geojson",
           "parse_query", "parse_sr", "select", "sr_json"]
