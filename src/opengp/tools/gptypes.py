"""GP data types: what a Python type hint means on the wire.

Each GP type turns a request value (form text, or JSON already decoded from
the store) into the Python value a tool receives (``parse``), that value into
the JSON kept with the job (``to_json``), and a tool's return value into the
result JSON clients read (``dump``).  ``docs/gp-types.md`` shows every type's
JSON.  The value classes (FeatureSet, LinearUnit...), which toolbox authors
import from ``opengp``, live in ``values``.
"""
from __future__ import annotations

import math
import re
import shutil
import types
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, Union, get_args, get_origin
from urllib.parse import quote

import orjson
from shapely.geometry import MultiPoint

from ..system.files import upload_path
from . import geometry as geo
from .values import (
    INT32, ArealUnit, DataFile, Feature, FeatureSet, InvalidValue, LinearUnit, RasterData, RecordSet,
    epoch_ms,
)

# Numbers as people and clients write them: ASCII digits, optional sign, fraction
# and exponent.  (Python's int()/float() also take "1_000" and non-ASCII digits.)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)",
                     re.ASCII | re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class FeatureSource(Protocol):
    """Reads feature inputs given as ``{"url": <layer or query URL>}`` (``datasets.inputs``)."""

    def check(self, url: str) -> None:
        """Raise InvalidValue unless ``url`` may be read (at submit: access, refused hosts, bad query)."""

    def read(self, url: str) -> FeatureSet:
        """Every feature the URL names (when the job runs)."""


class UploadSource(Protocol):
    """Uploaded files kept elsewhere than a local folder (object storage, ``runtime/storage.py``)."""

    def locate(self, item_id: str) -> Path | None:
        """The file of ``item_id`` (None: no such upload): a local copy when a job runs; while
        validating a request, a path that may only name the file."""


@dataclass(frozen=True)
class ParseEnv:
    """What parsing may need: the job's work folder (None while validating a request),
    where uploaded files are kept (a folder, or an UploadSource; None: uploads are not
    accepted) and what reads feature layers given by URL (None: such inputs are refused)."""

    workdir: Path | None = None
    uploads: Path | UploadSource | None = None
    features: FeatureSource | None = None


@dataclass(frozen=True)
class LayerUrl:
    """A feature input given by URL, checked at submit and read when the job runs: the job
    keeps ``{"url": ...}``, so its inputs show what was asked, not a copy of the data."""

    url: str

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url}


def _by_url(value: dict[str, Any], env: ParseEnv, what: str = "feature layer") -> LayerUrl | FeatureSet:
    url = value.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidValue(f'expected {{"url": "<{what} URL>"}}, got {_clip(value)!r}')
    if env.features is None:
        rows = "records" if what == "table" else "features"
        raise InvalidValue(f"{what} URLs are not supported here; send the {rows} as JSON")
    if env.workdir is None:
        env.features.check(url.strip())
        return LayerUrl(url.strip())
    try:
        return env.features.read(url.strip())
    except InvalidValue:
        raise
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None


@dataclass(frozen=True)
class DumpEnv:
    """What writing results may need: the requested output SR, the work folder and its URL."""

    out_sr: dict[str, Any] | None = None
    workdir: Path | None = None
    files_url: str | None = None


class GPType(Protocol):
    """A GP data type, and what the faces need to know of it (so they never switch on its name):
    ``schema``, the JSON Schema of one value (OpenAPI 3.0 flavour, as OGC API - Processes 1.0
    uses); ``is_file``, whether a value is a file (sent by URL or upload); ``hint``, what a
    form asks for (empty: the field's type says it); ``form``, the kind of form field that
    takes a value: text, number, boolean, date, json, table, features or file; ``open_value``,
    a stored value as open standards spell it (RFC 3339 dates, GeoJSON features), of
    ``media_type`` when it is an object."""

    data_type: str
    is_file: bool
    hint: str
    form: str
    media_type: str

    def open_value(self, stored: Any) -> Any: ...

    @property
    def schema(self) -> dict[str, Any]: ...

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


class _AsStored:
    """What open formats see of most types: the stored JSON as it is."""

    media_type = "application/json"

    def open_value(self, stored: Any) -> Any:
        return stored


# -- scalars ------------------------------------------------------------------

class _Scalar(_AsStored):
    is_file = False
    hint = ""
    form = "text"
    _schema: dict[str, Any] = {"type": "string"}

    @property
    def schema(self) -> dict[str, Any]:
        return dict(self._schema)

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


