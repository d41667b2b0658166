"""The demo toolbox served by ``opengp serve --demo``.

Real (small) geoprocessing with shapely and pyproj, plus tools that show off
the job model: progress stages, cancellation, failure and file outputs.  It is
also a worked example of writing a toolbox; see docs/toolboxes.md.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated

import shapely
from pyproj import CRS, Geod, Transformer
from shapely import ops
from shapely.geometry import GeometryCollection, MultiLineString, MultiPoint
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from opengp import ArealUnit, DataFile, FeatureSet, JobContext, LinearUnit, Param, tool
from opengp.tools import geometry as geo
from opengp.tools.values import Feature

Features = Annotated[FeatureSet, Param(display_name="Input Features")]


GEOD = Geod(ellps="WGS84")


@lru_cache(maxsize=64)
def _to_wgs84(src: CRS) -> Transformer:
    return Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True)


@lru_cache(maxsize=1024)
def _local(src: CRS, lon: int, lat: int) -> tuple[Transformer, Transformer]:
    """Transformers to and from metres on the ground around (lon, lat): an azimuthal equidistant CRS."""
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    return (Transformer.from_crs(src, local, always_xy=True),
            Transformer.from_crs(local, src, always_xy=True))


def _in_metres(fs: FeatureSet, fn) -> list[BaseGeometry | None]:
    """Apply ``fn`` to each geometry in metres; results come back in the input SR.

    Each geometry is worked on in an equidistant CRS centred within a degree
    of it, so distances are true on the ground wherever the features are
    (one CRS for features on both sides of the world would stretch them).
    """
    src = geo.crs_of(fs.spatial_reference or geo.WGS84)
    out = []
    for g in fs.geometries:
        if g is None or g.is_empty:
            out.append(g)
            continue
        x0, y0, x1, y1 = g.bounds           # the bounds' centre: no topology, so invalid shapes are fine
        centre = geo.project(shapely.Point((x0 + x1) / 2, (y0 + y1) / 2), _to_wgs84(src))
        forward, back = _local(src, round(centre.x), round(centre.y))
        out.append(geo.project(fn(geo.project(g, forward)), back))
    return out


def _in_degrees(fs: FeatureSet) -> list[BaseGeometry]:
    """The non-empty geometries as WGS84 longitude/latitude."""
    t = _to_wgs84(geo.crs_of(fs.spatial_reference or geo.WGS84))
    return [geo.project(g, t) for g in fs.geometries if g is not None and not g.is_empty]


@tool(name="BufferFeatures", display_name="Buffer Features", category="Analysis")
def buffer_features(
    input_features: Features,
    distance: Annotated[LinearUnit, Param(display_name="Distance")] = LinearUnit(100, "esriMeters"),
    dissolve: Annotated[bool, Param(description="Merge overlapping buffers into one feature")] = False,
    ctx: JobContext = None,
) -> FeatureSet:
    """Buffer each feature by a distance, measured in metres on the ground."""
    if ctx:
        ctx.stage("Buffering")
    metres = distance.meters
    buffered = _in_metres(input_features, lambda g: geo.valid(g).buffer(metres))
    if dissolve:
        shapes = [g for g in buffered if g is not None and not g.is_empty]
        merged = ops.unary_union(shapes) if shapes else None
        out = FeatureSet.from_geometries([merged] if merged is not None else [], [{"count": len(shapes)}]
                                         if merged is not None else [], sr=input_features.spatial_reference)
    else:
        out = FeatureSet([Feature(g, dict(f.attributes)) for g, f in zip(buffered, input_features)],
                         input_features.spatial_reference)
    out.geometry_type = geo.POLYGON
    if ctx:
        ctx.progress(100)
    return out


@tool(name="ProjectFeatures", display_name="Project Features", category="Data Management")
def project_features(
    input_features: Features,
    out_wkid: Annotated[int, Param(display_name="Output Coordinate System (WKID)")] = 3857,
) -> FeatureSet:
    """Project features to another coordinate system, given by its WKID."""
    return input_features.to_sr(out_wkid)


@tool(name="ClipFeatures", display_name="Clip Features", category="Analysis")
def clip_features(
    input_features: Features,
    clip_features: Annotated[FeatureSet, Param(display_name="Clip Features")],
) -> FeatureSet:
    """Keep the parts of the input features inside the clip polygons."""
    clip_shapes = clip_features.to_sr(input_features.spatial_reference or geo.WGS84).geometries
    polygons = [_parts(geo.valid(g), 2) for g in clip_shapes if g is not None and not g.is_empty]
    polygons = [p for p in polygons if not p.is_empty]
    if not polygons:
        raise ValueError("Clip Features has no polygons to clip with")
    area = ops.unary_union(polygons)
    out = []
    for f in input_features:
        if f.geometry is None or f.geometry.is_empty:
            continue
        dimension = shapely.get_dimensions(f.geometry)
        # the same kind of geometry as the input: a polygon touching the clip edge leaves no lines behind
        part = _parts(geo.valid(f.geometry).intersection(area), dimension)
        if not part.is_empty:
            if isinstance(f.geometry, MultiPoint) and part.geom_type == "Point":
                part = MultiPoint([part])
            out.append(Feature(part, dict(f.attributes)))
    return FeatureSet(out, input_features.spatial_reference, input_features.geometry_type
                      or next((geo.geometry_type(f.geometry) for f in input_features if f.geometry), None))


def _parts(g: BaseGeometry, dimension: int) -> BaseGeometry:
    """The parts of ``g`` of one dimension (0 points, 1 lines, 2 polygons), as one geometry."""
    parts = [p for p in shapely.get_parts(g) if shapely.get_dimensions(p) == dimension and not p.is_empty]
    if not parts:
        return GeometryCollection()
    if len(parts) == 1:
        return parts[0]
    if dimension == 2:
        return ops.unary_union(parts)          # pieces sharing an edge become one polygon
    return MultiLineString(parts) if dimension == 1 else MultiPoint(parts)


@dataclass
class Summary:
    count: int
    total_length: LinearUnit
    total_area: ArealUnit
    extent: FeatureSet


@tool(name="SummarizeFeatures", display_name="Summarize Features", category="Analysis")
def summarize_features(input_features: Features) -> Summary:
    """Count features, measure their total length and area (geodesic, on the WGS84 ellipsoid) and return their extent."""
    shapes = [g for g in input_features.geometries if g is not None and not g.is_empty]
    length = area = 0.0
    for g in _in_degrees(input_features):
        if g.geom_type in ("LineString", "MultiLineString"):
            length += GEOD.geometry_length(g)
        for poly in shapely.get_parts(geo.valid(g)):
            if poly.geom_type == "Polygon":      # counter-clockwise: pyproj's areas are then positive
                area += GEOD.geometry_area_perimeter(orient(poly, 1.0))[0]
    extent = FeatureSet.from_geometries(
        [GeometryCollection(shapes).envelope] if shapes else [], sr=input_features.spatial_reference)
    return Summary(len(input_features), LinearUnit(round(length, 3), "esriMeters"),
                   ArealUnit(round(area, 3), "esriSquareMeters"), extent)


@dataclass
class Echoed:
    """Outputs need names of their own: a task's parameter names are unique."""

    out_text: str
    out_number: float
    out_count: int
    out_flag: bool
    out_when: datetime | None
    out_tags: list[str]


