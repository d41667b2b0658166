"""Write the demo dataset shipped with the package: src/opengp/datasets/demo/topo.gpkg.

Synthetic but plausible topography in UTM zone 33N (EPSG:32633), 30 km by
20 km: six 10 km map sheets, hills with contours, rivers, lakes, land cover,
places and the roads between them.  Deterministic (a fixed seed and a fixed
GeoPackage timestamp): run it again and the data is the same.

    python tools/make_demo_datasets.py [output.gpkg]
"""
from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box
from shapely.ops import unary_union

CRS = "EPSG:32633"
X0, Y0 = 500_000.0, 5_500_000.0          # south-west corner
SHEET = 10_000.0
COLS, ROWS = 3, 2
WIDTH, HEIGHT = COLS * SHEET, ROWS * SHEET
OUT = Path(__file__).resolve().parent.parent / "src" / "opengp" / "datasets" / "demo" / "topo.gpkg"
SYLLABLES = ["ber", "dor", "fel", "gra", "hal", "kir", "lin", "mar", "nov", "ost", "rad", "sel", "tan",
             "vel", "wal", "zor", "bru", "kam", "lis", "rot"]
ENDINGS = ["ov", "in", "burg", "dorf", "ice", "any", "feld", "hof", "au", "ec"]


def area() -> Polygon:
    return box(X0, Y0, X0 + WIDTH, Y0 + HEIGHT)


def sheets() -> gpd.GeoDataFrame:
    rows = []
    for r in range(ROWS):
        for c in range(COLS):
            sheet_id = (ROWS - r) * 10 + c + 1          # numbered from the north-west: 11 12 13 / 21 22 23
            rows.append({"sheet_id": sheet_id, "name": f"Demo {ROWS - r}-{c + 1}", "scale": "1:25000",
                         "geometry": box(X0 + c * SHEET, Y0 + r * SHEET, X0 + (c + 1) * SHEET, Y0 + (r + 1) * SHEET)})
    return gpd.GeoDataFrame(rows, crs=CRS).sort_values("sheet_id", ignore_index=True)


def blob(rng: np.random.Generator, cx: float, cy: float, radius: float, n: int = 28) -> Polygon:
    """A wobbly round polygon (a lake, a hill's contour)."""
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    wobble = 1 + 0.18 * np.sin(3 * angles + rng.uniform(0, 6)) + 0.08 * rng.standard_normal(n)
    return Polygon(np.column_stack([cx + radius * wobble * np.cos(angles), cy + radius * wobble * np.sin(angles)]))


def wander(rng: np.random.Generator, start: tuple[float, float], heading: float, steps: int,
           step: float, turn: float) -> LineString:
    """A meandering line (a river) from ``start``."""
    points, (x, y) = [start], start
    for _ in range(steps):
        heading += rng.normal(0, turn)
        x, y = x + step * np.cos(heading), y + step * np.sin(heading)
        points.append((x, y))
    return LineString(points)