class GPLong(_Scalar):
    data_type = "GPLong"
    form = "number"
    _schema = {"type": "integer"}

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
            if _INTEGER.fullmatch(text):
                if len(text.lstrip("+-").lstrip("0")) > 10:   # int() of thousands of digits is refused
                    raise InvalidValue(f"{_clip(text)} is outside the 32-bit range of GPLong")
                value = int(text)
            else:     # "3.0" and "3e2" are integers too; "3.5" is not
                number = float(text) if _NUMBER.fullmatch(text) else math.nan
                if not number.is_integer():
                    raise InvalidValue(f"expected an integer, got {_clip(text)!r}")
                value = int(number)
        if not INT32[0] <= value <= INT32[1]:
            raise InvalidValue(f"{value} is outside the 32-bit range of GPLong")
        return value


class GPDouble(_Scalar):
    data_type = "GPDouble"
    form = "number"
    _schema = {"type": "number"}

    def parse(self, raw: Any, env: ParseEnv) -> float:
        if isinstance(raw, bool):
            raise InvalidValue(f"expected a number, got {raw!r}")
        if isinstance(raw, str) and not _NUMBER.fullmatch(raw.strip()):
            raise InvalidValue(f"expected a number, got {_clip(raw)!r}")
        try:
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise InvalidValue(f"expected a number, got {_clip(raw)!r}") from None
        except OverflowError:
            raise InvalidValue(f"{_clip(raw)!r} is too large for a GPDouble") from None
        if not math.isfinite(value):
            raise InvalidValue(f"expected a finite number, got {raw!r}")
        return value


class GPBoolean(_Scalar):
    data_type = "GPBoolean"
    form = "boolean"
    _schema = {"type": "boolean"}
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


def flag(value: str | None, default: bool) -> bool | None:
    """A request's true/false option in GPBoolean's words: ``default`` when absent or empty,
    None when it is neither true nor false (the caller refuses it, or keeps its default)."""
    text = (value or "").strip().lower()
    if not text:
        return default
    return True if text in GPBoolean.TRUE else False if text in GPBoolean.FALSE else None


class GPDate(_Scalar):
    """Milliseconds since the epoch, UTC, on the wire; an aware datetime in Python."""

    data_type = "GPDate"
    form = "date"
    _schema = {"type": "string", "format": "date-time"}
    hint = "Milliseconds since 1970, or a date such as 2024-06-15T12:00:00."

    def parse(self, raw: Any, env: ParseEnv) -> datetime:
        if isinstance(raw, datetime):
            return _utc(raw)
        if isinstance(raw, bool):
            raise InvalidValue(f"expected epoch milliseconds, got {raw!r}")
        text = raw.strip() if isinstance(raw, str) else raw
        if isinstance(text, (int, float)) or (isinstance(text, str) and _NUMBER.fullmatch(text)):
            try:
                ms = int(text) if isinstance(text, str) and _INTEGER.fullmatch(text) else float(text)
                return _EPOCH + timedelta(milliseconds=ms)   # exact, unlike fromtimestamp(ms / 1000)
            except (OverflowError, ValueError):
                raise InvalidValue(f"{_clip(raw)!r} is not a representable date") from None
        try:   # ISO 8601 is friendlier for people typing into a form
            parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(f"expected epoch milliseconds or an ISO 8601 date, got {_clip(raw)!r}") from None
        return _utc(parsed)

    def to_json(self, value: datetime) -> int:
        return epoch_ms(value)

    def open_value(self, stored: Any) -> Any:
        """RFC 3339, as the schema's ``date-time`` says."""
        if isinstance(stored, (int, float)) and not isinstance(stored, bool):
            return datetime.fromtimestamp(stored / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
        return stored


def _utc(value: datetime) -> datetime:
    """Naive means UTC; an aware datetime is converted to UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class GPMultiValue(_AsStored):
    """``list[T]``: a JSON array of T's values."""

    is_file = False
    hint = 'Several values: a JSON array [...], or values separated by ";".'
    form = "json"

    def __init__(self, member: GPType):
        self.member = member
        self.data_type = f"GPMultiValue:{member.data_type}"

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.member.schema}

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

    def open_value(self, stored: Any) -> Any:
        return [self.member.open_value(v) for v in stored] if isinstance(stored, list) else stored

    def dump(self, value: Any, env: DumpEnv) -> list[Any]:
        return [self.member.dump(v, env) for v in value]

    def describe_default(self, default: Any) -> Any:
        return None if default is None else self.to_json(list(default))