@tool(name="Echo", category="Testing")
def echo(
    text: str = "hello",
    number: float = 1.5,
    count: int = 1,
    flag: bool = False,
    when: datetime | None = None,
    tags: list[str] | None = None,
    ctx: JobContext = None,
) -> Echoed:
    """Return every input unchanged: a quick way to see how each type travels."""
    if ctx:
        ctx.info(f"Echoing {text!r}")
    return Echoed(text, number, count, flag, when, tags or [])


@tool(name="Slow", category="Testing")
def slow(
    seconds: Annotated[float, Param(description="How long to run")] = 10.0,
    stages: Annotated[int, Param(description="How many stages to report")] = 5,
    ctx: JobContext = None,
) -> str:
    """Run for a while, reporting stages and percent complete; honours cancel."""
    stages = max(1, stages)
    step = seconds / stages
    for i in range(stages):
        ctx.stage(f"Stage {i + 1} of {stages}")
        end = time.monotonic() + step
        while time.monotonic() < end:
            if ctx.cancelled:
                return "cancelled"
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        ctx.progress(100 * (i + 1) / stages)
    return f"Finished {stages} stages in {seconds:g} seconds"


@tool(name="Fail", category="Testing")
def fail(message: str = "This tool always fails.", ctx: JobContext = None) -> str:
    """Fail with the given message, as a broken tool would."""
    if ctx:
        ctx.warning("About to fail on purpose.")
    raise RuntimeError(message)


@tool(name="WriteReport", display_name="Write Report", category="Analysis")
def write_report(
    input_features: Features,
    title: str = "Feature report",
    ctx: JobContext = None,
) -> DataFile:
    """Write a CSV listing each feature's geometry type, centroid and attributes."""
    path = ctx.workdir / "report.csv"
    names = sorted({k for f in input_features for k in f.attributes})
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([f"# {title}"])
        out.writerow(["geometry_type", "centroid_x", "centroid_y", *names])
        for f in input_features:
            c = f.geometry.centroid if f.geometry is not None and not f.geometry.is_empty else None
            out.writerow([f.geometry.geom_type if f.geometry is not None else "",
                          c.x if c else "", c.y if c else "", *[f.attributes.get(n, "") for n in names]])
    ctx.info(f"Wrote {len(input_features)} rows to report.csv")
    return DataFile(path=path)
