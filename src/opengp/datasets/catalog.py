"""The registered datasets, by key, and their layers, read lazily and cached.

A dataset is a vector file (GeoPackage, GeoJSON, Shapefile) named in the
config; each of its layers is served as ``.../<key>/FeatureServer/<id>``,
ids 0..n in the config's ``layers`` order (or the file's).  A layer is read
once with pyogrio into a GeoDataFrame that carries an object id column:
the file's integer ``OBJECTID`` or GeoPackage ``fid`` when there is one (ids
then survive edits to the file), else 1..n in file order.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import SplitResult, unquote, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from ..auth import Claims
from ..auth.access import may_use
from ..config import DatasetConfig, Settings
from ..tools import geometry as geo
from .where import DATE, NUMBER, TEXT, Field

OID_TYPE = "esriFieldTypeOID"
_GEOMETRY_TYPES = {
    "point": geo.POINT, "multipoint": geo.MULTIPOINT,
    "linestring": geo.POLYLINE, "multilinestring": geo.POLYLINE,
    "polygon": geo.POLYGON, "multipolygon": geo.POLYGON,
}
_URL = re.compile(r"/rest/services/(?P<key>.+?)/FeatureServer/(?P<id>\d+)(?:/query)?/?$", re.IGNORECASE)


class Layer:
    """One layer of a dataset: metadata at once, features (``frame``) on first use."""

    def __init__(self, dataset: "Dataset", layer_id: int, source_layer: str, geometry_name: str) -> None:
        self.dataset = dataset
        self.id = layer_id
        self.name = source_layer
        self.source_layer = source_layer          # the layer's name in the file
        self.path = dataset.path
        self._geometry_name = geometry_name       # as pyogrio.list_layers reports it
        self._lock = threading.Lock()
        self._frame: gpd.GeoDataFrame | None = None

    @property
    def frame(self) -> gpd.GeoDataFrame:
        """The features (read once, then shared: treat it as read-only)."""
        if self._frame is None:
            with self._lock:
                if self._frame is None:
                    self._frame = _read(self.path, self.source_layer)
        return self._frame

    @cached_property
    def crs(self) -> CRS | None:
        info = pyogrio.read_info(self.path, layer=self.source_layer)
        return CRS.from_user_input(info["crs"]) if info.get("crs") else None

    @cached_property
    def spatial_reference(self) -> dict[str, Any] | None:
        """The layer's SR as ArcGIS JSON (None when the file has no CRS)."""
        return sr_json(self.crs)

    @property
    def object_id_field(self) -> str:
        return self.frame.attrs["oid"]

    @cached_property
    def geometry_type(self) -> str | None:
        name = self._geometry_name.lower().replace("3d ", "").replace(" z", "").replace(" m", "").strip()
        if name in _GEOMETRY_TYPES:
            return _GEOMETRY_TYPES[name]
        first = next((g for g in self.frame.geometry if g is not None and not g.is_empty), None)
        return geo.geometry_type(first) if first is not None else None

    @cached_property
    def fields(self) -> list[dict[str, Any]]:
        """ArcGIS field descriptions, object id first."""
        return [field_json(self.frame, name) for name in self.attribute_columns]

    @cached_property
    def attribute_columns(self) -> list[str]:
        frame = self.frame
        others = [c for c in frame.columns if c != frame.geometry.name and c != frame.attrs["oid"]]
        return [frame.attrs["oid"], *others]

    @cached_property
    def where_fields(self) -> dict[str, Field]:
        """What a where clause may name: every attribute column, by name."""
        return {f["name"]: Field(f["name"], _KINDS.get(f["type"], TEXT)) for f in self.fields}

    def field_named(self, name: str) -> str | None:
        """The column called ``name``, compared without case (as ArcGIS does)."""
        lowered = name.strip().lower()
        return next((c for c in self.attribute_columns if c.lower() == lowered), None)

    @cached_property
    def extent(self) -> dict[str, Any] | None:
        geoms = self.frame.geometry
        if len(geoms) == 0 or geoms.is_empty.all() or geoms.isna().all():
            return None
        xmin, ymin, xmax, ymax = (float(v) for v in geoms.total_bounds)
        return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax, "spatialReference": self.spatial_reference}


@dataclass
class Dataset:
    """One registered file and its layers."""

    config: DatasetConfig
    path: Path
    layers: list[Layer] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.config.key

    @property
    def public(self) -> bool:
        return self.config.public

    @property
    def allowed(self) -> list[str]:
        return self.config.allowed

    def layer(self, layer_id: int) -> Layer | None:
        return self.layers[layer_id] if 0 <= layer_id < len(self.layers) else None