class _Unit(_AsStored):
    is_file = False
    form = "json"

    def __init__(self, cls: type, data_type: str, amount: str, example: str):
        self.cls, self.data_type, self.amount, self.example = cls, data_type, amount, example

    @property
    def hint(self) -> str:
        noun = "A distance" if self.amount == "distance" else "An area"
        return f'{noun}: {{"{self.amount}": 100, "units": "{self.example}"}}.'

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "object", "required": [self.amount, "units"], "properties": {
            self.amount: {"type": "number"}, "units": {"type": "string", "example": self.example}}}

    def parse(self, raw: Any, env: ParseEnv) -> Any:
        if isinstance(raw, self.cls):
            return raw
        obj = _object(raw, f'{{"{self.amount}": <number>, "units": "<esri unit>"}}')
        if self.amount not in obj:
            raise InvalidValue(f"missing {self.amount!r} in {_clip(obj)!r}")
        amount = GPDouble().parse(obj[self.amount], env)
        units = obj.get("units") or self.cls.__dataclass_fields__["units"].default
        if not isinstance(units, str):
            raise InvalidValue(f"'units' must be a string such as \"esriMeters\", got {_clip(units)!r}")
        return self.cls(amount, units)

    def to_json(self, value: Any) -> dict[str, Any]:
        return value.to_json()

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        return self.parse(value, ParseEnv()).to_json()

    def describe_default(self, default: Any) -> Any:
        return None if default is None else default.to_json()


class _File(_AsStored):
    is_file = True
    form = "file"
    hint = 'A URL: {"url": "https://..."}.'

    def __init__(self, cls: type, data_type: str):
        self.cls, self.data_type = cls, data_type

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "string", "contentEncoding": "binary", "contentMediaType": "application/octet-stream"}

    def parse(self, raw: Any, env: ParseEnv) -> Any:
        if isinstance(raw, self.cls):
            return raw
        obj = _object(raw, '{"url": "..."}')
        if "itemID" in obj and not obj.get("url"):
            return self._uploaded(str(obj["itemID"]), obj, env)
        url = obj.get("url")
        if not isinstance(url, str) or not url:
            raise InvalidValue(f'expected {{"url": "..."}}, got {_clip(obj)!r}')
        if not url.lower().startswith(("http://", "https://")):
            raise InvalidValue(f"a file URL must be http:// or https://, not {_clip(url)!r}")
        if self.cls is RasterData:
            return RasterData(url=url, format=str(obj.get("format") or ""))
        return DataFile(url=url)

    def _uploaded(self, item_id: str, obj: dict[str, Any], env: ParseEnv) -> Any:
        """``{"itemID": ...}``: a file sent before with ``uploads/upload``."""
        if env.uploads is None:
            path = None
        elif isinstance(env.uploads, Path):
            path = upload_path(env.uploads, item_id)
        else:
            path = env.uploads.locate(item_id)
        if path is None:
            raise InvalidValue(f"no uploaded file with itemID {_clip(item_id)!r} (uploads are kept for a day)")
        if self.cls is RasterData:
            return RasterData(path=path, item_id=item_id, format=str(obj.get("format") or path.suffix.lstrip(".")))
        return DataFile(path=path, item_id=item_id)

    def to_json(self, value: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"itemID": value.item_id} if value.item_id else {"url": value.url}
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
            named = value.path if value.path is not None else url.split("?", 1)[0].rsplit("/", 1)[-1]
            out["format"] = getattr(value, "format", "") or Path(named).suffix.lstrip(".")
        return out

    @staticmethod
    def _publish(path: Path, env: DumpEnv) -> str:
        if env.workdir is None or env.files_url is None:
            raise InvalidValue("file outputs need a job work folder")
        workdir = env.workdir.resolve()
        if not path.is_absolute():
            path = workdir / path
        path = path.resolve()
        if not path.exists():
            raise InvalidValue(f"the tool returned {path.name!r}, which does not exist")
        if not path.is_file():
            raise InvalidValue(f"the tool returned {path.name!r}, which is not a file")
        if not path.is_relative_to(workdir):
            workdir.mkdir(parents=True, exist_ok=True)   # made lazily: the tool may never have used it
            target = workdir / path.name
            n = 1
            while target.exists():      # never overwrite a file another output may point at
                target = workdir / f"{path.stem}-{n}{path.suffix}"
                n += 1
            shutil.copyfile(path, target)
            path = target
        return f"{env.files_url}/{quote(path.relative_to(workdir).as_posix(), safe='/')}"

    def describe_default(self, default: Any) -> Any:
        return None if default is None or default.url is None else self.to_json(default)


