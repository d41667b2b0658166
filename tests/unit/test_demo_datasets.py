"""The demo dataset shipped with the package: small, and what its generator makes; and, on it,
which layer URLs the catalog reads as its own."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

import opengp
from opengp.config import load_settings
from opengp.datasets import inputs
from opengp.datasets.catalog import Catalog
from opengp.tools.values import InvalidValue

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


# -- which URLs are ours: Catalog.find_url -------------------------------------------------

LAYER = "/arcgis/rest/services/Demo/Topo/FeatureServer/1"


def _catalog(**overrides: object) -> Catalog:
    return Catalog(load_settings(None, demo=True, **{"port": 8123, **overrides}))


def _found(catalog: Catalog, url: str, *extra: str) -> tuple[str, int] | None:
    found = catalog.find_url(url, extra)
    return None if found is None else (found[0].key, found[1].id)


def test_find_url_reads_our_hosts_and_paths_only() -> None:
    catalog = _catalog()
    ours = ["http://127.0.0.1:8123", "http://localhost:8123", "http://LocalHost:8123", "http://[::1]:8123", ""]
    for base in ours:
        assert _found(catalog, base + LAYER + "/query?where=1%3D1") == ("Demo/Topo", 1), base
    foreign = ["https://other-server.example", "http://127.0.0.1:8124", "http://localhost", "http://10.0.0.1:8123",
               "https://127.0.0.1:8123.evil.example", "//127.0.0.1:8123"]
    for base in foreign:
        assert _found(catalog, base + LAYER) is None, base
        assert catalog.missing(base + "/arcgis/rest/services/Demo/Topo/FeatureServer/99") is None, base
    assert _found(catalog, "ftp://127.0.0.1:8123" + LAYER) is None
    assert _found(catalog, "http://127.0.0.1:bad" + LAYER) is None


def test_find_url_knows_public_url_and_extra_hosts_with_default_ports() -> None:
    catalog = _catalog(public_url="https://GIS.example.org/opengp")
    assert _found(catalog, "https://gis.example.org" + LAYER) == ("Demo/Topo", 1)
    assert _found(catalog, "https://gis.example.org:443" + LAYER) == ("Demo/Topo", 1)
    assert _found(catalog, "http://gis.example.org" + LAYER) is None          # port 80, not 443
    assert _found(catalog, "http://proxy.example:8080" + LAYER, "Proxy.Example:8080") == ("Demo/Topo", 1)
    assert _found(catalog, "https://proxy.example" + LAYER, "proxy.example") == ("Demo/Topo", 1)
    assert _found(catalog, "https://proxy.example:8443" + LAYER, "proxy.example") is None
    assert _found(catalog, "http://proxy.example" + LAYER) is None             # the one-argument call
    bound = _catalog(host="0.0.0.0", port=9000)
    assert _found(bound, "http://0.0.0.0:9000" + LAYER) and _found(bound, "http://127.0.0.1:9000" + LAYER)


def test_missing_names_what_does_not_exist() -> None:
    catalog = _catalog()
    assert "layer 99 of dataset Demo/Topo, which does not exist (its layers are 0 to 6)" in catalog.missing(
        "http://127.0.0.1:8123/arcgis/rest/services/Demo/Topo/FeatureServer/99")
    assert "layer 999999999... of dataset" in catalog.missing(
        "http://127.0.0.1:8123/arcgis/rest/services/Demo/Topo/FeatureServer/" + "9" * 5000)
    assert "dataset Demo/Nope" in catalog.missing("/arcgis/rest/services/Demo/Nope/FeatureServer/0")
    assert catalog.missing("http://127.0.0.1:8123" + LAYER) is None
    assert catalog.missing("http://127.0.0.1:8123/arcgis/rest/services/Demo/Tools/GPServer") is None


def test_layer_input_on_a_foreign_host_is_fetched_not_read_from_our_file(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[str] = []

    def fake_fetch(url: str, **_: object) -> tuple[bytes, str]:
        fetched.append(url)
        return b'{"features": [{"attributes": {"a": 1}}]}', "application/json"

    monkeypatch.setattr(inputs, "fetch", fake_fetch)
    layer_inputs = inputs.LayerInputs(_catalog(), allow_private=False)
    foreign = "https://other-server.example" + LAYER
    assert len(layer_inputs.read(foreign).features) == 1
    assert fetched and fetched[0].startswith(foreign + "/query?")
    fetched.clear()
    assert len(layer_inputs.read("http://localhost:8123" + LAYER).features) > 1 and not fetched
    with pytest.raises(InvalidValue, match="layer 7 of dataset Demo/Topo, which does not exist"):
        layer_inputs.check("http://localhost:8123/arcgis/rest/services/Demo/Topo/FeatureServer/7")
    with pytest.raises(InvalidValue, match="does not exist"):
        layer_inputs.read("/arcgis/rest/services/Demo/Topo/FeatureServer/7")
