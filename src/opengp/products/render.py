"""Draw a laid-out sheet with matplotlib: the map, its layers and the sheet furniture.

Figures are built with ``matplotlib.figure.Figure`` directly (never pyplot):
no display, no global figure registry, and the export picks the Agg or PDF
canvas explicitly.  Each layer is a handful of artists whatever its size:
polygons and lines become compound paths in one PathCollection, points one
scatter; only labels are one text each (decluttered and capped).
"""
from __future__ import annotations

from datetime import date

import numpy as np
import shapely
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path
from matplotlib.ticker import FuncFormatter

from .definition import MARKERS, Style
from .extract import LayerData
from .layout import Sheet, nice_length, nice_step
from .projection import crs_label, true_north

MM = 1 / 25.4                 # inches per millimetre
PT_MM = 25.4 / 72             # millimetres per point
CHUNK_VERTICES = 20_000       # vertices per compound path: keeps Agg within its cell limits
MAX_LABELS = 1500             # labels per layer; the rest would be unreadable anyway
TITLE_SIZE = 16
SMALL = 6.5                   # footer, grid labels, scale bar text
DASHES = {"solid": "-", "dashed": "--", "dotted": ":", "dashdot": "-."}


def sheet_figure(sheet: Sheet, layers: list[LayerData], *, title: str, legend: bool, scale_bar: bool,
                 north_arrow: bool, grid, footer: str) -> Figure:
    """The whole page: map frame with layers, title, legend, scale bar, north arrow, grid and footer."""
    width, height = sheet.page
    fig = Figure(figsize=(width * MM, height * MM), facecolor="white")
    f = sheet.frame
    ax = fig.add_axes((f.x / width, f.y / height, f.width / width, f.height / height))
    _map_axes(ax, sheet)
    draw_layers(ax, layers, sheet)
    if grid is not None:
        _grid(ax, sheet, grid)
    if legend:
        _legend(ax, layers)
    if scale_bar:
        _scale_bar(ax, sheet)
    if north_arrow:
        _north_arrow(fig, sheet)
    if title and sheet.title_at:
        fig.text(sheet.title_at[0] / width, sheet.title_at[1] / height, title, ha="center", va="center",
                 fontsize=TITLE_SIZE, fontweight="bold", parse_math=False)   # "$" in a name is a "$"
    fig.text(sheet.footer_at[0] / width, sheet.footer_at[1] / height, footer, ha="left", va="center",
             fontsize=SMALL, color="#333333", parse_math=False)
    return fig


def frame_figure(sheet: Sheet, layers: list[LayerData], dpi: int) -> Figure:
    """The map frame alone, edge to edge, sized in whole pixels: what a GeoTIFF holds."""
    w = max(1, round(sheet.frame.width * MM * dpi))
    h = max(1, round(sheet.frame.height * MM * dpi))
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    _map_axes(ax, sheet)
    ax.set_axis_off()
    draw_layers(ax, layers, sheet)
    return fig


