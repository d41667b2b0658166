"""Where everything goes on the sheet, in millimetres, and which ground the map frame shows.

Pure arithmetic (no matplotlib): the renderer and the GeoTIFF writer both
take their numbers from a ``Sheet``, so the PDF's frame and the GeoTIFF's
bounds are the same extent by construction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from .definition import ProductVersion
from .projection import metres_per_unit

TITLE_BAND_MM = 12.0       # the title line above the map frame
FOOTER_BAND_MM = 6.0       # scale, CRS and product line below it
GRID_LABEL_MM = 5.0        # room for grid labels left of and below the frame
FIT_PADDING = 0.0          # "fit": the AOI's bounding box touches the frame on its tighter side


@dataclass(frozen=True)
class Box:
    """A rectangle on the page in millimetres from the bottom-left corner (matplotlib's origin)."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Sheet:
    """A laid-out sheet.

    page      (width, height) in mm
    frame     the map frame on the page
    title_at  centre of the title line (mm), or None without a title
    footer_at left end of the footer line (mm)
    extent    (xmin, ymin, xmax, ymax) the frame shows, in ``crs`` units
    scale     the scale denominator the map is drawn at
    """

    page: tuple[float, float]
    frame: Box
    title_at: tuple[float, float] | None
    footer_at: tuple[float, float]
    extent: tuple[float, float, float, float]
    scale: float
    crs: CRS

    @property
    def units_per_mm(self) -> float:
        """Map units covered by one millimetre of paper."""
        return (self.extent[2] - self.extent[0]) / self.frame.width

    @property
    def metres_per_unit(self) -> float:
        return metres_per_unit(self.crs)


def frame_box(version: ProductVersion, has_title: bool) -> Box:
    """The map frame: the page inside the margins, less the title, footer and grid-label bands."""
    width, height = version.page_mm
    top, right, bottom, left = version.margins
    grid = version.grid_options
    labels = GRID_LABEL_MM if grid is not None and grid.labels else 0.0
    x = left + labels
    y = bottom + FOOTER_BAND_MM + labels
    w = width - right - x
    h = height - top - (TITLE_BAND_MM if has_title else 0.0) - y
    return Box(x, y, w, h)


def lay_out(version: ProductVersion, aoi: BaseGeometry, crs: CRS, has_title: bool) -> Sheet:
    """Lay out the sheet for ``aoi`` (a polygon in the map CRS ``crs``).

    At a fixed scale the frame is centred on the AOI's bounding box and shows
    as much ground as the paper holds; with ``fit`` the AOI's bounding box
    fills the frame along its tighter side.
    """
    width, height = version.page_mm
    top, right, bottom, left = version.margins
    frame = frame_box(version, has_title)
    per_unit = metres_per_unit(crs)
    x0, y0, x1, y1 = aoi.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if version.scale == "fit":
        pad = FIT_PADDING * max(x1 - x0, y1 - y0)
        need_w, need_h = (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad
        units_per_mm = max(need_w / frame.width, need_h / frame.height)
        scale = units_per_mm * per_unit * 1000.0
    else:
        scale = float(version.scale)
        units_per_mm = scale / 1000.0 / per_unit
    half_w, half_h = frame.width * units_per_mm / 2, frame.height * units_per_mm / 2
    extent = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    title_at = (left + (width - left - right) / 2, height - top - TITLE_BAND_MM / 2) if has_title else None
    footer_at = (left, bottom + FOOTER_BAND_MM / 2 - 1.0)
    return Sheet((width, height), frame, title_at, footer_at, extent, scale, crs)


def nice_step(span: float, count: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``count`` steps across ``span``."""
    if span <= 0:
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def nice_length(limit: float) -> float:
    """The largest round length (1, 2 or 5 times a power of ten) not above ``limit``."""
    power = 10 ** math.floor(math.log10(limit))
    for m in (5, 2, 1):
        if m * power <= limit:
            return m * power
    return power