_GEOMETRY_KEYS = ("x", "points", "paths", "rings", "xmin", "curvePaths", "curveRings")
_GEOMETRY_TYPES = (geo.POINT, geo.MULTIPOINT, geo.POLYLINE, geo.POLYGON, geo.ENVELOPE)


class _FeatureSetType:
    data_type = "GPFeatureRecordSetLayer"
    is_file = False
    form = "features"
    media_type = "application/geo+json"
    hint = 'Esri JSON {"features": [...]} or GeoJSON, pasted or loaded from a file.'

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "object", "format": "geojson-feature-collection", "contentMediaType": "application/geo+json"}

    def parse(self, raw: Any, env: ParseEnv) -> FeatureSet | LayerUrl:
        if isinstance(raw, (FeatureSet, LayerUrl)):
            return raw
        value = _object(raw, "a feature set")
        if "url" in value and "features" not in value:
            read = _by_url(value, env)
            return read if isinstance(read, LayerUrl) else _conform(read)
        if "features" not in value and any(k in value for k in _GEOMETRY_KEYS):
            raise InvalidValue('got a single Esri geometry; send a feature set: '
                               '{"features": [{"geometry": ...}], "spatialReference": ...}')
        if value.get("type") in ("FeatureCollection", "Feature", "GeometryCollection"):
            _check_geojson(value)
        else:
            value = _with_zm_flags(value)
        try:
            fs = FeatureSet.from_json(value)
        except InvalidValue:
            raise
        except Exception as exc:      # structure the reader did not expect
            raise InvalidValue(f"not a valid feature set: {type(exc).__name__}: {exc}") from None
        if fs.spatial_reference:
            try:
                geo.crs_of(fs.spatial_reference)
            except Exception as exc:
                raise InvalidValue(f"unknown spatial reference {fs.spatial_reference}: {exc}") from None
        if fs.geometry_type is not None and fs.geometry_type not in _GEOMETRY_TYPES:
            raise InvalidValue(f"unknown geometryType {_clip(fs.geometry_type)!r}; "
                               f"use one of {', '.join(_GEOMETRY_TYPES)}")
        if fs.geometry_type == geo.ENVELOPE:     # envelopes are read as polygons
            fs.geometry_type = geo.POLYGON
        return _conform(fs)

    def to_json(self, value: FeatureSet | LayerUrl) -> dict[str, Any]:
        return value.to_json()

    def open_value(self, stored: Any) -> Any:
        """GeoJSON, as the schema says."""
        return FeatureSet.from_json(stored).to_geojson() if isinstance(stored, dict) else stored

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        fs = self.parse(value if isinstance(value, (FeatureSet, dict, str)) else _not(value, "FeatureSet"),
                        ParseEnv())
        fs = _conform(fs)
        if env.out_sr and fs.spatial_reference:
            try:
                fs = fs.to_sr(env.out_sr)
            except Exception as exc:
                raise InvalidValue(f"cannot project to {env.out_sr}: {exc}") from None
        return fs.to_json()

    def describe_default(self, default: Any) -> Any:
        return None if default is None else self.parse(default, ParseEnv()).to_json()


def _check_geojson(value: dict[str, Any]) -> None:
    """What the GeoJSON reader takes for granted, checked with messages naming the feature."""
    if value.get("type") == "GeometryCollection":
        raise InvalidValue("GeoJSON GeometryCollections are not supported; send a FeatureCollection")
    if value.get("type") == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list):
            raise InvalidValue("a GeoJSON FeatureCollection needs a 'features' array")
    else:
        features = [value]
    for i, item in enumerate(features):
        if not isinstance(item, dict) or item.get("type") != "Feature":
            raise InvalidValue(f"feature {i} is not a GeoJSON Feature")
        g = item.get("geometry")
        if g is not None and not isinstance(g, dict):
            raise InvalidValue(f"feature {i}: 'geometry' must be a GeoJSON geometry object or null")
        if isinstance(g, dict) and g.get("type") == "GeometryCollection":
            raise InvalidValue(f"feature {i}: GeometryCollections are not supported")
        if item.get("properties") is not None and not isinstance(item["properties"], dict):
            raise InvalidValue(f"feature {i}: 'properties' must be a JSON object or null")