class Catalog:
    """Every dataset the config registers; layers are listed at once, read lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._datasets: dict[str, Dataset] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Catalog":
        """The catalog of ``settings``, checked now: a missing file or layer stops the server
        at start rather than failing its first query (ValueError saying which)."""
        catalog = cls(settings)
        catalog.datasets()
        return catalog

    def datasets(self) -> dict[str, Dataset]:
        if self._datasets is None:
            with self._lock:
                if self._datasets is None:
                    self._datasets = {c.key: _open(c, self.settings.config_dir) for c in self.settings.datasets}
        return self._datasets

    def dataset(self, key: str) -> Dataset | None:
        """By key (``Folder/Name``); like ArcGIS, a different case also finds it."""
        found = self.datasets().get(key)
        if found is None:
            lowered = key.lower()
            found = next((d for k, d in self.datasets().items() if k.lower() == lowered), None)
        return found

    def layer(self, key: str, layer_id: int) -> Layer | None:
        dataset = self.dataset(key)
        return dataset.layer(layer_id) if dataset is not None else None

    def find_url(self, url: str, extra_hosts: Iterable[str] = ()) -> tuple[Dataset, Layer] | None:
        """The dataset and layer a URL names (``.../rest/services/<key>/FeatureServer/<id>``,
        optionally ``/query?...``), when the URL is ours and the layer exists; else None.

        A URL is ours when it is a path (``/arcgis/...``) or its host and port are this
        server's (see ``is_own_url``; ``extra_hosts`` adds ``host[:port]`` names, such as
        the current request's Host header).  Any other host is another server, even where
        its path names one of our keys: it is fetched, never read from our file.
        """
        match = self._match(url, extra_hosts)
        if match is None:
            return None
        dataset = self.dataset(match[0])
        layer = dataset.layer(int(match[1])) if dataset is not None and len(match[1]) < 10 else None
        return (dataset, layer) if dataset is not None and layer is not None else None

    def missing(self, url: str, extra_hosts: Iterable[str] = ()) -> str | None:
        """Why a URL of ours in the feature layer form names nothing (a sentence), or None
        when it names a layer or is not ours (``find_url``'s rules)."""
        match = self._match(url, extra_hosts)
        if match is None:
            return None
        dataset = self.dataset(match[0])
        if dataset is None:
            return f"names dataset {match[0]}, which this server does not have"
        if len(match[1]) >= 10 or dataset.layer(int(match[1])) is None:
            shown = match[1] if len(match[1]) < 10 else match[1][:9] + "..."
            return (f"names layer {shown} of dataset {dataset.key}, which does not exist "
                    f"(its layers are 0 to {len(dataset.layers) - 1})")
        return None

    def _match(self, url: str, extra_hosts: Iterable[str]) -> tuple[str, str] | None:
        """(dataset key, layer id as written) of a URL of ours in the feature layer form."""
        if not is_own_url(url, self.settings, extra_hosts):
            return None
        match = _URL.search(unquote(urlsplit(url).path))
        return None if match is None else (match["key"].strip("/"), match["id"])


def own_hosts(settings: Settings, extra_hosts: Iterable[str] = ()) -> set[tuple[str, int | None]]:
    """This server's ``(host, port)`` names, lower-case: ``public_url``'s, ``host:port``,
    ``127.0.0.1``, ``localhost`` and ``[::1]`` on its port, and ``extra_hosts`` (``host[:port]``;
    a port of None there matches the default port of the URL's scheme)."""
    out = {(name, settings.port) for name in (settings.host.lower(), "127.0.0.1", "localhost", "::1")}
    if settings.public_url:
        public = _host_port(urlsplit(settings.public_url))
        if public is not None:
            out.add(public)
    for netloc in extra_hosts:
        extra = _host_port(urlsplit("//" + netloc.strip()))
        if extra is not None:
            out.add(extra)
    return out


def is_own_url(url: str, settings: Settings, extra_hosts: Iterable[str] = ()) -> bool:
    """Whether ``url`` points at this server: a path (``/...``, not ``//host``), or an
    http(s) URL whose host and port are one of ``own_hosts`` (default ports filled in)."""
    if url.startswith("/") and not url.startswith("//"):
        return True
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return False
    found = _host_port(parts)
    if found is None:
        return False
    hosts = own_hosts(settings, extra_hosts)
    return found in hosts or ((found[0], None) in hosts and found[1] == _DEFAULT_PORTS[parts.scheme.lower()])


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(parts: SplitResult) -> tuple[str, int | None] | None:
    """``(host, port)`` of a split URL: the port given, else its scheme's default (None
    without a scheme); None when there is no host or the port is not a number."""
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS.get(parts.scheme.lower())


def can_read(dataset: Dataset, user: Claims | None) -> bool:
    """Whether ``user`` (verified claims, None for anonymous) may read ``dataset``: the same
    rule as for services (public, or listed in ``allowed`` by name or role, or administrator)."""
    return may_use(dataset.config, user)


def _open(config: DatasetConfig, config_dir: Path) -> Dataset:
    path = config.path if config.path.is_absolute() else (config_dir / config.path)
    path = path.resolve()
    try:
        listed = pyogrio.list_layers(path)
    except Exception as exc:
        raise ValueError(f"dataset {config.key}: cannot open {path}: {exc}") from None
    in_file = {str(name): str(kind) for name, kind in listed}
    names = config.layers if config.layers is not None else list(in_file)
    missing = [n for n in names if n not in in_file]
    if missing:
        raise ValueError(f"dataset {config.key}: {path} has no layer {', '.join(map(repr, missing))}; "
                         f"it has {', '.join(map(repr, in_file))}")
    dataset = Dataset(config, path)
    dataset.layers = [Layer(dataset, i, name, in_file[name]) for i, name in enumerate(names)]
    return dataset


def _read(path: Path, layer: str) -> gpd.GeoDataFrame:
    """The layer's features with an object id column (named in ``frame.attrs["oid"]``)."""
    frame = pyogrio.read_dataframe(path, layer=layer, fid_as_index=True)
    if not isinstance(frame, gpd.GeoDataFrame):       # a table without geometry
        frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([None] * len(frame), index=frame.index))
    fids = frame.index.to_numpy()
    driver = pyogrio.read_info(path, layer=layer).get("driver")
    frame = frame.reset_index(drop=True)
    for column in list(frame.columns):
        if column == frame.geometry.name:
            continue
        series = frame[column]
        if pd.api.types.is_bool_dtype(series):
            frame[column] = series.astype("int64")
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            frame[column] = series.dt.tz_convert("UTC").dt.tz_localize(None)
    oid = next((c for c in frame.columns if c.lower() == "objectid" and pd.api.types.is_integer_dtype(frame[c])
                and frame[c].is_unique), None)
    if oid is None:
        oid = "OBJECTID"
        while oid in frame.columns:
            oid += "_1"
        stable = driver == "GPKG" and len(fids) and np.issubdtype(fids.dtype, np.integer) and len(set(fids)) == len(fids)
        frame.insert(0, oid, fids.astype("int64") if stable else np.arange(1, len(frame) + 1, dtype="int64"))
    frame.attrs["oid"] = oid
    return frame


