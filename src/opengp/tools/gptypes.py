"""GP data types: what a Python type hint means on the wire.

Each GP type turns a request value (form text, or JSON already decoded from
the store) into the Python value a tool receives (``parse``), that value into
the JSON kept with the job (``to_json``), and a tool's return value into the
result JSON clients read (``dump``).  ``docs/gp-types.md`` shows every type's
JSON.  The value classes here (FeatureSet, LinearUnit...) are what toolbox
authors import from ``opengp``.
"""
from __future__ import annotations

import math
import shutil
import types
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Protocol, Union, get_args, get_origin

import orjson
from shapely.geometry.base import BaseGeometry

from . import geometry as geo


class InvalidValue(ValueError):
    """A value does not fit its parameter's type; the message says why."""


@dataclass(frozen=True)
class ParseEnv:
    """What parsing may need: the job's work folder (None while validating a request)."""

    workdir: Path | None = None


@dataclass(frozen=True)
class DumpEnv:
    """What writing results may need: the requested output SR, the work folder and its URL."""

    out_sr: dict[str, Any] | None = None
    workdir: Path | None = None
    files_url: str | None = None


class GPType(Protocol):
    data_type: str

    def parse(self, raw: Any, env: ParseEnv) -> Any: ...
    def to_json(self, value: Any) -> Any: ...
    def dump(self, value: Any, env: DumpEnv) -> Any: ...
    def describe_default(self, default: Any) -> Any: ...


def _json(raw: Any, what: str) -> Any:
    """Form text holding JSON -> the decoded value; already-decoded values pass through."""
    if not isinstance(raw, (str, bytes)):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidValue(f"expected {what} as JSON, got {_clip(raw)!r}") from None


def _object(raw: Any, what: str) -> dict[str, Any]:
    value = _json(raw, what)
    if not isinstance(value, dict):
        raise InvalidValue(f"expected {what} as a JSON object, got {_clip(value)!r}")
    return value


def _clip(value: Any, limit: int = 60) -> Any:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- scalars ------------------------------------------------------------------

class _Scalar:
    """A type whose stored JSON is the Python value itself."""

    data_type = ""

    def to_json(self, value: Any) -> Any:
        return value

    def dump(self, value: Any, env: DumpEnv) -> Any:
        return self.to_json(self.parse(value, ParseEnv()))

    def describe_default(self, default: Any) -> Any:
        return None if default is None else self.to_json(default)


class GPString(_Scalar):
    data_type = "GPString"

    def parse(self, raw: Any, env: ParseEnv) -> str:
        if isinstance(raw, (dict, list)):
            return orjson.dumps(raw).decode()
        return raw if isinstance(raw, str) else str(raw)

    def describe_default(self, default: Any) -> Any:
        return "" if default is None else str(default)


INT32 = (-(2**31), 2**31 - 1)


class GPLong(_Scalar):
    data_type = "GPLong"

    def parse(self, raw: Any, env: ParseEnv) -> int:
        if isinstance(raw, bool):
            raise InvalidValue(f"expected an integer, got {raw!r}")
        if isinstance(raw, float):
            if not raw.is_integer():
                raise InvalidValue(f"expected an integer, got {raw!r}")
            value = int(raw)
        elif isinstance(raw, int):
            value = raw
        else:
            text = str(raw).strip()
            try:
                value = int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    raise InvalidValue(f"expected an integer, got {_clip(text)!r}") from None
                if not number.is_integer():
                    raise InvalidValue(f"expected an integer, got {_clip(text)!r}") from None
                value = int(number)
        if not INT32[0] <= value <= INT32[1]:
            raise InvalidValue(f"{value} is outside the 32-bit range of GPLong")
        return value


class GPDouble(_Scalar):
    data_type = "GPDouble"

    def parse(self, raw: Any, env: ParseEnv) -> float:
        if isinstance(raw, bool):
            raise InvalidValue(f"expected a number, got {raw!r}")
        try:
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise InvalidValue(f"expected a number, got {_clip(raw)!r}") from None
        if not math.isfinite(value):
            raise InvalidValue(f"expected a finite number, got {raw!r}")
        return value


class GPBoolean(_Scalar):
    data_type = "GPBoolean"
    TRUE = {"true", "1", "yes", "y", "on", "t"}
    FALSE = {"false", "0", "no", "n", "off", "f"}

    def parse(self, raw: Any, env: ParseEnv) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise InvalidValue(f"expected true or false, got {_clip(raw)!r}")


class GPDate(_Scalar):
    """Milliseconds since the epoch, UTC, on the wire; an aware datetime in Python."""

    data_type = "GPDate"

    def parse(self, raw: Any, env: ParseEnv) -> datetime:
        if isinstance(raw, datetime):
            return raw if raw.tzinfo else raw.replace(tzinfo=timezone.utc)
        if isinstance(raw, bool):
            raise InvalidValue(f"expected epoch milliseconds, got {raw!r}")
        text = raw.strip() if isinstance(raw, str) else raw
        try:
            ms = float(text)
        except (TypeError, ValueError):
            try:   # ISO 8601 is friendlier for people typing into a form
                parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            except ValueError:
                raise InvalidValue(f"expected epoch milliseconds or an ISO 8601 date, got {_clip(raw)!r}") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        try:
            return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise InvalidValue(f"{_clip(raw)!r} is not a representable date") from None

    def to_json(self, value: datetime) -> int:
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return round(value.timestamp() * 1000)