def _with_zm_flags(value: dict[str, Any]) -> dict[str, Any]:
    """Hand a feature set's hasZ/hasM to its geometries, so [x, y, m] is not read as [x, y, z]."""
    if not value.get("hasM") or not isinstance(value.get("features"), list):
        return value
    flags = {"hasZ": bool(value.get("hasZ")), "hasM": True}
    features = [
        {**f, "geometry": {**flags, **f["geometry"]}} if isinstance(f, dict) and isinstance(f.get("geometry"), dict)
        else f
        for f in value["features"]
    ]
    return {**value, "features": features}


def _conform(fs: FeatureSet) -> FeatureSet:
    """Every geometry of the one type an Esri feature set holds (a Point may join multipoints)."""
    declared = fs.geometry_type
    changed: dict[int, Feature] = {}
    for i, f in enumerate(fs.features):
        if f.geometry is None:
            continue
        try:
            kind = geo.geometry_type(f.geometry)
        except ValueError as exc:
            raise InvalidValue(f"feature {i}: {exc}") from None
        if declared is None:
            declared = kind
        if kind == declared:
            continue
        if kind == geo.POINT and declared == geo.MULTIPOINT:
            changed[i] = Feature(MultiPoint([] if f.geometry.is_empty else [f.geometry]), f.attributes)
            continue
        raise InvalidValue(f"feature {i}: {_kind(kind)} geometry in a feature set of {_kind(declared)}s "
                           f"(an Esri feature set holds one geometry type)")
    if not changed:
        return fs
    features = [changed.get(i, f) for i, f in enumerate(fs.features)]
    return FeatureSet(features, fs.spatial_reference, fs.geometry_type or declared, fs.fields,
                      fs.display_field_name)


def _kind(geometry_type: str | None) -> str:
    return (geometry_type or "").removeprefix("esriGeometry").lower()


class _RecordSetType(_AsStored):
    data_type = "GPRecordSet"
    is_file = False
    form = "table"
    hint = ""

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "object", "contentMediaType": "application/json"}

    def parse(self, raw: Any, env: ParseEnv) -> RecordSet | LayerUrl:
        if isinstance(raw, (RecordSet, LayerUrl)):
            return raw
        value = _object(raw, "a record set")
        if "url" in value and "features" not in value:
            read = _by_url(value, env, "table")
            return read if isinstance(read, LayerUrl) else RecordSet([f.attributes for f in read], read.fields)
        if "itemID" in value and "features" not in value:
            raise InvalidValue("portal items (itemID) are not supported here; send the records as JSON")
        return RecordSet.from_json(value)

    def to_json(self, value: RecordSet | LayerUrl) -> dict[str, Any]:
        return value.to_json()

    def dump(self, value: Any, env: DumpEnv) -> dict[str, Any]:
        if isinstance(value, list):
            if not all(isinstance(row, dict) for row in value):
                raise InvalidValue("a RecordSet output given as a list needs one dict per row")
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
    LinearUnit: _Unit(LinearUnit, "GPLinearUnit", "distance", "esriMeters"),
    ArealUnit: _Unit(ArealUnit, "GPArealUnit", "area", "esriSquareMeters"),
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
        raise TypeError(f"union types cannot be published: {hint!r} (Optional[T] / T | None is allowed "
                        f"only as a parameter's own hint, where it makes the parameter optional)")
    supported = ", ".join(getattr(k, "__name__", str(k)) for k in _SIMPLE)
    raise TypeError(f"type {hint!r} cannot be published; use one of {supported} or list[...] of them")


_NAMED = {t.data_type: t for t in _SIMPLE.values()}


def gp_type_named(data_type: str) -> GPType:
    """The GP type called ``data_type`` (a stored result's ``dataType``); KeyError if none."""
    if data_type.startswith("GPMultiValue:"):
        return GPMultiValue(gp_type_named(data_type.split(":", 1)[1]))
    return _NAMED[data_type]


def known_type(data_type: str) -> GPType | None:
    """The GP type called ``data_type``, or None for a name this server does not know (a
    result stored by an older version is then shown as it was stored)."""
    try:
        return gp_type_named(data_type)
    except KeyError:
        return None