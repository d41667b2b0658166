"""The area of interest of a generateProduct request, resolved before the job exists.

``aoiLayer`` + ``aoiFeatureId`` name a feature: read straight from the file when
the layer is one of this server's datasets, else fetched (through the one
outbound-URL guard) from an ArcGIS feature layer or a GeoJSON URL.  ``customAoi``
carries the feature itself (Esri JSON or GeoJSON).  Either way the job gets a
GeoJSON Feature with its CRS, so a missing or wrong AOI fails the request at
once, never the job later.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from ...auth import Claims
from ...core import Forbidden, InvalidInput, TokenRequired
from ...datasets.catalog import can_read
from ...system.urls import fetch
from ...tools import geometry as geo

MAX_AOI_BYTES = 20 * 1024 * 1024
_INVALID = "Unable to generate the product."


@dataclass(frozen=True)
class AOI:
    """One polygon feature, its attributes and CRS (``EPSG:<code>`` or WKT)."""

    geometry: BaseGeometry
    attributes: dict[str, Any]
    crs: str

    def feature_json(self) -> str:
        return orjson.dumps({"type": "Feature", "geometry": mapping(self.geometry),
                             "properties": self.attributes, "crs": self.crs},
                            option=orjson.OPT_SERIALIZE_NUMPY).decode()


def check_placeable(aoi: AOI, map_crs: str | None) -> None:
    """Run the generator's own reading of the AOI now, and place it in the map's CRS,
    so an AOI the job could not draw fails the request, not the job."""
    import math

    from ...products.aoi import parse_aoi
    from ...products.projection import choose_map_crs, reproject

    try:
        area = parse_aoi(aoi.feature_json())
        if area.crs.is_geocentric:
            raise ValueError("The AOI's coordinate system is geocentric (3-D); give it in a geographic "
                             "or projected one.")
        if area.crs.is_geographic:
            west, south, east, north = area.geometry.bounds
            if west < -180 or east > 180 or south < -90 or north > 90:
                raise ValueError("The AOI's coordinates are outside longitude -180..180 / latitude -90..90; "
                                 "is its coordinate system right?")
            if map_crs is None and east - west > 40:
                raise ValueError("The AOI spans more than 40 degrees of longitude, too wide for the UTM zone "
                                 "a sheet is drawn in; the product version needs a 'crs'.")
        crs = choose_map_crs(area.geometry, area.crs, map_crs)
        placed = reproject(area.geometry, area.crs, crs)
        if placed.is_empty or not all(math.isfinite(v) for v in placed.bounds) or placed.area <= 0:
            raise ValueError(f"The AOI cannot be placed in the map's coordinate system ({crs.name}).")
    except ValueError as exc:
        raise bad(str(exc)) from None
    except Exception as exc:      # pyproj and GEOS errors: say what, never a stack trace
        raise bad(f"The AOI cannot be placed on a sheet: {exc}") from None


def bad(*details: str) -> InvalidInput:
    return InvalidInput(_INVALID, list(details))


def _polygon(geom: BaseGeometry | None, where: str) -> BaseGeometry:
    if geom is None or geom.is_empty:
        raise bad(f"The area of interest ({where}) has no geometry.")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise bad(f"The area of interest ({where}) must be a polygon, not a {geom.geom_type}.")
    return geom if geom.is_valid else shapely.make_valid(geom)


def _crs_text(sr: Any) -> str:
    try:
        crs = geo.crs_of(sr) if isinstance(sr, dict) else geo.crs(sr)
    except Exception:
        raise bad(f"Unknown spatial reference {sr!r} for the area of interest.") from None
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.to_wkt()


def custom_aoi(text: str) -> AOI:
    """``customAoi``: an array of one feature, in Esri JSON (with a spatialReference,
    default WGS 84) or GeoJSON (WGS 84)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise bad("'customAoi' is not valid JSON.") from None
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        value = value.get("features")
    if isinstance(value, dict) and "features" in value:       # an Esri feature set
        if not isinstance(value["features"], list):
            raise bad("'customAoi' features must be an array of one feature.")
        sr = value.get("spatialReference")
        value = [dict(f, geometry=dict(f.get("geometry") or {}, spatialReference=sr))
                 if isinstance(f, dict) and sr else f for f in value.get("features") or []]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise bad("'customAoi' must be an array of exactly one feature.")
    feature = value[0]
    attributes = feature.get("properties" if feature.get("type") == "Feature" else "attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise bad("'customAoi' feature's attributes (GeoJSON: properties) must be a JSON object.")
    try:
        if feature.get("type") == "Feature":
            geom = geo.from_geojson(feature.get("geometry") or {})
            return AOI(_polygon(geom, "customAoi"), dict(feature.get("properties") or {}), "EPSG:4326")
        esri = feature.get("geometry")
        if not isinstance(esri, dict):
            raise bad("'customAoi' feature has no geometry.")
        geom = geo.from_esri(esri)
    except InvalidInput:
        raise
    except Exception as exc:
        raise bad(f"'customAoi' geometry is not valid: {exc}") from None
    sr = esri.get("spatialReference") or {"wkid": 4326}
    return AOI(_polygon(geom, "customAoi"), dict(feature.get("attributes") or {}), _crs_text(sr))


def feature_id(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise bad(f"'aoiFeatureId' must be an object ID (an integer), not {text!r}.") from None


async def layer_aoi(catalog: Any, url: str, object_id: int, claims: Claims | None, allow_private: bool,
                    hosts: tuple[str, ...] = ()) -> AOI:
    """The feature ``object_id`` of the layer at ``url`` (``hosts``: the names this request reached us by)."""
    missing = catalog.missing(url, extra_hosts=hosts)
    if missing:
        raise bad(f"'aoiLayer' {missing}.")
    found = catalog.find_url(url, extra_hosts=hosts)
    if found is not None:
        dataset, layer = found
        if not can_read(dataset, claims):
            raise TokenRequired("Token Required") if claims is None else Forbidden(
                f"You do not have permissions to read the area of interest layer {url}.")
        return await asyncio.to_thread(_from_frame, layer, object_id, url)
    body = await asyncio.to_thread(_fetch_feature, url, object_id, allow_private)
    return _from_geojson(body, object_id, url)


def _from_frame(layer: Any, object_id: int, url: str) -> AOI:
    frame = layer.frame
    oid = layer.object_id_field
    rows = frame[frame[oid] == object_id]
    if rows.empty:
        raise bad(f"Feature {object_id} does not exist in the area of interest layer {url}.")
    row = rows.iloc[0]
    if frame.crs is None:
        raise bad(f"The area of interest layer {url} has no coordinate system, so its sheet cannot be placed.")
    attributes = {k: _plain(v) for k, v in row.items() if k != frame.geometry.name}
    return AOI(_polygon(row[frame.geometry.name], url), attributes, _crs_text(frame.crs.to_wkt()))


def _plain(value: Any) -> Any:
    """numpy and pandas scalars -> JSON values."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


def _fetch_feature(url: str, object_id: int, allow_private: bool) -> bytes:
    """An ArcGIS layer is asked for the one feature as GeoJSON; any other URL is read whole."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if "/FeatureServer/" in path or "/MapServer/" in path:
        if path.endswith("/query"):
            path = path[: -len("/query")]
        query = urlencode({"objectIds": object_id, "outFields": "*", "returnGeometry": "true", "f": "geojson"})
        url = parts._replace(path=path + "/query", query=query, fragment="").geturl()
    try:
        body, _ = fetch(url, allow_private=allow_private, max_bytes=MAX_AOI_BYTES)
    except ValueError as exc:
        raise bad(f"Cannot read the area of interest layer: {exc}.") from None
    return body


def _from_geojson(body: bytes, object_id: int, url: str) -> AOI:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad(f"The area of interest layer {url} did not answer GeoJSON.") from None
    if isinstance(data, dict) and "error" in data:
        raise bad(f"The area of interest layer {url} answered an error: {data['error']}.")
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise bad(f"The area of interest layer {url} did not answer a GeoJSON FeatureCollection.")
    for feature in features:
        if not isinstance(feature, dict):
            continue
        props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
        ids = [feature.get("id")] + [v for k, v in props.items() if k.lower() in ("objectid", "fid", "oid")]
        if object_id in [i for i in ids if isinstance(i, int)] or str(object_id) in [str(i) for i in ids]:
            try:
                geom = geo.from_geojson(feature.get("geometry") or {})
            except Exception as exc:
                raise bad(f"Feature {object_id} of {url} has an invalid geometry: {exc}") from None
            return AOI(_polygon(geom, url), dict(props), "EPSG:4326")
    raise bad(f"Feature {object_id} does not exist in the area of interest layer {url}.")
