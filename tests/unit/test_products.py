"""Product generation, checked the way a map user would: open the PDF, the PNG, the GeoTIFF.

A small GeoPackage is made here (UTM 33N): roads crossing the AOI, two lakes
inside it (one with an island) and one far away, named places, wells stored
in WGS84 (so they are reprojected), and a forest layer with nothing near the
AOI.  Generation runs for real (pyogrio, shapely, matplotlib, rasterio); its
reports go to a real JobContext on a MemoryStore.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from PIL import Image
from pypdf import PdfReader
from shapely.geometry import LineString, Point, box, mapping

from opengp import DataFile, JobContext
from opengp.config import ServiceConfig, load_settings
from opengp.core import Job, Kind, Status
from opengp.products.aoi import fill_title, parse_aoi
from opengp.products.definition import Product, ProductVersion, load_version
from opengp.products.extract import extract_layer
from opengp.products.generate import Cancelled, generate
from opengp.products import toolbox
from opengp.runtime.run import run_job
from opengp.store import MemoryStore
from opengp.tools.params import tool_spec
from opengp.tools.registry import Registry, load_service

CRS = "EPSG:32633"
AOI = box(501_000, 5_001_000, 509_000, 5_007_000)           # 8 x 6 km
LAKE = (503_000.0, 5_003_000.0)                              # r = 600 m, island r = 200 m
LAKE_BLUE = (51, 153, 255)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("products") / "topo.gpkg"
    roads = [LineString([(500_500 + i * 1000, 5_000_000), (500_500 + i * 1000, 5_008_000)]) for i in range(10)]
    gpd.GeoDataFrame({"class": ["primary" if i % 2 == 0 else "track" for i in range(10)]},
                     geometry=roads, crs=CRS).to_file(path, layer="roads", driver="GPKG")
    lakes = [Point(*LAKE).buffer(600).difference(Point(*LAKE).buffer(200)), Point(507_000, 5_005_000).buffer(400),
             Point(530_000, 5_030_000).buffer(400)]
    gpd.GeoDataFrame({"name": ["Big", "Small", "Far"]}, geometry=lakes, crs=CRS).to_file(
        path, layer="lakes", driver="GPKG")
    places = [Point(502_000 + i * 1500, 5_006_000) for i in range(5)] + [Point(540_000, 5_040_000)]
    gpd.GeoDataFrame({"name": ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Outside"]},
                     geometry=places, crs=CRS).to_file(path, layer="places", driver="GPKG")
    wells = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[Point(505_200, 5_002_000), Point(506_200, 5_002_500)],
                             crs=CRS).to_crs(4326)
    wells.to_file(path, layer="wells", driver="GPKG")
    gpd.GeoDataFrame({"kind": ["wood"]}, geometry=[box(600_000, 5_100_000, 601_000, 5_101_000)], crs=CRS).to_file(
        path, layer="forest", driver="GPKG")
    return path


def layer(gpkg: Path, name: str, title: str, **style: Any) -> dict[str, Any]:
    return {"title": title, "dataset": "Test/Topo", "layer": name, "style": style,
            "source": {"path": str(gpkg), "layer": name}}


def version(gpkg: Path, **overrides: Any) -> ProductVersion:
    spec: dict[str, Any] = {
        "name": "Standard", "page": "A4", "orientation": "landscape", "title": "Sheet {name}", "dpi": 100,
        "layers": [
            layer(gpkg, "forest", "Forest", fill="#228833"),
            layer(gpkg, "lakes", "Lakes", fill="#3399ff", color="#3399ff", width=0.3),
            layer(gpkg, "roads", "Roads", color="#cc2222", width=1.0),
            layer(gpkg, "wells", "Wells", marker="triangle", fill="black", size=3),
            layer(gpkg, "places", "Places", label="name", size=3),
        ],
    }
    spec.update(overrides)
    return load_version(spec)


def aoi_json(geometry=AOI, crs: str | None = CRS, **properties: Any) -> str:
    feature: dict[str, Any] = {"type": "Feature", "properties": {"name": "Alpha-7", **properties},
                               "geometry": mapping(geometry)}
    if crs:
        feature["crs"] = crs
    return json.dumps(feature)


class Recording(JobContext):
    """A real JobContext that also keeps every percent it was given, in order."""

    def __init__(self, job_id: str, store: MemoryStore, workdir: Path) -> None:
        super().__init__(job_id, store, workdir)
        self.percents: list[float] = []

    def progress(self, percent: float | None, message: str | None = None) -> None:
        if percent is not None:
            self.percents.append(percent)
        super().progress(percent, message)


def running_job(store: MemoryStore, job_id: str = "j1") -> None:
    store.create(Job.new("Maps/Topo", "GenerateProduct", {}, kind=Kind.PRODUCT, job_id=job_id)
                 .evolve(status=Status.SUBMITTED))
    store.claim(job_id, "test")


def messages(store: MemoryStore, ctx: JobContext) -> list[tuple[str, str]]:
    """Everything the job reported, flushed or still buffered."""
    ctx.flush()
    return [(str(m.level.value if hasattr(m.level, "value") else m.level), m.text)
            for m in store.get(ctx.job_id).messages]


@pytest.fixture
def ctx(tmp_path: Path) -> Recording:
    store = MemoryStore()
    running_job(store)
    return Recording("j1", store, tmp_path / "scratch")


@pytest.fixture(scope="module")
def made(gpkg: Path, tmp_path_factory: pytest.TempPathFactory):
    """One sheet of each output type, made once for the checks that only read them."""
    out = tmp_path_factory.mktemp("made")
    v = version(gpkg, grid={"interval": 1000})
    aoi = parse_aoi(aoi_json())
    return {t: generate(v, aoi, t, out / f"sheet.{t}", product="Topographic") for t in ("pdf", "png", "tiff")}


# -- the PDF ---------------------------------------------------------------------------

def test_pdf_page_is_the_paper_size_in_points(made) -> None:
    page = PdfReader(made["pdf"].path).pages[0]
    assert float(page.mediabox.width) == pytest.approx(297 / 25.4 * 72, abs=0.5)      # A4 landscape
    assert float(page.mediabox.height) == pytest.approx(210 / 25.4 * 72, abs=0.5)


def test_pdf_text_is_text(made) -> None:
    reader = PdfReader(made["pdf"].path)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Sheet Alpha-7" in text                                      # the title, filled from the AOI
    for words in ("Lakes", "Roads", "Places", "Wells", "Charlie", "503000", "5004000", "EPSG:32633", "1:"):
        assert words in text, words                                     # legend, labels, grid, footer
    assert "Forest" not in text                                         # nothing on the sheet: not in the legend
    assert "Outside" not in text                                        # clipped away


def test_pdf_is_vector(made) -> None:
    page = PdfReader(made["pdf"].path).pages[0]
    content = page.get_contents().get_data()
    assert len(re.findall(rb"\sl\s", content)) > 50 and re.search(rb"\sm\s", content)   # paths: moveto, lineto
    assert re.search(rb"\sf\s|\sB\s|\sf\*\s", content)                                  # filled shapes
    xobjects = page["/Resources"].get("/XObject") or {}
    images = [name for name, obj in xobjects.items() if obj.get_object().get("/Subtype") == "/Image"]
    assert images == []                                                 # nothing rasterised
    assert made["pdf"].path.stat().st_size < 500_000


# -- the PNG ---------------------------------------------------------------------------

def test_png_is_the_page_at_the_dpi(made) -> None:
    with Image.open(made["png"].path) as image:
        width, height = image.size
        assert abs(width - 297 / 25.4 * 100) < 1 and abs(height - 210 / 25.4 * 100) < 1
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    blue = np.all(pixels == LAKE_BLUE, axis=1).sum()
    assert blue > 1000                                                  # the lakes are drawn and filled


# -- the GeoTIFF -----------------------------------------------------------------------

def test_geotiff_bounds_and_crs_are_the_map_extent(made) -> None:
    extent = made["tiff"].sheet.extent
    with rasterio.open(made["tiff"].path) as ds:
        assert ds.crs.to_epsg() == 32633
        assert tuple(ds.bounds) == pytest.approx(extent, abs=1e-6)
        assert ds.count == 3 and ds.dtypes[0] == "uint8"
        frame = made["tiff"].sheet.frame
        assert ds.width == pytest.approx(frame.width / 25.4 * 100, abs=1)   # the frame at the version's dpi


def test_geotiff_pixels_land_where_the_features_are(made) -> None:
    with rasterio.open(made["tiff"].path) as ds:
        rgb = ds.read()

        def colour(x: float, y: float) -> tuple[int, ...]:
            row, col = ds.index(x, y)
            return tuple(int(v) for v in rgb[:, row, col])

        assert colour(LAKE[0] + 400, LAKE[1]) == LAKE_BLUE             # in the lake
        assert colour(LAKE[0] - 400, LAKE[1]) == LAKE_BLUE
        assert colour(*LAKE) == (255, 255, 255)                         # its island is left empty
        assert colour(505_000, 5_004_500) == (255, 255, 255)           # open country
        red = [colour(503_500, y) for y in (5_001_500, 5_004_500, 5_006_500)]
        assert all(c[0] > 150 and c[1] < 120 for c in red), red         # a road, along its whole length


# -- layout: scale and fit -------------------------------------------------------------

def test_fit_shows_the_whole_aoi_tight_on_one_side(made) -> None:
    sheet = made["pdf"].sheet
    x0, y0, x1, y1 = sheet.extent
    ax0, ay0, ax1, ay1 = AOI.bounds
    assert x0 <= ax0 and y0 <= ay0 and x1 >= ax1 and y1 >= ay1
    assert min(ax0 - x0, ay0 - y0) == pytest.approx(0, abs=1e-6)
    assert (x0 + x1) / 2 == pytest.approx(AOI.centroid.x) and (y0 + y1) / 2 == pytest.approx(AOI.centroid.y)
    # the frame keeps the page's proportions: metres per mm are the same both ways
    assert (x1 - x0) / sheet.frame.width == pytest.approx((y1 - y0) / sheet.frame.height)
    assert sheet.scale == pytest.approx((x1 - x0) * 1000 / sheet.frame.width)


def test_a_fixed_scale_shows_paper_times_scale_of_ground(gpkg: Path, tmp_path: Path, ctx: Recording) -> None:
    v = version(gpkg, scale=25_000, orientation="portrait")
    made = generate(v, parse_aoi(aoi_json()), "pdf", tmp_path / "s.pdf", ctx)
    x0, y0, x1, y1 = made.sheet.extent
    assert made.sheet.scale == 25_000
    assert x1 - x0 == pytest.approx(made.sheet.frame.width * 25)       # 1 mm of paper is 25 m of ground
    assert y1 - y0 == pytest.approx(made.sheet.frame.height * 25)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((AOI.centroid.x, AOI.centroid.y))
    # an 8 km AOI does not fit 190 mm at 1:25,000: said, not failed
    assert any("larger than the map frame" in text for level, text in messages(ctx._store, ctx))
    page = PdfReader(made.path).pages[0]
    assert float(page.mediabox.width) < float(page.mediabox.height)
    assert "1:25,000" in page.extract_text()


def test_custom_page_and_margins(gpkg: Path, tmp_path: Path) -> None:
    v = version(gpkg, page=[400, 250], orientation="portrait", margins_mm=[20, 10, 10, 10], title="")
    made = generate(v, parse_aoi(aoi_json()), "pdf", tmp_path / "c.pdf")
    page = PdfReader(made.path).pages[0]
    assert float(page.mediabox.width) == pytest.approx(250 / 25.4 * 72, abs=0.5)
    assert float(page.mediabox.height) == pytest.approx(400 / 25.4 * 72, abs=0.5)
    frame = made.sheet.frame
    assert frame.x == pytest.approx(10) and frame.y + frame.height == pytest.approx(400 - 20)   # no title band


# -- extraction ------------------------------------------------------------------------

def test_features_are_clipped_to_the_aoi(gpkg: Path) -> None:
    v = version(gpkg)
    roads = extract_layer(v.layers[2], AOI, parse_aoi(aoi_json()).crs)
    assert roads.count == 8 and roads.kind == "line"
    coords = np.concatenate([np.asarray(g.coords) for g in roads.lines])
    assert coords[:, 1].min() == pytest.approx(AOI.bounds[1]) and coords[:, 1].max() == pytest.approx(AOI.bounds[3])
    lakes = extract_layer(v.layers[1], AOI, parse_aoi(aoi_json()).crs)
    assert lakes.count == 2 and len(lakes.polygons) == 2
    assert len(lakes.polygons[np.argmax([p.area for p in lakes.polygons])].interiors) == 1   # the island stays


def test_an_aoi_that_is_not_a_rectangle_clips_to_its_outline(gpkg: Path, tmp_path: Path) -> None:
    # an L: the small lake (507000, 5005000) is inside the L's bounding box but not inside the L
    ell = box(501_000, 5_001_000, 509_000, 5_003_500).union(box(501_000, 5_001_000, 504_000, 5_007_000))
    made = generate(version(gpkg), parse_aoi(aoi_json(ell)), "tiff", tmp_path / "l.tif")
    assert made.counts["Lakes"] == 1 and made.counts["Places"] == 2       # Alpha and Bravo are in the L's arm
    with rasterio.open(made.path) as ds:
        rgb = ds.read()
        row, col = ds.index(507_000, 5_005_000)
        assert tuple(rgb[:, row, col]) == (255, 255, 255)                 # the lake outside the L is not drawn


def test_the_sheet_frame_shows_exactly_the_extent(made, gpkg: Path) -> None:
    from opengp.products.extract import LayerData
    from opengp.products.render import sheet_figure

    sheet = made["pdf"].sheet
    v = version(gpkg, grid={"interval": 1000})
    fig = sheet_figure(sheet, [LayerData(v.layers[0])], title="T", legend=True, scale_bar=True,
                       north_arrow=True, grid=v.grid_options, footer="f")
    (ax,) = fig.axes
    assert (*ax.get_xlim(), *ax.get_ylim()) == pytest.approx((sheet.extent[0], sheet.extent[2],
                                                             sheet.extent[1], sheet.extent[3]))
    x0, y0, w, h = ax.get_position().bounds
    page_w, page_h = sheet.page
    assert (x0 * page_w, y0 * page_h, w * page_w, h * page_h) == pytest.approx(
        (sheet.frame.x, sheet.frame.y, sheet.frame.width, sheet.frame.height))


def test_a_layer_in_degrees_is_reprojected(gpkg: Path) -> None:
    wells = extract_layer(version(gpkg).layers[3], AOI, parse_aoi(aoi_json()).crs)
    xy = sorted((round(p.x), round(p.y)) for p in wells.points)
    assert xy == [(505_200, 5_002_000), (506_200, 5_002_500)]


def test_a_filter_and_an_aoi_in_degrees(gpkg: Path, tmp_path: Path) -> None:
    v = version(gpkg, layers=[{**layer(gpkg, "roads", "Primary roads"), "where": "class = 'primary'"}])
    aoi = parse_aoi(aoi_json(gpd.GeoSeries([AOI], crs=CRS).to_crs(4326).iloc[0], crs=None))
    made = generate(v, aoi, "pdf", tmp_path / "d.pdf")
    assert made.sheet.crs.to_epsg() == 32633                           # the UTM zone of the AOI
    assert made.counts == {"Primary roads": 4}


def test_an_empty_layer_is_a_warning(made, gpkg: Path, tmp_path: Path, ctx: Recording) -> None:
    generated = generate(version(gpkg), parse_aoi(aoi_json()), "png", tmp_path / "e.png", ctx)
    assert generated.counts["Forest"] == 0 and generated.counts["Lakes"] == 2
    reported = messages(ctx._store, ctx)
    assert ("warning", "Layer 'Forest' has no features in the AOI.") in reported
    assert ("info", "Layer 'Lakes': 2 feature(s) in the AOI.") in reported
    assert not [text for level, text in reported if level == "error"]


# -- stages, progress, cancel ----------------------------------------------------------

def test_stages_and_percent_rise_to_the_end(gpkg: Path, tmp_path: Path, ctx: Recording) -> None:
    generate(version(gpkg), parse_aoi(aoi_json()), "pdf", tmp_path / "p.pdf", ctx)
    assert ctx.percents == sorted(ctx.percents) and ctx.percents[0] == 0 and ctx.percents[-1] == 100
    assert len(set(ctx.percents)) >= 8                                 # one step per layer at least
    texts = [text for _level, text in messages(ctx._store, ctx)]
    stages = [t for t in texts if t in ("Validating the request", "Extracting features", "Rendering", "Exporting PDF")]
    assert stages == ["Validating the request", "Extracting features", "Rendering", "Exporting PDF"]
    assert ctx._store.get("j1").progress.percent == 100


def test_a_cancel_stops_between_stages(gpkg: Path, tmp_path: Path, ctx: Recording) -> None:
    ctx.request_cancel()
    with pytest.raises(Cancelled):
        generate(version(gpkg), parse_aoi(aoi_json()), "pdf", tmp_path / "x.pdf", ctx)
    assert not (tmp_path / "x.pdf").exists() and max(ctx.percents) <= 5


# -- clear errors ----------------------------------------------------------------------

@pytest.mark.parametrize("change, needle", [
    ({"source": {"path": "/nowhere/topo.gpkg", "layer": "roads"}}, "does not exist"),
    ({"source": {"path": "SRC", "layer": "railways"}}, "Cannot read layer 'Roads'"),
    ({"style": {"label": "nom"}}, "no attribute 'nom'"),
    ({"where": "no_such_column = 1"}, "filter"),
    ({"source": None}, "no source file"),
])
def test_unreadable_sources_say_which_layer_and_why(gpkg: Path, tmp_path: Path, change, needle) -> None:
    roads = layer(gpkg, "roads", "Roads")
    if change.get("source", {}) and change["source"].get("path") == "SRC":
        change = {"source": {**change["source"], "path": str(gpkg)}}
    with pytest.raises(ValueError, match=re.escape(needle)) as raised:
        generate(version(gpkg, layers=[{**roads, **change}]), parse_aoi(aoi_json()), "pdf", tmp_path / "f.pdf")
    # shown to whoever may see the job: the file's name, never the server's directories
    assert str(gpkg.parent) not in str(raised.value) and "/nowhere" not in str(raised.value), raised.value


def test_an_output_type_the_version_does_not_allow(gpkg: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not produced as tiff; it allows pdf"):
        generate(version(gpkg, output_types=["pdf"]), parse_aoi(aoi_json()), "tiff", tmp_path / "g.tif")


# -- the definition model --------------------------------------------------------------

def test_definition_defaults() -> None:
    v = ProductVersion(name="Plain", layers=[{"title": "Roads", "dataset": "D/T", "layer": "roads"}])
    assert v.page_mm == (210, 297) and v.scale == "fit" and v.crs is None and v.margins == (10, 10, 10, 10)
    assert v.output_types == ["pdf", "png", "tiff"] and v.dpi == 150 and v.grid_options is None
    assert v.legend and v.scale_bar and v.north_arrow
    assert v.layers[0].style.color == "#333333" and v.layers[0].source is None
    assert ProductVersion(name="L", page="A3", orientation="landscape", layers=v.layers).page_mm == (420, 297)


@pytest.mark.parametrize("change, needle", [
    ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ({"page": "A5"}, "page"),
    ({"page": [10, 10]}, "between 50 and 2000 mm"),
    ({"scale": 0}, "scale"),
    ({"scale": "tight"}, "scale"),
    ({"crs": "EPSG:4326"}, "not a projected coordinate system"),
    ({"crs": "EPSG:999999"}, "not a coordinate system"),
    ({"output_types": ["jpg"]}, "output_types.0"),
    ({"output_types": []}, "output_types"),
    ({"layers": []}, "layers"),
    ({"margins_mm": 100}, "leave less than 40 mm"),
    ({"dpi": 5000}, "dpi"),
    ({"grid": {"interval": -5}}, "grid"),
    ({"layers": [{"title": "R", "dataset": "D/T", "layer": "r", "style": {"color": "reddish"}}]},
     "layers.0.style.color"),
    ({"layers": [{"title": "R", "dataset": "D/T", "layer": "r", "style": {"marker": "blob"}}]}, "marker"),
    ({"layers": [{"title": "R", "dataset": "D/T"}]}, "layers.0.layer: Field required"),
])
def test_definition_errors_name_the_field(change: dict[str, Any], needle: str) -> None:
    spec = {"name": "V", "layers": [{"title": "Roads", "dataset": "D/T", "layer": "roads"}], **change}
    with pytest.raises(ValueError, match="The product definition is not valid") as info:
        load_version(json.dumps(spec))
    assert needle in str(info.value)


def test_a_product_needs_distinct_version_names() -> None:
    v = {"name": "Same", "layers": [{"title": "Roads", "dataset": "D/T", "layer": "roads"}]}
    with pytest.raises(ValueError, match="repeated: Same"):
        Product(name="P", versions=[v, v])
    assert Product(name="P", versions=[v]).version("Same").name == "Same"


def test_the_toml_in_the_docs_loads(tmp_path: Path) -> None:
    """docs/products.md's example is a working config."""
    doc = (ROOT / "docs" / "products.md").read_text()
    block = re.search(r"## Defining products.*?```toml\n(.*?)```", doc, re.S).group(1)
    config = tmp_path / "opengp.toml"
    config.write_text(block)
    tomllib.loads(block)
    settings = load_settings(config)
    (service,) = settings.product_services
    product = service.products[0]
    assert [v.name for v in product.versions] == ["Standard", "Large"]
    large = product.version("Large")
    assert large.page_mm == (420, 297) and large.grid_options.interval == 1000 and large.scale == 25_000
    assert [layer.layer for layer in large.layers][:2] == ["landcover", "lakes"]