def hills(rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """(x, y, summit) of a few hills, far enough apart that their contours never cross."""
    out: list[tuple[float, float, float]] = []
    while len(out) < 5:
        x, y = X0 + rng.uniform(3000, WIDTH - 3000), Y0 + rng.uniform(3000, HEIGHT - 3000)
        if all(np.hypot(x - hx, y - hy) > 7000 for hx, hy, _ in out):
            out.append((x, y, float(rng.integers(5, 10) * 100)))
    return out


def contours(rng: np.random.Generator, peaks: list[tuple[float, float, float]]) -> gpd.GeoDataFrame:
    rows = []
    for hx, hy, summit in peaks:
        for elevation in range(300, int(summit) + 1, 50):
            radius = 3200 * (1 - (elevation - 250) / (summit - 200))
            ring = blob(rng, hx, hy, max(radius, 150), 36).exterior
            rows.append({"elevation": elevation, "kind": "index" if elevation % 250 == 0 else "intermediate",
                         "geometry": LineString(ring.coords)})
    return gpd.GeoDataFrame(rows, crs=CRS)


def rivers(rng: np.random.Generator) -> gpd.GeoDataFrame:
    rows = []
    for name, start, heading in [("Velka", (X0 - 500, Y0 + 14000), -0.15), ("Mala", (X0 + 8000, Y0 + HEIGHT + 500), -1.3),
                                 ("Lisna", (X0 + 22000, Y0 + HEIGHT + 500), -1.8)]:
        line = wander(rng, start, heading, 70, 500, 0.25).intersection(area())
        for part in getattr(line, "geoms", [line]):
            if part.length > 1000:
                rows.append({"name": name, "class": "river" if name == "Velka" else "stream", "geometry": part})
    return gpd.GeoDataFrame(rows, crs=CRS)


def lakes(rng: np.random.Generator, avoid: list) -> gpd.GeoDataFrame:
    rows, n = [], 0
    while len(rows) < 9:
        n += 1
        x, y = X0 + rng.uniform(1500, WIDTH - 1500), Y0 + rng.uniform(1500, HEIGHT - 1500)
        shape = blob(rng, x, y, rng.uniform(250, 900))
        if any(shape.intersects(a) for a in avoid) or any(shape.distance(r["geometry"]) < 300 for r in rows):
            continue
        rows.append({"name": f"Lake {name(rng).title()}", "type": "reservoir" if n % 4 == 0 else "lake",
                     "geometry": shape})
    return gpd.GeoDataFrame(rows, crs=CRS)


def name(rng: np.random.Generator) -> str:
    return "".join(rng.choice(SYLLABLES, size=rng.integers(1, 3))) + str(rng.choice(ENDINGS))


def places(rng: np.random.Generator, water: list) -> gpd.GeoDataFrame:
    rows: list[dict] = []
    seen: set[str] = set()
    while len(rows) < 45:
        p = Point(X0 + rng.uniform(500, WIDTH - 500), Y0 + rng.uniform(500, HEIGHT - 500))
        if any(w.buffer(150).contains(p) for w in water) or any(p.distance(r["geometry"]) < 1200 for r in rows):
            continue
        label = name(rng).title()
        if label in seen:
            continue
        seen.add(label)
        kind = "city" if len(rows) < 2 else "town" if len(rows) < 9 else "village"
        population = {"city": rng.integers(40_000, 120_000), "town": rng.integers(3_000, 20_000),
                      "village": rng.integers(80, 2_500)}[kind]
        rows.append({"name": label, "kind": kind, "population": int(population), "geometry": p})
    return gpd.GeoDataFrame(rows, crs=CRS)


def roads(rng: np.random.Generator, towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A motorway across, and each place joined to its nearest larger neighbours."""
    rows = [{"name": "D1", "class": "motorway", "lanes": 4,
             "geometry": LineString([(X0, Y0 + 7000), (X0 + 11000, Y0 + 9500), (X0 + 21000, Y0 + 8800),
                                     (X0 + WIDTH, Y0 + 12500)])}]
    pts = list(towns.geometry)
    ranks = {"city": 0, "town": 1, "village": 2}
    kinds = list(towns["kind"])
    for i, p in enumerate(pts):
        bigger = [j for j in range(len(pts)) if j != i and ranks[kinds[j]] <= ranks[kinds[i]]]
        bigger.sort(key=lambda j: p.distance(pts[j]))
        for j in bigger[: 2 if kinds[i] != "village" else 1]:
            if j < i and kinds[j] == kinds[i]:
                continue                      # the pair is joined once
            a, b = np.array(p.coords[0]), np.array(pts[j].coords[0])
            mid = (a + b) / 2 + rng.normal(0, 300, 2)
            cls = "primary" if ranks[kinds[i]] == 0 or ranks[kinds[j]] == 0 else (
                "secondary" if kinds[i] == "town" else "local")
            rows.append({"name": f"{towns['name'].iat[i]} - {towns['name'].iat[j]}", "class": cls,
                         "lanes": 2, "geometry": LineString([tuple(a), tuple(mid), tuple(b)])})
    for k in range(12):                     # forest tracks
        start = (X0 + rng.uniform(0, WIDTH), Y0 + rng.uniform(0, HEIGHT))
        track = wander(rng, start, rng.uniform(0, 2 * np.pi), 8, 250, 0.5).intersection(area())
        if isinstance(track, LineString) and track.length > 500:
            rows.append({"name": None, "class": "track", "lanes": 1, "geometry": track})
    return gpd.GeoDataFrame(rows, crs=CRS)


def landcover(rng: np.random.Generator, peaks: list, water: list, towns: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Voronoi cells over the area, typed by what is near them: urban, forest on hills, wetland by lakes."""
    seeds = MultiPoint(np.column_stack([X0 + rng.uniform(0, WIDTH, 140), Y0 + rng.uniform(0, HEIGHT, 140)]))
    cells = shapely.voronoi_polygons(seeds, extend_to=area())
    big = [g for g, k in zip(towns.geometry, towns["kind"]) if k != "village"]
    lakes_all = unary_union(water)
    rows = []
    for cell in cells.geoms:
        cell = cell.intersection(area())
        c = cell.centroid
        if any(c.distance(t) < 1500 for t in big):
            kind = "urban"
        elif any(np.hypot(c.x - hx, c.y - hy) < 3200 for hx, hy, _ in peaks):
            kind = "forest"
        elif c.distance(lakes_all) < 700:
            kind = "wetland"
        else:
            kind = str(rng.choice(["farmland", "farmland", "grassland", "forest"]))
        rows.append({"type": kind, "geometry": shapely.set_precision(cell, 1.0)})
    frame = gpd.GeoDataFrame(rows, crs=CRS)
    return frame.dissolve("type", as_index=False).explode(index_parts=False, ignore_index=True)


def build(out: Path) -> None:
    rng = np.random.default_rng(20240531)
    peaks = hills(rng)
    contour_frame = contours(rng, peaks)
    river_frame = rivers(rng)
    hill_tops = [Point(x, y).buffer(1500) for x, y, _ in peaks]
    lake_frame = lakes(rng, hill_tops + list(river_frame.geometry.buffer(200)))
    water = list(lake_frame.geometry)
    place_frame = places(rng, water)
    road_frame = roads(rng, place_frame)
    cover = landcover(rng, peaks, water, place_frame)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-05-31T00:00:00Z"})   # same file, run after run
    for layer, frame in [("sheets", sheets()), ("places", place_frame), ("roads", road_frame),
                         ("rivers", river_frame), ("lakes", lake_frame), ("landcover", cover),
                         ("contours", contour_frame)]:
        frame = frame.copy()
        frame["geometry"] = shapely.set_precision(frame.geometry.values, 0.1)
        pyogrio.write_dataframe(frame, out, layer=layer, driver="GPKG")
        print(f"{layer}: {len(frame)} features")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
