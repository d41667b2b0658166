#!/usr/bin/env python3
"""Product generation: one A4 sheet over a 5,000-feature synthetic dataset, in process.

    .venv/bin/python bench/products.py [--features N] [--runs R] [--type pdf|png|tiff] [--keep DIR]

A GeoPackage in a temp dir holds three layers in UTM 33N over a 20 x 20 km
square: lines (40% of N: roads of 20 vertices), polygons (30%: landcover
rings of 32 vertices, some with a hole) and labelled points (30%: places).
The AOI covers the middle 96% of the square, so almost all features are read,
reprojected, clipped (every feature on the AOI edge is cut) and drawn, with
the title, legend, scale bar, north arrow and grid on.

Reported: the first run (cold: it also imports matplotlib and builds the
font cache lookups) and the median wall time of ``--runs`` warm runs (what a
warm worker process pays per job), with CPU time.  The target (issue 8) is a
one-sheet PDF for 5,000 features in under 3 s.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

SIZE = 20_000.0            # metres
X0, Y0 = 500_000.0, 5_500_000.0


def make_dataset(path: Path, n: int, seed: int = 8) -> dict[str, int]:
    """Write the three layers; returns the feature count of each."""
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(seed)
    n_lines, n_polys = int(n * 0.4), int(n * 0.3)
    n_points = n - n_lines - n_polys
    # roads: random walks of 20 vertices, ~150 m steps
    starts = rng.uniform(0, SIZE, (n_lines, 1, 2))
    steps = rng.normal(0, 150, (n_lines, 19, 2)).cumsum(axis=1)
    walks = np.concatenate([starts, starts + steps], axis=1) + (X0, Y0)
    roads = shapely.linestrings(walks)
    # landcover: 32-gon blobs of 100-400 m radius, every third with a hole
    centres = rng.uniform(0, SIZE, (n_polys, 2)) + (X0, Y0)
    radii = rng.uniform(100, 400, n_polys)
    angles = np.linspace(0, 2 * np.pi, 33)[:-1]
    wobble = rng.uniform(0.8, 1.2, (n_polys, 32))
    rings = centres[:, None, :] + (radii[:, None] * wobble)[:, :, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
    polys = shapely.polygons(rings)
    holes = np.arange(n_polys) % 3 == 0
    polys[holes] = shapely.difference(polys[holes], shapely.buffer(shapely.points(centres[holes]), radii[holes] * 0.3))
    places = shapely.points(rng.uniform(0, SIZE, (n_points, 2)) + (X0, Y0))
    layers = {
        "roads": gpd.GeoDataFrame({"ref": [f"R{i}" for i in range(n_lines)]}, geometry=roads, crs=32633),
        "landcover": gpd.GeoDataFrame({"kind": ["wood"] * n_polys}, geometry=polys, crs=32633),
        "places": gpd.GeoDataFrame({"name": [f"Place {i}" for i in range(n_points)]}, geometry=places, crs=32633),
    }
    for name, frame in layers.items():
        frame.to_file(path, layer=name, driver="GPKG")
    return {name: len(frame) for name, frame in layers.items()}


def definition(path: Path) -> dict:
    def source(layer: str) -> dict:
        return {"path": str(path), "layer": layer}

    return {
        "name": "Standard", "page": "A4", "orientation": "landscape", "scale": "fit", "title": "Bench sheet {name}",
        "grid": True, "dpi": 150,
        "layers": [
            {"title": "Landcover", "dataset": "Bench/Topo", "layer": "landcover", "source": source("landcover"),
             "style": {"color": "#5b8c3a", "fill": "#d8ecc8", "width": 0.4}},
            {"title": "Roads", "dataset": "Bench/Topo", "layer": "roads", "source": source("roads"),
             "style": {"color": "#b03a2e", "width": 0.8}},
            {"title": "Places", "dataset": "Bench/Topo", "layer": "places", "source": source("places"),
             "style": {"marker": "circle", "size": 3, "fill": "#222222", "label": "name", "label_size": 5}},
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--type", default="pdf", choices=["pdf", "png", "tiff"])
    parser.add_argument("--keep", type=Path, help="write the dataset and outputs here and keep them")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="opengp-bench-products-"))
    folder.mkdir(parents=True, exist_ok=True)
    gpkg = folder / "bench.gpkg"
    gpkg.unlink(missing_ok=True)
    counts = make_dataset(gpkg, args.features)

    t0 = time.perf_counter()
    from opengp.products.aoi import parse_aoi
    from opengp.products.definition import load_version
    from opengp.products.generate import generate

    margin = SIZE * 0.02
    aoi = parse_aoi(json.dumps({
        "type": "Feature", "crs": "EPSG:32633", "properties": {"name": "B1"},
        "geometry": {"type": "Polygon", "coordinates": [[
            [X0 + margin, Y0 + margin], [X0 + SIZE - margin, Y0 + margin], [X0 + SIZE - margin, Y0 + SIZE - margin],
            [X0 + margin, Y0 + SIZE - margin], [X0 + margin, Y0 + margin]]]}}))
    version = load_version(definition(gpkg))

    out = folder / f"sheet.{args.type}"
    c0 = time.process_time()
    made = generate(version, aoi, args.type, out)
    cold = time.perf_counter() - t0, time.process_time() - c0
    walls, cpus = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        made = generate(version, aoi, args.type, out)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    drawn = sum(made.counts.values())
    print(f"dataset: {sum(counts.values()):,} features ({', '.join(f'{k} {v:,}' for k, v in counts.items())}); "
          f"{drawn:,} inside the AOI")
    print(f"output: {args.type}, {out.stat().st_size:,} bytes, sheet at 1:{made.sheet.scale:,.0f}")
    print(f"cold run (imports included): {cold[0]:.2f} s wall")
    print(f"warm runs: median {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU "
          f"(min {min(walls):.2f}, max {max(walls):.2f}, {args.runs} runs)")
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
