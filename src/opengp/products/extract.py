"""Extract a product layer's features inside the AOI, clipped, in the map's CRS.

Reading (pyogrio's raw reader: no data frame is built) is filtered by the
clip area's bounding box in the file's own CRS (GeoPackage and Shapefile have
spatial indexes, so a sheet reads only its neighbourhood), and only the label
attribute is read.  Geometries are then
reprojected and clipped with vectorised shapely calls: no per-feature Python.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from .definition import ProductLayer
from .projection import densified, reproject

log = logging.getLogger("opengp.products")

_EMPTY = np.empty(0, dtype=object)


@dataclass
class LayerData:
    """A layer's clipped features in the map CRS, split by dimension for drawing.

    ``labels`` pairs each text with the point it is written at.
    """

    layer: ProductLayer
    count: int = 0                                       # features with something inside the AOI
    polygons: np.ndarray = field(default_factory=lambda: _EMPTY)
    lines: np.ndarray = field(default_factory=lambda: _EMPTY)
    points: np.ndarray = field(default_factory=lambda: _EMPTY)
    labels: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def kind(self) -> str | None:
        """``polygon``, ``line`` or ``point``: the dimension the legend shows (the highest present)."""
        for name, parts in (("polygon", self.polygons), ("line", self.lines), ("point", self.points)):
            if len(parts):
                return name
        return None


def extract_layer(layer: ProductLayer, clip: BaseGeometry, crs: CRS) -> LayerData:
    """The features of ``layer`` intersecting ``clip`` (a polygon in ``crs``), clipped to it.

    Raises ValueError with a sentence when the layer has no source, the file
    or layer cannot be read, or the label field or filter are wrong.
    """
    source = layer.source
    if source is None:
        raise ValueError(f"Layer '{layer.title}' has no source file: the product service resolves "
                         f"'{layer.dataset}/{layer.layer}' to a file before generation.")
    # the job's error is shown to whoever may see the job: the file by its name, never the
    # server's path to it (the whole path goes to the server's log)
    name = os.path.basename(source.path)
    where = f"'{layer.title}' ({name}" + (f", layer '{source.layer}')" if source.layer else ")")
    try:
        stat = os.stat(source.path)
    except OSError:
        log.error("product layer %r: %s does not exist", layer.title, source.path)
        raise ValueError(f"Cannot read layer {where}: the file does not exist.") from None
    try:
        source_crs, fields = layer_info(source.path, source.layer, (stat.st_mtime_ns, stat.st_size))
    except Exception as exc:  # pyogrio's DataSourceError/DataLayerError and GDAL's messages
        log.error("product layer %r: cannot read %s: %s", layer.title, source.path, exc)
        why = str(exc).replace(source.path, name).replace(os.path.dirname(source.path), "")
        raise ValueError(f"Cannot read layer {where}: {why}") from exc
    if source_crs is None:
        raise ValueError(f"Layer {where} has no coordinate system, so it cannot be placed on the map.")
    label = layer.style.label
    if label and label not in fields:
        raise ValueError(f"Layer {where} has no attribute '{label}' to label with; it has: "
                         f"{', '.join(fields) or 'none'}.")
    bbox = reproject(densified(clip), crs, source_crs).bounds
    try:
        _meta, _fids, wkb, values = pyogrio.raw.read(source.path, layer=source.layer, bbox=bbox, where=layer.where,
                                                     columns=[label] if label else [])
    except Exception as exc:
        hint = " Check its filter (where)." if layer.where else ""
        raise ValueError(f"Cannot read layer {where}: {exc}.{hint}") from exc
    geoms = shapely.from_wkb(wkb) if wkb is not None and len(wkb) else _EMPTY
    texts = np.asarray(values[0], dtype=object) if label and len(geoms) else None
    return clipped(layer, reproject(geoms, source_crs, crs), clip, texts)


@lru_cache(maxsize=256)
def layer_info(path: str, layer: str | None, stamp: tuple[int, int]) -> tuple[CRS | None, tuple[str, ...]]:
    """A layer's CRS and field names, cached per file version (``stamp``: mtime and size):
    opening a file's metadata costs ~10 ms, and a sheet reads the same layer several times."""
    info = pyogrio.read_info(path, layer=layer)
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    return crs, tuple(info.get("fields", []))


def clipped(layer: ProductLayer, geoms: np.ndarray, clip: BaseGeometry, texts: np.ndarray | None = None) -> LayerData:
    """``geoms`` cut to ``clip`` and split by dimension; ``texts`` are their labels (or None)."""
    data = LayerData(layer)
    if not len(geoms):
        return data
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = geoms[present]
    texts = texts[present] if texts is not None else None
    shapely.prepare(clip)
    inside = shapely.contains_properly(clip, geoms)
    crossing = ~inside & shapely.intersects(clip, geoms)
    out = geoms.copy()
    if crossing.any():
        cut = geoms[crossing]
        broken = ~shapely.is_valid(cut)
        if broken.any():
            cut[broken] = shapely.make_valid(cut[broken])
        out[crossing] = shapely.intersection(cut, clip)
    keep = (inside | crossing)
    out = out[keep]
    nonempty = ~shapely.is_empty(out)
    # a feature touching the clip edge leaves a point or a line behind: keep only its own dimension
    dims = shapely.get_dimensions(geoms[keep])
    out, dims = out[nonempty], dims[nonempty]
    if texts is not None:
        texts = texts[keep][nonempty]
    parts, index = _flatten(out)
    own = shapely.get_dimensions(parts) == dims[index]
    parts, index = parts[own], index[own]
    part_dims = shapely.get_dimensions(parts)
    data.polygons, data.lines, data.points = (parts[part_dims == d] for d in (2, 1, 0))
    data.count = len(np.unique(index))
    if texts is not None:
        data.labels = _label_points(out, texts, np.unique(index))
    return data


def _flatten(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single parts of every geometry (collections of multi-parts included) and the index of their feature."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    multi = shapely.get_type_id(parts) >= 4           # Multi* and GeometryCollection
    if multi.any():
        inner, inner_index = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], inner])
        index = np.concatenate([index[~multi], index[multi][inner_index]])
    return parts, index


def _label_points(geoms: np.ndarray, texts: np.ndarray, which: np.ndarray) -> list[tuple[str, float, float]]:
    """Where each kept feature's label goes: the point itself, mid-line, or a point inside the polygon."""
    geoms = geoms[which]
    texts = np.array([_text(t) for t in texts[which]], dtype=object)
    has_text = texts != ""
    geoms, texts = geoms[has_text], texts[has_text]
    if not len(geoms):
        return []
    dims = shapely.get_dimensions(geoms)
    anchors = shapely.point_on_surface(geoms)
    lines = dims == 1
    if lines.any():
        merged = shapely.line_merge(geoms[lines])
        anchors[lines] = shapely.line_interpolate_point(merged, 0.5, normalized=True)
    xy = shapely.get_coordinates(anchors)
    if len(xy) != len(texts):            # an empty anchor (degenerate geometry): place by centroid instead
        xy = shapely.get_coordinates(shapely.centroid(geoms))
    return [(t, float(x), float(y)) for t, (x, y) in zip(texts, xy)]


def _text(value) -> str:
    """A label: blank for a missing value, ``300`` rather than ``300.0`` for a whole number."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()
