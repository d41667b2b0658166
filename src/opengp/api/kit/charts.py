"""Charts drawn on the server as SVG (no JavaScript library): stacked bars over time, and
horizontal bars grouped by a label.  The pages embed the SVG as it is; every bar carries its
series, label and value (``data-*``) and a ``<title>`` a person sees on hovering.

Colours follow the pages' status badges (web/static/opengp.css).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
COLOURS = {"succeeded": "#2e8b45", "failed": "#c0392b", "timed_out": "#e67e22", "cancelled": "#b59a3c",
           "waiting": "#8a8a8a", "running": "#0b57a4", "p50": "#6fa8dc", "p90": "#0b57a4", "p99": "#073763"}


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1.0
    step = 10 ** len(str(int(top))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if factor * step >= top:
            return factor * step
    return top


def _number(v: float) -> str:
    return f"{v:g}" if v >= 10 or v == int(v) else f"{v:.2g}"


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[int]], every: int = 10) -> str:
    """One bar per label (a time), its height the sum of ``series`` (name -> a value per label),
    stacked in the order of ``series``; every ``every``-th label is written under the axis."""
    n = max(1, len(labels))
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    most = max(totals, default=0)
    top = 4 * math.ceil((most if most <= 20 else _nice(most)) / 4) or 4      # whole numbers on the 4 ticks
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / n
    parts = [_frame(title), *_y_axis(top, plot_h, lambda v: f"{v:g}")]
    for i, label in enumerate(labels):
        base = 0
        for name, values in series.items():
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y = TOP + plot_h * (1 - (base + value) / top)
            parts.append(
                f'<rect class="bar {escape(name)}" data-series="{escape(name)}" data-label="{escape(label)}" '
                f'data-value="{value}" x="{LEFT + i * slot + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="{COLOURS.get(name, "#555")}"><title>{escape(label)}: {value} '
                f'{escape(name.replace("_", " "))}</title></rect>')
            base += value
        if i % every == 0 or i == n - 1:
            parts.append(f'<text x="{LEFT + (i + .5) * slot:.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
                         f'font-size="11">{escape(label)}</text>')
    return "".join(parts) + _legend(list(series)) + "</svg>"


def grouped_hbars(title: str, groups: Sequence[str], series: dict[str, Sequence[float | None]],
                  unit: Callable[[float], str] = _number) -> str:
    """For each group (a service) one horizontal bar per series (e.g. p50, p90, p99), lengths
    on one shared axis; a missing value (None) draws no bar."""
    rows = max(1, len(groups))
    per = len(series)
    bar_h = 12
    height = TOP + BOTTOM + rows * (per * bar_h + 14)
    left = 200
    plot_w = WIDTH - left - RIGHT - 60
    top = _nice(max((v for values in series.values() for v in values if v is not None), default=0))
    parts = [_frame(title, height)]
    y = TOP
    for g, group in enumerate(groups):
        parts.append(f'<text x="{left - 8}" y="{y + per * bar_h / 2 + 4:.1f}" text-anchor="end" '
                     f'font-size="12">{escape(group)}</text>')
        for name, values in series.items():
            value = values[g]
            if value is not None:
                w = max(plot_w * value / top, 1)
                parts.append(
                    f'<rect class="bar {escape(name)}" data-series="{escape(name)}" data-label="{escape(group)}" '
                    f'data-value="{value:.6g}" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                    f'fill="{COLOURS.get(name, "#555")}"><title>{escape(group)} {escape(name)}: {unit(value)}</title>'
                    f'</rect><text x="{left + w + 4:.1f}" y="{y + bar_h - 3}" font-size="10">{escape(unit(value))}</text>')
            y += bar_h
        y += 14
    return "".join(parts) + _legend(list(series), height) + "</svg>"


def _frame(title: str, height: int = HEIGHT) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>')


def _y_axis(top: float, plot_h: float, fmt: Callable[[float], str]) -> list[str]:
    out = []
    for k in range(5):
        v = top * k / 4
        y = TOP + plot_h * (1 - k / 4)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(v)}</text>')
    return out


def _legend(names: list[str], height: int = HEIGHT) -> str:
    """The series' colours and names, in the top right corner."""
    x, out = 0, []
    for name in names:
        out.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{COLOURS.get(name, "#555")}"/>'
                   f'<text x="{x + 14}" y="11" font-size="11">{escape(name.replace("_", " "))}</text>')
        x += 26 + 7 * len(name)
    return f'<g class="legend" transform="translate({WIDTH - x - RIGHT} 0)">{"".join(out)}</g>'