class GPMultiValue:
    """``list[T]``: a JSON array of T's values."""

    def __init__(self, member: GPType):
        self.member = member
        self.data_type = f"GPMultiValue:{member.data_type}"

    def parse(self, raw: Any, env: ParseEnv) -> list[Any]:
        if isinstance(raw, str) and not raw.lstrip().startswith("["):
            value: Any = [v for v in raw.split(";") if v]   # "a;b", as ArcGIS's HTML forms send
        else:
            value = _json(raw, "a JSON array")
        if not isinstance(value, list):
            raise InvalidValue(f"expected a JSON array, got {_clip(value)!r}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.member.parse(item, env))
            except InvalidValue as exc:
                raise InvalidValue(f"item {i}: {exc}") from None
        return out

    def to_json(self, value: list[Any]) -> list[Any]:
        return [self.member.to_json(v) for v in value]

    def dump(self, value: Any, env: DumpEnv) -> list[Any]:
        return [self.member.dump(v, env) for v in value]

    def describe_default(self, default: Any) -> Any:
        return None if default is None else self.to_json(list(default))


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


@dataclass(frozen=True)
class LinearUnit:
    """A distance with its unit: ``LinearUnit(500, "esriMeters")``."""

    distance: float
    units: str = "esriMeters"

    def __post_init__(self) -> None:
        if self.units not in METERS_PER:
            raise InvalidValue(f"unknown linear unit {self.units!r}; use one of {sorted(METERS_PER)}")

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
        if self.units not in SQUARE_METERS_PER:
            raise InvalidValue(f"unknown areal unit {self.units!r}; use one of {sorted(SQUARE_METERS_PER)}")

    @property
    def square_meters(self) -> float:
        return self.area * SQUARE_METERS_PER[self.units]

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "units": self.units}


class _Unit:
    def __init__(self, cls: type, data_type: str, amount: str):
        self.cls, self.data_type, self.amount = cls, data_type, amount

    def parse(self, raw: Any, env: ParseEnv) -> Any:
        if isinstance(raw, self.cls):
            return raw
        obj = _object(raw, f'{{"{self.amount}": <number>, "units": "<esri unit>"}}')
        if self.amount not in obj:
            raise InvalidValue(f"missing {self.amount!r} in {_clip(obj)!r}")
        amount = GPDouble().parse(obj[self.amount], env)
        return self.cls(amount, obj.get("units") or self.cls.__dataclass_fields__["units"].default)

    def to_json(self, value: Any) -> dict[str, Any]:
        return value.to_json()

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        return self.parse(value, ParseEnv()).to_json()

    def describe_default(self, default: Any) -> Any:
        return None if default is None else default.to_json()


# -- files and rasters ------------------------------------------------------------

@dataclass(frozen=True)
class DataFile:
    """A file: given by ``url`` (inputs), or written by a tool at ``path`` (outputs).

    An output ``DataFile(path=ctx.workdir / "report.csv")`` is published at a URL
    under the job's directory; a path outside the work folder is copied in.
    """

    url: str | None = None
    path: Path | None = None

    def read_bytes(self) -> bytes:
        """The file's content, from ``path`` or downloaded from ``url``."""
        if self.path is not None:
            return Path(self.path).read_bytes()
        if not self.url:
            raise ValueError("this DataFile has neither a path nor a url")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"only http(s) URLs can be read, not {self.url!r}")
        with urllib.request.urlopen(self.url, timeout=60) as response:   # noqa: S310 (scheme checked)
            return response.read()


@dataclass(frozen=True)
class RasterData(DataFile):
    """A raster, by URL or written at ``path``; ``format`` is its file type (``tif``...)."""

    format: str = ""


