"""Write a rendered sheet: PDF (vector, text as text), PNG (at the version's dpi) or GeoTIFF.

The GeoTIFF holds the map frame alone, rendered to whole pixels, with the
map's CRS and an affine transform from the frame's extent: its bounds are
the map extent exactly, so it drops into any GIS in place.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from .layout import Sheet

EXTENSIONS = {"pdf": ".pdf", "png": ".png", "tiff": ".tif"}

# Type 3 fonts (matplotlib's default, pinned against a user's matplotlibrc):
# text stays text that PDF readers extract, and embedding costs ~0.05 s where
# Type 42 (TrueType, subset with fontTools) costs ~1 s per sheet.
_PDF_RC = {"pdf.fonttype": 3, "pdf.compression": 3}


def write_pdf(fig: Figure, path: Path, *, title: str = "", subject: str = "") -> Path:
    """The page as a one-page vector PDF (nothing rasterised)."""
    FigureCanvasPdf(fig)
    with matplotlib.rc_context(_PDF_RC):
        fig.savefig(path, format="pdf", metadata={"Title": title or None, "Subject": subject or None,
                                                   "Creator": "opengp"})
    return path


def rasterize(fig: Figure, dpi: int) -> np.ndarray:
    """The figure drawn with Agg at ``dpi``, as an (rows, cols, 3) uint8 array (the slow part of a PNG or GeoTIFF)."""
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def write_png(rgb: np.ndarray, path: Path, dpi: int) -> Path:
    """A rasterized page as a PNG that records its ``dpi`` (so it prints at paper size)."""
    from PIL import Image

    Image.fromarray(rgb, "RGB").save(path, format="PNG", dpi=(dpi, dpi), compress_level=4)
    return path


def write_geotiff(rgb: np.ndarray, sheet: Sheet, path: Path) -> Path:
    """A rasterized map frame as an RGB GeoTIFF georeferenced to ``sheet.extent`` in ``sheet.crs``."""
    import rasterio
    from affine import Affine

    rows, cols = rgb.shape[:2]
    x0, y0, x1, y1 = sheet.extent            # the axes fill the figure: the pixels span the extent exactly
    transform = Affine((x1 - x0) / cols, 0.0, x0, 0.0, -(y1 - y0) / rows, y1)
    profile = {
        "driver": "GTiff", "width": cols, "height": rows, "count": 3, "dtype": "uint8",
        "crs": sheet.crs.to_wkt(), "transform": transform, "photometric": "RGB",
        "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256,
    }
    if cols < 256 or rows < 256:          # GTiff tiles must fit; small images stay striped
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(rgb, 2, 0))
        dst.update_tags(AREA_OR_POINT="Area", SCALE=f"1:{sheet.scale:.0f}")
    return path
