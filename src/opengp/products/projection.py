"""Coordinate systems for a sheet: which CRS the map is drawn in, and moving geometries into it."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

WGS84 = CRS.from_epsg(4326)


@lru_cache(maxsize=64)
def transformer(src: CRS, dst: CRS) -> Transformer:
    """A cached x/y (lon/lat order) transformer: building one costs milliseconds."""
    return Transformer.from_crs(src, dst, always_xy=True)


def reproject(geoms, src: CRS, dst: CRS):
    """Geometries (one, or an array) from ``src`` to ``dst``; returned unchanged when they are the same CRS."""
    if src == dst:
        return geoms
    t = transformer(src, dst)

    def move(coords: np.ndarray) -> np.ndarray:
        x, y = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, move)


def densified(geom: BaseGeometry, parts: int = 64) -> BaseGeometry:
    """``geom`` with extra vertices, so its outline stays true once reprojected."""
    x0, y0, x1, y1 = geom.bounds
    step = max(x1 - x0, y1 - y0) / parts
    return shapely.segmentize(geom, step) if step > 0 else geom


def utm_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone containing (lon, lat)."""
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def choose_map_crs(aoi_geometry: BaseGeometry, aoi_crs: CRS, wanted: str | None) -> CRS:
    """The CRS the map is drawn in: ``wanted``, else the AOI's when projected.

    An AOI in degrees gets the UTM zone at its centre instead: a scale and a
    scale bar need a CRS in linear units.
    """
    if wanted:
        return CRS.from_user_input(wanted)
    if aoi_crs.is_projected:
        return aoi_crs
    centre = aoi_geometry.centroid
    lon, lat = transformer(aoi_crs, WGS84).transform(centre.x, centre.y)
    return utm_for(lon, lat)


def metres_per_unit(crs: CRS) -> float:
    """Metres in one unit of a projected CRS's x axis (1 for metres, 0.3048 for feet)."""
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return float(factor or 1.0)


def true_north(crs: CRS, x: float, y: float) -> float:
    """The angle (degrees, counter-clockwise from the map's up) at which true north points at (x, y)."""
    to_geo = transformer(crs, WGS84)
    lon, lat = to_geo.transform(x, y)
    lat2 = min(89.9, lat + 0.01)
    x2, y2 = transformer(WGS84, crs).transform(lon, lat2)
    if not (math.isfinite(x2) and math.isfinite(y2)):
        return 0.0
    return math.degrees(math.atan2(-(x2 - x), y2 - y))


def crs_label(crs: CRS) -> str:
    """``WGS 84 / UTM zone 33N (EPSG:32633)``, or just the name when it has no EPSG code."""
    code = crs.to_epsg()
    return f"{crs.name} (EPSG:{code})" if code else crs.name