class _File:
    def __init__(self, cls: type, data_type: str):
        self.cls, self.data_type = cls, data_type

    def parse(self, raw: Any, env: ParseEnv) -> Any:
        if isinstance(raw, self.cls):
            return raw
        obj = _object(raw, '{"url": "..."}')
        if "itemID" in obj and not obj.get("url"):
            raise InvalidValue("portal items (itemID) are not supported here; send {\"url\": ...}")
        url = obj.get("url")
        if not isinstance(url, str) or not url:
            raise InvalidValue(f'expected {{"url": "..."}}, got {_clip(obj)!r}')
        if self.cls is RasterData:
            return RasterData(url=url, format=str(obj.get("format") or ""))
        return DataFile(url=url)

    def to_json(self, value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"url": value.url}
        if isinstance(value, RasterData):
            out["format"] = value.format
        return out

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        if isinstance(value, (str, Path)) and not str(value).startswith(("http://", "https://")):
            value = self.cls(path=Path(value))
        elif isinstance(value, str):
            value = self.cls(url=value)
        if not isinstance(value, DataFile):
            raise InvalidValue(f"expected a {self.cls.__name__}, got {type(value).__name__}")
        url = value.url
        if value.path is not None:
            url = self._publish(Path(value.path), env)
        if not url:
            raise InvalidValue("a file output needs a path or a url")
        out: dict[str, Any] = {"url": url}
        if self.cls is RasterData:
            fmt = getattr(value, "format", "") or (Path(value.path).suffix.lstrip(".") if value.path else "")
            out["format"] = fmt
        return out

    @staticmethod
    def _publish(path: Path, env: DumpEnv) -> str:
        if env.workdir is None or env.files_url is None:
            raise InvalidValue("file outputs need a job work folder")
        workdir = env.workdir.resolve()
        if not path.is_absolute():
            path = workdir / path
        path = path.resolve()
        if not path.is_file():
            raise InvalidValue(f"the tool returned {path.name!r}, which does not exist")
        if not path.is_relative_to(workdir):
            workdir.mkdir(parents=True, exist_ok=True)   # made lazily: the tool may never have used it
            target = workdir / path.name
            shutil.copyfile(path, target)
            path = target
        return f"{env.files_url}/{path.relative_to(workdir).as_posix()}"

    def describe_default(self, default: Any) -> Any:
        return None if default is None or default.url is None else self.to_json(default)


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
    return {k: (GPDate().to_json(v) if isinstance(v, datetime) else v) for k, v in attrs.items()}


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


class _FeatureSetType:
    data_type = "GPFeatureRecordSetLayer"

    def parse(self, raw: Any, env: ParseEnv) -> FeatureSet:
        if isinstance(raw, FeatureSet):
            return raw
        value = _object(raw, "a feature set")
        fs = FeatureSet.from_json(value)
        if fs.spatial_reference:
            try:
                geo.crs_of(fs.spatial_reference)
            except Exception as exc:
                raise InvalidValue(f"unknown spatial reference {fs.spatial_reference}: {exc}") from None
        return fs

    def to_json(self, value: FeatureSet) -> dict[str, Any]:
        return value.to_json()

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        fs = self.parse(value if isinstance(value, (FeatureSet, dict, str)) else _not(value, "FeatureSet"),
                        ParseEnv())
        if env.out_sr and fs.spatial_reference:
            try:
                fs = fs.to_sr(env.out_sr)
            except Exception as exc:
                raise InvalidValue(f"cannot project to {env.out_sr}: {exc}") from None
        return fs.to_json()

    def describe_default(self, default: Any) -> Any:
        return None if default is None else self.parse(default, ParseEnv()).to_json()


class _RecordSetType:
    data_type = "GPRecordSet"

    def parse(self, raw: Any, env: ParseEnv) -> RecordSet:
        if isinstance(raw, RecordSet):
            return raw
        return RecordSet.from_json(_object(raw, "a record set"))

    def to_json(self, value: RecordSet) -> dict[str, Any]:
        return value.to_json()

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        if isinstance(value, list):
            value = RecordSet(value)
        return self.parse(value if isinstance(value, (RecordSet, dict, str)) else _not(value, "RecordSet"),
                          ParseEnv()).to_json()

    def describe_default(self, default: Any) -> Any:
        return None if default is None else self.parse(default, ParseEnv()).to_json()


def _not(value: Any, expected: str) -> Any:
    raise InvalidValue(f"expected a {expected}, got {type(value).__name__}")


# -- hint -> type ---------------------------------------------------------------------

_SIMPLE: dict[Any, GPType] = {
    str: GPString(), int: GPLong(), float: GPDouble(), bool: GPBoolean(), datetime: GPDate(),
    LinearUnit: _Unit(LinearUnit, "GPLinearUnit", "distance"),
    ArealUnit: _Unit(ArealUnit, "GPArealUnit", "area"),
    DataFile: _File(DataFile, "GPDataFile"),
    RasterData: _File(RasterData, "GPRasterDataLayer"),
    FeatureSet: _FeatureSetType(),
    RecordSet: _RecordSetType(),
}


def gp_type_for(hint: Any) -> GPType:
    """The GP type of a type hint; TypeError for hints that cannot be published."""
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    origin = get_origin(hint)
    if origin is list:
        (member,) = get_args(hint) or (str,)
        if get_origin(member) is list:
            raise TypeError("nested lists cannot be published")
        return GPMultiValue(gp_type_for(member))
    if origin in (Union, types.UnionType):
        raise TypeError(f"union types other than Optional[T] cannot be published: {hint!r}")
    supported = ", ".join(getattr(k, "__name__", str(k)) for k in _SIMPLE)
    raise TypeError(f"type {hint!r} cannot be published; use one of {supported} or list[...] of them")
