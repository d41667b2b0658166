"""The values toolbox authors handle: features, records, units, files.

What they mean on the wire (parsing requests, writing results) is
``gptypes``; these classes only hold data and do geometry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import shapely.geometry
from shapely.geometry.base import BaseGeometry

from ..system.urls import fetch_for_tool   # the one outbound guard
from . import geometry as geo

INT32 = (-(2**31), 2**31 - 1)


class InvalidValue(ValueError):
    """A value does not fit its parameter's type; the message says why."""


def epoch_ms(value: datetime) -> int:
    """A datetime as milliseconds since the epoch (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return round(value.timestamp() * 1000)


# -- units ----------------------------------------------------------------------

METERS_PER = {
    "esriMeters": 1.0, "esriKilometers": 1000.0, "esriCentimeters": 0.01, "esriMillimeters": 0.001,
    "esriDecimeters": 0.1, "esriFeet": 0.3048, "esriInches": 0.0254, "esriYards": 0.9144,
    "esriMiles": 1609.344, "esriNauticalMiles": 1852.0, "esriUSSurveyFeet": 1200 / 3937,
}
SQUARE_METERS_PER = {
    "esriSquareMeters": 1.0, "esriSquareKilometers": 1e6, "esriHectares": 1e4, "esriAres": 100.0,
    "esriAcres": 4046.8564224, "esriSquareFeet": 0.09290304, "esriSquareYards": 0.83612736,
    "esriSquareMiles": 2589988.110336, "esriSquareInches": 0.00064516,
    "esriSquareCentimeters": 1e-4, "esriSquareMillimeters": 1e-6, "esriSquareDecimeters": 0.01,
}


def _unit_name(units: str, known: dict[str, float], kind: str) -> str:
    """The standard spelling of a unit, matched without regard to case and with or
    without the ``esri`` prefix (the arcgis client sends ``"Esrimeters"``)."""
    key = str(units).strip().lower()
    key = key if key.startswith("esri") else "esri" + key
    for name in known:
        if name.lower() == key:
            return name
    raise InvalidValue(f"unknown {kind} unit {units!r}; use one of {sorted(known)}")


@dataclass(frozen=True)
class LinearUnit:
    """A distance with its unit: ``LinearUnit(500, "esriMeters")``."""

    distance: float
    units: str = "esriMeters"

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", _unit_name(self.units, METERS_PER, "linear"))

    @property
    def meters(self) -> float:
        return self.distance * METERS_PER[self.units]

    def to_json(self) -> dict[str, Any]:
        return {"distance": self.distance, "units": self.units}


@dataclass(frozen=True)
class ArealUnit:
    """An area with its unit: ``ArealUnit(12.5, "esriSquareKilometers")``."""

    area: float
    units: str = "esriSquareMeters"

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", _unit_name(self.units, SQUARE_METERS_PER, "areal"))

    @property
    def square_meters(self) -> float:
        return self.area * SQUARE_METERS_PER[self.units]

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "units": self.units}


# -- files and rasters ------------------------------------------------------------

@dataclass(frozen=True)
class DataFile:
    """A file: given by ``url`` (inputs), or written by a tool at ``path`` (outputs).

    An output ``DataFile(path=ctx.workdir / "report.csv")`` is published at a URL
    under the job's directory; a path outside the work folder is copied in.
    """

    url: str | None = None
    path: Path | None = None
    item_id: str | None = None      # an upload (``{"itemID": ...}``): ``path`` is where it is

    def read_bytes(self) -> bytes:
        """The file's content, from ``path`` or downloaded from ``url``."""
        if self.path is not None:
            return Path(self.path).read_bytes()
        if not self.url:
            raise ValueError("this DataFile has neither a path nor a url")
        return fetch_for_tool(self.url)


@dataclass(frozen=True)
class RasterData(DataFile):
    """A raster, by URL or written at ``path``; ``format`` is its file type (``tif``...)."""

    format: str = ""


# -- features and records -----------------------------------------------------------

@dataclass
class Feature:
    """One feature: a shapely geometry (or None for a table row) and its attributes."""

    geometry: BaseGeometry | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


