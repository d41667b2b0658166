"""Generate one product sheet: validate, extract every layer, render, export.

Stages are reported to the job as messages and percent, always rising:
validating 0-5, extracting 5-60 (shared among the layers by order), rendering
60-85, exporting 85-100.  A cancel request is honoured between stages and
between layers.  A layer with nothing inside the AOI is a warning; a bad
definition, AOI or source is a ValueError saying which and why.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shapely.geometry import box

from .aoi import Aoi, fill_title
from .definition import OUTPUT_TYPES, ProductVersion
from .extract import LayerData, extract_layer
from .layout import Sheet, lay_out
from .projection import choose_map_crs, densified, reproject


class Reporter(Protocol):
    """What generation reports to: a JobContext (or anything with its reporting methods)."""

    @property
    def cancelled(self) -> bool: ...
    def stage(self, name: str) -> None: ...
    def progress(self, percent: float | None, message: str | None = None) -> None: ...
    def info(self, text: str) -> None: ...
    def warning(self, text: str) -> None: ...


class Cancelled(RuntimeError):
    """Raised between stages once a cancel was requested; the runtime marks the job cancelled."""


class _Silent:
    cancelled = False

    def stage(self, name: str) -> None: ...
    def progress(self, percent: float | None, message: str | None = None) -> None: ...
    def info(self, text: str) -> None: ...
    def warning(self, text: str) -> None: ...


@dataclass(frozen=True)
class Generated:
    """What was made: the file, the sheet it was laid out on, and each layer's feature count."""

    path: Path
    sheet: Sheet
    counts: dict[str, int]
    title: str


def generate(version: ProductVersion, aoi: Aoi, output_type: str, path: Path, report: Reporter | None = None,
             *, product: str = "") -> Generated:
    """Make the sheet of ``version`` for ``aoi`` and write it to ``path`` as ``output_type``."""
    r = report or _Silent()
    started = time.perf_counter()
    r.stage("Validating the request")
    r.progress(0)
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"Output type {output_type!r} is not one of {', '.join(OUTPUT_TYPES)}.")
    if output_type not in version.output_types:
        raise ValueError(f"Version '{version.name}' is not produced as {output_type}; "
                         f"it allows {', '.join(version.output_types)}.")
    title, missing = fill_title(version.title, aoi.attributes)
    for name in missing:
        r.warning(f"The title needs the AOI attribute '{name}', which the AOI feature does not have; left blank.")
    crs = choose_map_crs(aoi.geometry, aoi.crs, version.crs)
    aoi_map = reproject(densified(aoi.geometry), aoi.crs, crs)
    if not aoi_map.is_valid:              # a reprojection can fold a ring that was valid before
        aoi_map = aoi_map.buffer(0)
    sheet = lay_out(version, aoi_map, crs, has_title=bool(title))
    clip = aoi_map.intersection(box(*sheet.extent))
    if aoi_map.difference(box(*sheet.extent)).area > 1e-6 * aoi_map.area:   # not rounding at a tight fit
        r.warning(f"The AOI is larger than the map frame at 1:{sheet.scale:,.0f}; "
                  "the parts of it outside the frame are left out.")
    r.info(f"Sheet {sheet.page[0]:g} x {sheet.page[1]:g} mm at 1:{sheet.scale:,.0f} in {crs.name}; "
           f"{len(version.layers)} layer(s).")
    r.progress(5)
    _check(r)

    r.stage("Extracting features")
    layers: list[LayerData] = []
    counts: dict[str, int] = {}
    for i, layer in enumerate(version.layers):
        data = extract_layer(layer, clip, crs)
        layers.append(data)
        counts[layer.title] = data.count
        if data.count:
            r.info(f"Layer '{layer.title}': {data.count} feature(s) in the AOI.")
        else:
            r.warning(f"Layer '{layer.title}' has no features in the AOI.")
        r.progress(5 + 55 * (i + 1) / len(version.layers))
        _check(r)

    from . import export, render      # matplotlib is imported by the worker that renders, not by the config

    r.stage("Rendering")
    if output_type == "tiff":
        fig = render.frame_figure(sheet, layers, version.dpi)
    else:
        fig = render.sheet_figure(
            sheet, layers, title=title, legend=version.legend, scale_bar=version.scale_bar,
            north_arrow=version.north_arrow, grid=version.grid_options,
            footer=render.footer_text(sheet, product, version.name))
    pixels = export.rasterize(fig, version.dpi) if output_type != "pdf" else None   # a PDF draws as it writes
    r.progress(85)
    _check(r)

    r.stage(f"Exporting {output_type.upper()}")
    path = Path(path)
    if pixels is None:
        export.write_pdf(fig, path, title=title, subject=" ".join(p for p in (product, version.name) if p))
    elif output_type == "png":
        export.write_png(pixels, path, version.dpi)
    else:
        export.write_geotiff(pixels, sheet, path)
    r.info(f"Wrote {path.name} ({path.stat().st_size:,} bytes) in {time.perf_counter() - started:.2f} s.")
    r.progress(100)
    return Generated(path, sheet, counts, title)


def _check(r: Reporter) -> None:
    if r.cancelled:
        raise Cancelled("Cancelled by request.")