_KINDS = {"esriFieldTypeOID": NUMBER, "esriFieldTypeInteger": NUMBER, "esriFieldTypeSmallInteger": NUMBER,
          "esriFieldTypeBigInteger": NUMBER, "esriFieldTypeDouble": NUMBER, "esriFieldTypeDate": DATE,
          "esriFieldTypeString": TEXT}


def field_json(frame: pd.DataFrame, name: str) -> dict[str, Any]:
    """One column as an ArcGIS field."""
    series = frame[name]
    out: dict[str, Any] = {"name": name, "alias": name}
    if name == frame.attrs.get("oid"):
        out["type"] = OID_TYPE
    elif pd.api.types.is_integer_dtype(series):
        small = series.empty or (series.min() >= -(2 ** 31) and series.max() < 2 ** 31)
        out["type"] = "esriFieldTypeInteger" if small else "esriFieldTypeBigInteger"
    elif pd.api.types.is_float_dtype(series):
        out["type"] = "esriFieldTypeDouble"
    elif pd.api.types.is_datetime64_any_dtype(series):
        out["type"] = "esriFieldTypeDate"
        out["length"] = 8
    else:
        longest = int(series.dropna().astype(str).str.len().max() or 0) if series.notna().any() else 0
        out["type"] = "esriFieldTypeString"
        out["length"] = max(255, longest)
    out["nullable"] = name != frame.attrs.get("oid")
    out["editable"] = False
    out["domain"] = None
    out["defaultValue"] = None
    return out


def sr_json(crs: CRS | None) -> dict[str, Any] | None:
    """A pyproj CRS as ArcGIS spatial reference JSON: its EPSG code, else ESRI WKT."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    if epsg is not None:
        return {"wkid": 102100, "latestWkid": 3857} if epsg == 3857 else {"wkid": epsg, "latestWkid": epsg}
    return {"wkt": crs.to_wkt("WKT1_ESRI")}
