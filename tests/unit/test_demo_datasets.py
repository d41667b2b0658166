"""The demo dataset shipped with the package: small, and what its generator makes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pyogrio

import opengp

PACKAGED = Path(opengp.__file__).parent / "datasets" / "demo" / "topo.gpkg"
GENERATOR = Path(__file__).resolve().parents[2] / "tools" / "make_demo_datasets.py"
LAYERS = ["sheets", "places", "roads", "rivers", "lakes", "landcover", "contours"]


def test_packaged_file_is_small_with_map_sheets() -> None:
    assert PACKAGED.stat().st_size < 1024 * 1024
    assert [str(name) for name, _ in pyogrio.list_layers(PACKAGED)] == LAYERS
    sheets = gpd.read_file(PACKAGED, layer="sheets")
    assert sorted(sheets["sheet_id"]) == [11, 12, 13, 21, 22, 23] and sheets.crs.to_epsg() == 32633
    assert sheets.union_all().area == 6 * 10_000 ** 2         # a 3 x 2 grid of 10 km sheets, no gaps


def test_generator_reproduces_the_packaged_file(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_demo_datasets", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path / "topo.gpkg")
    for layer in LAYERS:
        made = gpd.read_file(tmp_path / "topo.gpkg", layer=layer)
        shipped = gpd.read_file(PACKAGED, layer=layer)
        assert made.drop(columns="geometry").equals(shipped.drop(columns="geometry")), layer
        assert made.geometry.geom_equals_exact(shipped.geometry, tolerance=1e-6).all(), layer