def warm_up() -> None:
    """Load matplotlib's fonts and backends now (about a second, once per process),
    so a worker that will make products does not make its first job pay for it."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_pdf import FigureCanvasPdf

    fig = Figure(figsize=(1, 1))
    fig.text(0.5, 0.5, "Warm up", fontweight="bold")
    fig.text(0.5, 0.2, "0123456789")
    FigureCanvasPdf(fig)
    fig.savefig(io.BytesIO(), format="pdf")
    FigureCanvasAgg(fig).draw()


def footer_text(sheet: Sheet, product: str, version: str) -> str:
    """``Scale 1:25,000 · WGS 84 / UTM zone 33N (EPSG:32633) · Topographic Standard · 2025-06-01``."""
    parts = [f"Scale 1:{sheet.scale:,.0f}", crs_label(sheet.crs)]
    if product or version:
        parts.append(" ".join(p for p in (product, version) if p))
    parts.append(date.today().isoformat())
    return "  \u00b7  ".join(parts)


def _map_axes(ax, sheet: Sheet) -> None:
    x0, y0, x1, y1 = sheet.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("auto")          # the frame already has the extent's proportions: nothing to adjust
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("white")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)


# -- layers ----------------------------------------------------------------------

def draw_layers(ax, layers: list[LayerData], sheet: Sheet) -> None:
    """Every layer, bottom to top in the order given, then their labels above all."""
    for data in layers:
        s = data.layer.style
        if len(data.polygons):
            paths = compound_paths(_oriented(data.polygons), closed=True)
            ax.add_collection(PathCollection(
                paths, facecolors=s.fill or "none", edgecolors=s.color, linewidths=s.width,
                linestyles=DASHES[s.dash], alpha=s.opacity), autolim=False)
        if len(data.lines):
            ax.add_collection(PathCollection(
                compound_paths(data.lines, closed=False), facecolors="none", edgecolors=s.color,
                linewidths=s.width, linestyles=DASHES[s.dash], alpha=s.opacity, capstyle="round",
                joinstyle="round"), autolim=False)
        if len(data.points):
            xy = shapely.get_coordinates(data.points)
            marker = MARKERS[s.marker]
            ax.scatter(xy[:, 0], xy[:, 1], s=s.size ** 2, marker=marker, c=s.fill or s.color,
                       edgecolors=s.color if marker not in "+x" else None, linewidths=0.5 if marker not in "+x"
                       else s.width, alpha=s.opacity, plotnonfinite=False)
    ax.set_xlim(sheet.extent[0], sheet.extent[2])         # scatter autoscales: put the extent back
    ax.set_ylim(sheet.extent[1], sheet.extent[3])
    for data in layers:
        _labels(ax, data, sheet)


def _oriented(polygons: np.ndarray) -> np.ndarray:
    """Exteriors counter-clockwise, holes clockwise (vectorised on shapely >= 2.1)."""
    if hasattr(shapely, "orient_polygons"):
        return shapely.orient_polygons(polygons)
    from shapely.geometry.polygon import orient

    return np.array([orient(p, 1.0) for p in polygons], dtype=object)


def compound_paths(parts: np.ndarray, *, closed: bool) -> list[Path]:
    """Single-part polygons (closed) or lines as a few compound paths of at most ~CHUNK_VERTICES each.

    Polygon rings must be oriented exterior counter-clockwise, holes clockwise:
    matplotlib fills by the non-zero winding rule, so holes then stay empty.
    """
    rings = shapely.get_rings(parts) if closed else parts
    coords, index = shapely.get_coordinates(rings, return_index=True)
    if not len(coords):
        return []
    counts = np.bincount(index, minlength=len(rings))
    counts = counts[counts > 0]
    starts = np.cumsum(counts) - counts
    codes = np.full(len(coords), Path.LINETO, dtype=np.uint8)
    codes[starts] = Path.MOVETO
    if closed:
        codes[starts + counts - 1] = Path.CLOSEPOLY
    chunk = starts // CHUNK_VERTICES
    cuts = starts[1:][np.diff(chunk) > 0]
    return [Path(v, c) for v, c in zip(np.split(coords, cuts), np.split(codes, cuts))]


def _labels(ax, data: LayerData, sheet: Sheet) -> None:
    """Labels that fit: each kept only if its box overlaps no earlier label's (a coarse grid test)."""
    s: Style = data.layer.style
    if not data.labels:
        return
    upm = sheet.units_per_mm
    x0, y0, x1, y1 = sheet.extent
    h_mm = s.label_size * PT_MM * 1.2
    occupied: set[tuple[int, int]] = set()
    placed = 0
    point_layer = data.kind == "point"
    offset = (s.size / 2 + 1) * PT_MM * upm if point_layer else 0.0
    for text, x, y in data.labels:
        if placed >= MAX_LABELS:
            break
        w_mm = len(text) * s.label_size * PT_MM * 0.6
        lx = x + offset if point_layer else x - w_mm * upm / 2
        if not (x0 <= lx and lx + w_mm * upm <= x1 and y0 <= y - h_mm * upm / 2 and y + h_mm * upm / 2 <= y1):
            continue
        # the label's box in grid cells of the label height
        cx0 = int((lx - x0) / upm // h_mm)
        cx1 = int((lx - x0 + w_mm * upm) / upm // h_mm)
        cy0 = int((y - y0) / upm // h_mm - 0.5)
        cells = {(cx, cy) for cx in range(cx0, cx1 + 1) for cy in (cy0, cy0 + 1)}
        if cells & occupied:
            continue
        occupied |= cells
        ax.text(lx, y, text, fontsize=s.label_size, color=s.label_color, ha="left", va="center",
                clip_on=True, parse_math=False)
        placed += 1


# -- furniture -----------------------------------------------------------------

def _legend(ax, layers: list[LayerData]) -> None:
    handles = []
    for data in layers:
        s, kind = data.layer.style, data.kind
        if kind is None or not data.layer.legend:
            continue
        if kind == "polygon":
            handles.append(Patch(facecolor=s.fill or "none", edgecolor=s.color, linewidth=s.width,
                                 linestyle=DASHES[s.dash], alpha=s.opacity, label=data.layer.title))
        elif kind == "line":
            handles.append(Line2D([], [], color=s.color, linewidth=s.width, linestyle=DASHES[s.dash],
                                  alpha=s.opacity, label=data.layer.title))
        else:
            handles.append(Line2D([], [], linestyle="none", marker=MARKERS[s.marker], markersize=s.size,
                                  markerfacecolor=s.fill or s.color, markeredgecolor=s.color, alpha=s.opacity,
                                  label=data.layer.title))
    if handles:
        legend = ax.legend(handles=handles, loc="lower right", fontsize=7, title="Legend", title_fontsize=7.5,
                           frameon=True, framealpha=0.9, edgecolor="#555555", fancybox=False)
        legend.set_zorder(10)


def _scale_bar(ax, sheet: Sheet) -> None:
    """An alternating black-and-white bar of a round ground length, lower left in the frame."""
    upm, mpu = sheet.units_per_mm, sheet.metres_per_unit
    x0, y0 = sheet.extent[0], sheet.extent[1]
    target_mm = min(60.0, sheet.frame.width / 4)
    metres = nice_length(target_mm * upm * mpu)
    bar_mm = metres / mpu / upm
    segments = 4 if (metres / 4) == int(metres / 4) or metres < 4 else 2
    pad, bar_h = 4.0, 1.6
    bx, by = x0 + (pad + 3) * upm, y0 + (pad + 3.5) * upm
    ax.add_patch(Rectangle((x0 + pad * upm, y0 + pad * upm), (bar_mm + 9) * upm, 12 * upm,
                           facecolor="white", edgecolor="#555555", linewidth=0.4, alpha=0.9, zorder=10))
    seg = bar_mm / segments * upm
    for i in range(segments):
        ax.add_patch(Rectangle((bx + i * seg, by), seg, bar_h * upm, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.5, zorder=11))
    for value, at in ((0, 0.0), (metres / 2, 0.5), (metres, 1.0)):
        ax.text(bx + at * bar_mm * upm, by - 0.8 * upm, _distance(value, metres), fontsize=SMALL - 1,
                ha="center", va="top", zorder=12)
    ax.text(bx, by + (bar_h + 1.2) * upm, f"1:{sheet.scale:,.0f}", fontsize=SMALL, ha="left", va="bottom",
            zorder=12)


def _distance(value: float, whole: float) -> str:
    if whole >= 1000:
        return f"{value / 1000:g} km" if value == whole else f"{value / 1000:g}"
    return f"{value:g} m" if value == whole else f"{value:g}"


def _north_arrow(fig: Figure, sheet: Sheet) -> None:
    """An arrow to true north (convergence from grid north included), upper right in the frame."""
    width, height = sheet.page
    f = sheet.frame
    cx, cy = f.x + f.width - 9.0, f.y + f.height - 12.0
    x0, y0, x1, y1 = sheet.extent
    angle = np.radians(true_north(sheet.crs, (x0 + x1) / 2, (y0 + y1) / 2))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def place(points) -> np.ndarray:
        mm = np.asarray(points, dtype=float) @ rot.T + (cx, cy)
        return mm / (width, height)

    fig.add_artist(Polygon(place([(0, 6), (-2.6, -4), (0, -2.2)]), closed=True, facecolor="black",
                           edgecolor="black", linewidth=0.5, transform=fig.transFigure, zorder=20))
    fig.add_artist(Polygon(place([(0, 6), (2.6, -4), (0, -2.2)]), closed=True, facecolor="white",
                           edgecolor="black", linewidth=0.5, transform=fig.transFigure, zorder=20))
    nx, ny = place([(0, 8.5)])[0]
    fig.text(nx, ny, "N", ha="center", va="center", fontsize=9, fontweight="bold", zorder=21)


def _grid(ax, sheet: Sheet, grid) -> None:
    """Grid lines every ``interval`` map units, labelled on the frame's left and bottom edges."""
    x0, y0, x1, y1 = sheet.extent
    step = grid.interval or nice_step(min(x1 - x0, y1 - y0), 5)
    xs = np.arange(np.ceil(x0 / step) * step, x1, step)
    ys = np.arange(np.ceil(y0 / step) * step, y1, step)
    if len(xs) > 200 or len(ys) > 200:
        step = nice_step(min(x1 - x0, y1 - y0), 5)
        xs = np.arange(np.ceil(x0 / step) * step, x1, step)
        ys = np.arange(np.ceil(y0 / step) * step, y1, step)
    ax.set_xticks(xs)
    ax.set_yticks(ys)
    ax.grid(True, color=grid.color, linewidth=grid.width, zorder=5)
    ax.set_axisbelow(False)
    decimals = 0 if step >= 1 else min(6, int(-np.floor(np.log10(step))))
    fmt = FuncFormatter(lambda v, _pos: f"{v:.{decimals}f}")
    ax.xaxis.set_major_formatter(fmt)
    ax.yaxis.set_major_formatter(fmt)
    ax.tick_params(labelsize=SMALL - 0.5, length=2, width=0.5, pad=1.5,
                   labelbottom=grid.labels, labelleft=grid.labels)
    ax.tick_params(axis="y", labelrotation=90)
    for label in ax.get_yticklabels():
        label.set_verticalalignment("center")