# -- the AOI ---------------------------------------------------------------------------

def test_aoi_crs_forms() -> None:
    assert parse_aoi(aoi_json()).crs.to_epsg() == 32633
    assert parse_aoi(aoi_json(box(10, 50, 11, 51), crs=None)).crs.to_epsg() == 4326
    old = json.loads(aoi_json())
    old["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}}
    assert parse_aoi(json.dumps(old)).crs.to_epsg() == 32633
    wkt = json.loads(aoi_json())
    wkt["crs"] = parse_aoi(aoi_json()).crs.to_wkt()                     # how a CRS without an EPSG code travels
    assert parse_aoi(json.dumps(wkt)).crs.to_epsg() == 32633
    collection = {"type": "FeatureCollection", "crs": "EPSG:32633", "features": [json.loads(aoi_json(crs=None))]}
    assert parse_aoi(json.dumps(collection)).attributes == {"name": "Alpha-7"}


@pytest.mark.parametrize("text, needle", [
    ("{not json", "not valid JSON"),
    (json.dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}), "must be a polygon"),
    (json.dumps({"type": "Feature", "properties": {}}), "no geometry"),
    (json.dumps({"type": "FeatureCollection", "features": []}), "must be one feature"),
    (aoi_json(crs="EPSG:nope"), "is not a coordinate system"),
])
def test_bad_aois_say_why(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_aoi(text)


def test_title_fields() -> None:
    assert fill_title("Sheet {name} ({id:03d})", {"name": "A", "id": 7}) == ("Sheet A (007)", [])
    assert fill_title("Sheet {name} {{draft}}", {}) == ("Sheet  {draft}", ["name"])


# -- the GenerateProduct tool, through run_job ------------------------------------------

def test_the_tool_runs_as_a_product_job(gpkg: Path, tmp_path: Path) -> None:
    spec = tool_spec(toolbox.generate_product)
    assert [p.name for p in spec.inputs] == ["productName", "productVersion", "aoi", "definition", "outputType",
                                             "outputName"]
    assert [p.name for p in spec.outputs] == ["outputFile"] and spec.outputs[0].data_type == "GPDataFile"
    registry = Registry([load_service(ServiceConfig(folder="Maps", name="Topo", toolbox="opengp.products.toolbox"))])
    store = MemoryStore()
    inputs = {"productName": "Topographic", "productVersion": "Standard", "outputType": "png",
              "outputName": "T-1", "aoi": aoi_json(), "definition": version(gpkg).model_dump_json()}
    job = Job.new("Maps/Topo", "GenerateProduct", inputs, kind=Kind.PRODUCT, options={"base_url": "http://x"})
    store.create(job.evolve(status=Status.SUBMITTED))
    assert run_job(job.id, store, registry, tmp_path, worker="test") == Status.SUCCEEDED
    done = store.get(job.id)
    url = done.results["outputFile"]["value"]["url"]
    assert url.startswith("http://x/") and url.endswith("/T-1.png")
    assert list(tmp_path.rglob("T-1.png"))
    assert any("Forest" in m.text and "no features" in m.text for m in done.messages)
    assert done.progress.percent == 100


def test_the_tool_refuses_a_mismatched_version(gpkg: Path, tmp_path: Path) -> None:
    ctx = JobContext("j", MemoryStore(), tmp_path)
    with pytest.raises(ValueError, match="does not match"):
        toolbox.generate_product("Topographic", "Large", aoi_json(), version(gpkg).model_dump_json(), "pdf", "", ctx)
    made = toolbox.generate_product("Topographic", "Standard", aoi_json(), version(gpkg).model_dump_json(), "PDF",
                                    "", ctx)
    assert isinstance(made, DataFile) and made.path.name == "Topographic_Standard.pdf"
    assert made.path.parent == tmp_path


def test_warm_up_prepares_a_worker() -> None:
    from opengp.products.render import warm_up

    warm_up()       # loads the fonts and backends once; must not need a display or leave a file behind
