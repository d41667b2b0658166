"""What a product is: its versions, each a page layout over dataset layers.

A ``ProductVersion`` is the whole recipe for one sheet: the page, the scale
(or fit-to-AOI), the map's CRS, the layers and their symbology and the sheet
furniture (title, legend, scale bar, north arrow, grid).  The server config
holds them under ``[[product_services.products.versions]]`` (docs/products.md);
at submit time the API resolves each layer's ``dataset``/``layer`` to a file
(``source``) and hands the version, as JSON, to the GenerateProduct tool.

Only pydantic and pyproj are imported here: config.py imports this module,
and loading the config must not pull in matplotlib.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

OutputType = Literal["pdf", "png", "tiff"]
OUTPUT_TYPES: tuple[str, ...] = ("pdf", "png", "tiff")

# Paper sizes in millimetres, portrait (width, height).
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "A2": (420.0, 594.0),
    "letter": (215.9, 279.4),
    "tabloid": (279.4, 431.8),
}

# Point symbols by name -> matplotlib marker codes.
MARKERS: dict[str, str] = {
    "circle": "o", "square": "s", "triangle": "^", "diamond": "D",
    "cross": "+", "x": "x", "star": "*",
}

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def _check_color(value: str | None) -> str | None:
    """A CSS-style colour: ``#rgb``, ``#rrggbb`` (optionally with alpha) or a name such as ``steelblue``."""
    if value is None or _HEX.match(value):
        return value
    from matplotlib import colors      # names only: matplotlib knows the CSS4 and XKCD names

    if not colors.is_color_like(value) or value.replace(".", "").isdigit():
        raise ValueError(f"{value!r} is not a colour; use #rrggbb or a name such as 'steelblue'")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Style(_Model):
    """How a layer's features are drawn: one simple symbol for the whole layer.

    Lines use ``color``/``width``/``dash``; polygons are filled with ``fill``
    (none when unset) and outlined with ``color``/``width``; points are
    ``marker`` symbols of ``size`` points filled with ``fill`` (else ``color``).
    ``label`` names the attribute written beside each feature.
    """

    color: str = "#333333"
    fill: str | None = None
    width: float = Field(0.8, ge=0, le=20)            # line width, points
    dash: Literal["solid", "dashed", "dotted", "dashdot"] = "solid"
    opacity: float = Field(1.0, ge=0, le=1)
    marker: Literal["circle", "square", "triangle", "diamond", "cross", "x", "star"] = "circle"
    size: float = Field(4.0, gt=0, le=50)             # marker size, points
    label: str | None = None                          # attribute to label features with
    label_size: float = Field(7.0, gt=0, le=48)       # label font size, points
    label_color: str = "#000000"

    _colors = field_validator("color", "fill", "label_color")(classmethod(lambda cls, v: _check_color(v)))


class LayerSource(_Model):
    """Where a layer's features are read from: filled in by the API, never in the config."""

    path: str                 # absolute path of a GeoPackage, GeoJSON or Shapefile
    layer: str | None = None  # the layer inside it (None: the file's only layer)


class ProductLayer(_Model):
    """One layer drawn on the map, bottom to top in the order listed."""

    title: str                # shown in the legend
    dataset: str              # a dataset key from [[datasets]], e.g. "Demo/Topo"
    layer: str                # the layer's name in that dataset
    style: Style = Field(default_factory=Style)
    where: str | None = None  # an OGR SQL filter, e.g. "class = 'primary'"
    legend: bool = True       # listed in the legend (when it has features on the sheet)
    source: LayerSource | None = None


class Grid(_Model):
    """A grid of map coordinates with labels on the frame."""

    interval: float | None = Field(None, gt=0)   # in map units (metres); None: about five lines across
    labels: bool = True
    color: str = "#7f7f7f"
    width: float = Field(0.4, ge=0, le=5)

    _colors = field_validator("color")(classmethod(lambda cls, v: _check_color(v)))