_FIELD_TYPES = [
    (bool, "esriFieldTypeSmallInteger"), (int, "esriFieldTypeInteger"),
    (float, "esriFieldTypeDouble"), (datetime, "esriFieldTypeDate"), (str, "esriFieldTypeString"),
]


def infer_fields(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Esri field definitions from attribute values (first non-null value decides)."""
    names: dict[str, str] = {}
    for row in rows:
        for name, value in row.items():
            if names.get(name) or value is None:
                names.setdefault(name, "")
                continue
            kind = next((t for py, t in _FIELD_TYPES if isinstance(value, py)), "esriFieldTypeString")
            if kind == "esriFieldTypeInteger" and not INT32[0] <= value <= INT32[1]:
                kind = "esriFieldTypeDouble"
            names[name] = kind
    out = []
    for name, kind in names.items():
        kind = kind or "esriFieldTypeString"
        if name.upper() in ("OBJECTID", "FID", "OID") and kind == "esriFieldTypeInteger":
            kind = "esriFieldTypeOID"
        spec = {"name": name, "type": kind, "alias": name}
        if kind == "esriFieldTypeString":
            spec["length"] = 256
        out.append(spec)
    return out


def _attributes_json(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: (epoch_ms(v) if isinstance(v, datetime) else v) for k, v in attrs.items()}


@dataclass
class FeatureSet:
    """Features with shapely geometries in one spatial reference.

    Build one with ``FeatureSet.from_geometries([...], attributes=[...], sr=4326)``
    or from JSON with ``from_json`` (Esri featureSet or GeoJSON).  ``fields`` and
    ``geometry_type`` are inferred when not given.
    """

    features: list[Feature] = field(default_factory=list)
    spatial_reference: dict[str, Any] | None = field(default_factory=lambda: dict(geo.WGS84))
    geometry_type: str | None = None
    fields: list[dict[str, Any]] | None = None
    display_field_name: str = ""

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def geometries(self) -> list[BaseGeometry | None]:
        return [f.geometry for f in self.features]

    @property
    def wkid(self) -> int | None:
        sr = self.spatial_reference or {}
        return sr.get("latestWkid") or sr.get("wkid")

    @classmethod
    def from_geometries(cls, geometries: list[BaseGeometry | None], attributes: list[dict[str, Any]] | None = None,
                        sr: int | dict[str, Any] | None = 4326) -> FeatureSet:
        attributes = attributes or [{} for _ in geometries]
        if len(attributes) != len(geometries):
            raise ValueError("attributes must have one dict per geometry")
        spatial_reference = {"wkid": sr} if isinstance(sr, int) else sr
        return cls([Feature(g, dict(a)) for g, a in zip(geometries, attributes)], spatial_reference)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> FeatureSet:
        """An Esri JSON featureSet, or GeoJSON (FeatureCollection, Feature or geometry)."""
        if value.get("type") in ("FeatureCollection", "Feature") or (
                isinstance(value.get("type"), str) and "coordinates" in value):
            return cls._from_geojson(value)
        if "url" in value and "features" not in value:
            raise InvalidValue("feature layer URLs are not supported here; send the features as JSON")
        if "itemID" in value and "features" not in value:
            raise InvalidValue("portal items (itemID) are not supported here; send the features as JSON")
        features_json = value.get("features", [])
        if not isinstance(features_json, list):
            raise InvalidValue("'features' must be a JSON array")
        sr = value.get("spatialReference")
        features = []
        for i, f in enumerate(features_json):
            if not isinstance(f, dict):
                raise InvalidValue(f"feature {i} is not a JSON object")
            geometry = f.get("geometry")
            if sr is None and isinstance(geometry, dict):
                sr = geometry.get("spatialReference")
            try:
                shape = geo.from_esri(geometry)
            except (ValueError, TypeError, KeyError) as exc:
                raise InvalidValue(f"feature {i}: bad geometry: {exc}") from None
            attrs = f.get("attributes") or {}
            if not isinstance(attrs, dict):
                raise InvalidValue(f"feature {i}: 'attributes' must be a JSON object")
            features.append(Feature(shape, attrs))
        if sr is not None and not isinstance(sr, dict):
            raise InvalidValue("'spatialReference' must be a JSON object such as {\"wkid\": 4326}")
        return cls(features, sr, value.get("geometryType"), value.get("fields"),
                   value.get("displayFieldName") or "")

    @classmethod
    def _from_geojson(cls, value: dict[str, Any]) -> FeatureSet:
        items = value.get("features") if value.get("type") == "FeatureCollection" else [value]
        features = []
        for i, item in enumerate(items or []):
            is_feature = item.get("type") == "Feature"
            g = item.get("geometry") if is_feature else item
            try:
                shape = geo.from_geojson(g) if g else None
            except Exception as exc:
                raise InvalidValue(f"feature {i}: bad GeoJSON geometry: {exc}") from None
            features.append(Feature(shape, dict(item.get("properties") or {}) if is_feature else {}))
        return cls(features, dict(geo.WGS84))

    def to_json(self) -> dict[str, Any]:
        """The Esri JSON featureSet clients read."""
        geometries = self.geometries
        gtype = self.geometry_type or next((geo.geometry_type(g) for g in geometries if g is not None), None)
        out: dict[str, Any] = {"displayFieldName": self.display_field_name}
        if gtype:
            out["geometryType"] = gtype
        out["spatialReference"] = self.spatial_reference
        out["fields"] = self.fields if self.fields is not None else infer_fields([f.attributes for f in self])
        out["features"] = [
            {"geometry": geo.to_esri(f.geometry), "attributes": _attributes_json(f.attributes)}
            if f.geometry is not None else {"attributes": _attributes_json(f.attributes)}
            for f in self.features
        ]
        out["hasZ"] = geo.has_z(geometries)
        out["hasM"] = False
        out["exceededTransferLimit"] = False
        return out

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection, in WGS84 as GeoJSON requires."""
        fs = self if self.wkid in (None, 4326) else self.to_sr(4326)
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": dict(f.attributes),
             "geometry": shapely.geometry.mapping(f.geometry) if f.geometry is not None else None}
            for f in fs]}

    def to_sr(self, sr: int | dict[str, Any]) -> FeatureSet:
        """A copy projected to another spatial reference (a WKID or SR JSON)."""
        target = {"wkid": sr} if isinstance(sr, int) else dict(sr)
        if geo.same_sr(self.spatial_reference, target):
            return self
        if not self.spatial_reference:
            raise ValueError("these features have no spatial reference to project from")
        t = geo.transformer(self.spatial_reference, target)
        features = [Feature(geo.project(f.geometry, t), f.attributes) for f in self.features]
        return FeatureSet(features, target, self.geometry_type, self.fields, self.display_field_name)


def reprojected_json(raw: bytes, sr: int | dict[str, Any]) -> bytes:
    """A feature set's JSON, projected to another spatial reference, as JSON (a large one is done
    in the API server's helper process: api/heavy.py)."""
    import orjson

    return orjson.dumps(FeatureSet.from_json(orjson.loads(raw)).to_sr(sr).to_json())


@dataclass
class RecordSet:
    """Rows of attributes without geometry (a table)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    fields: list[dict[str, Any]] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RecordSet:
        if "url" in value and "features" not in value:
            raise InvalidValue("table URLs are not supported here; send the records as JSON")
        features = value.get("features", [])
        if not isinstance(features, list):
            raise InvalidValue("'features' must be a JSON array")
        rows = []
        for i, f in enumerate(features):
            attrs = f.get("attributes") if isinstance(f, dict) else None
            if not isinstance(attrs, dict):
                raise InvalidValue(f"record {i} needs an 'attributes' object")
            rows.append(attrs)
        return cls(rows, value.get("fields"))

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": self.fields if self.fields is not None else infer_fields(self.rows),
            "features": [{"attributes": _attributes_json(r)} for r in self.rows],
            "exceededTransferLimit": False,
        }