class ProductVersion(_Model):
    """One version of a product: everything needed to lay out and export a sheet.

    ``page`` is a paper name or ``[width_mm, height_mm]`` (given portrait; see
    ``orientation``).  ``scale`` is a denominator (25000 draws at 1:25,000,
    centred on the AOI) or ``"fit"`` (the AOI fills the map frame).  ``crs``
    is the map's coordinate system (default: the AOI's, or the UTM zone at its
    centre when the AOI is in degrees); it must be projected, since scales and
    scale bars are in metres.  ``title`` is a template filled from the AOI
    feature's attributes (``"Sheet {name}"``).
    """

    name: str = Field(min_length=1)
    description: str = ""
    page: Literal["A4", "A3", "A2", "letter", "tabloid"] | tuple[float, float] = "A4"
    orientation: Literal["portrait", "landscape"] = "portrait"
    scale: int | Literal["fit"] = "fit"
    crs: str | None = None
    margins_mm: float | tuple[float, float, float, float] = 10.0   # all sides, or (top, right, bottom, left)
    title: str = ""
    layers: list[ProductLayer] = Field(min_length=1)
    legend: bool = True
    scale_bar: bool = True
    north_arrow: bool = True
    grid: bool | Grid = False
    dpi: int = Field(150, ge=36, le=600)
    output_types: list[OutputType] = Field(default_factory=lambda: list(OUTPUT_TYPES), min_length=1)

    @field_validator("page")
    @classmethod
    def _page(cls, v):
        if isinstance(v, tuple) and not all(50 <= side <= 2000 for side in v):
            raise ValueError("a page's width and height must be between 50 and 2000 mm")
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v):
        if isinstance(v, int) and not 100 <= v <= 100_000_000:
            raise ValueError("scale must be a denominator between 100 and 100,000,000 (25000 for 1:25,000) or 'fit'")
        return v

    @field_validator("crs")
    @classmethod
    def _crs(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(v)
        except CRSError as exc:
            raise ValueError(f"{v!r} is not a coordinate system pyproj knows (try 'EPSG:32633')") from exc
        if not crs.is_projected:
            raise ValueError(f"{v!r} is not a projected coordinate system; a map at a scale needs metres or feet")
        return v

    @field_validator("margins_mm")
    @classmethod
    def _margins(cls, v):
        sides = v if isinstance(v, tuple) else (v,)
        if not all(0 <= side <= 200 for side in sides):
            raise ValueError("margins must be between 0 and 200 mm")
        return v

    @field_validator("output_types")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _room_for_a_map(self) -> ProductVersion:
        width, height = self.page_mm
        top, right, bottom, left = self.margins
        if width - left - right < 40 or height - top - bottom < 40:
            raise ValueError(f"the margins leave less than 40 mm for the map on a {width:g} x {height:g} mm page")
        return self

    @property
    def page_mm(self) -> tuple[float, float]:
        """(width, height) of the sheet in millimetres, turned to the orientation."""
        w, h = PAGE_SIZES[self.page] if isinstance(self.page, str) else self.page
        w, h = min(w, h), max(w, h)
        return (h, w) if self.orientation == "landscape" else (w, h)

    @property
    def margins(self) -> tuple[float, float, float, float]:
        """(top, right, bottom, left) in millimetres."""
        m = self.margins_mm
        return m if isinstance(m, tuple) else (m, m, m, m)

    @property
    def grid_options(self) -> Grid | None:
        """The grid to draw, or None."""
        if self.grid is True:
            return Grid()
        return self.grid or None


class Product(_Model):
    """A named product and its versions.

    ``sheet_id_field`` names the AOI attribute holding a sheet's ID: an
    output without an ``outputName`` is named after it, as ArcGIS does.
    """

    name: str = Field(min_length=1)
    description: str = ""
    sheet_id_field: str | None = None
    versions: list[ProductVersion] = Field(min_length=1)

    @field_validator("versions")
    @classmethod
    def _distinct(cls, v: list[ProductVersion]) -> list[ProductVersion]:
        names = [version.name for version in v]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"version names must be unique within a product; repeated: {', '.join(repeated)}")
        return v

    def version(self, name: str) -> ProductVersion | None:
        """The version called ``name``, or None."""
        return next((v for v in self.versions if v.name == name), None)


def problems(exc: ValidationError) -> list[str]:
    """pydantic's errors as ``where: what`` lines (``layers.0.style.color: ...``)."""
    return [f"{'.'.join(str(p) for p in e['loc']) or 'definition'}: {e['msg']}" for e in exc.errors()]


def load_version(text: str | dict[str, Any]) -> ProductVersion:
    """A ProductVersion from JSON text or a dict; ValueError naming every problem at once."""
    try:
        if isinstance(text, str):
            return ProductVersion.model_validate_json(text)
        return ProductVersion.model_validate(text)
    except ValidationError as exc:
        raise ValueError("The product definition is not valid: " + "; ".join(problems(exc)) + ".") from exc
