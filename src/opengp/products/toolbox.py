"""The toolbox every product service is published with: one task, GenerateProduct.

The product API resolves a generateProduct request (product, version, AOI,
excluded layers, datasets to files) at submit time and submits a ``product``
job of this task; the worker runs it through the normal ``run_job``.  It can
also be run like any GP task, given the same inputs.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from opengp import DataFile, JobContext, Param, tool

from ..system.files import safe_file_name
from .aoi import parse_aoi
from .definition import OUTPUT_TYPES, load_version

AOI_HELP = ('The area of interest: a GeoJSON Feature with a Polygon or MultiPolygon geometry; its properties fill '
            'the title. Its coordinate system is the Feature\'s "crs" member ("EPSG:32633"); without one, '
            'WGS84 longitude/latitude.')
DEFINITION_HELP = ('The product version to make, as JSON (see docs/products.md), each layer with its "source": '
                   '{"path": "/abs/file.gpkg", "layer": "roads"}.')


@tool(name="GenerateProduct", display_name="Generate Product", category="Products", output_name="outputFile",
      output_display_name="Output File")
def generate_product(
    product_name: Annotated[str, Param(name="productName", display_name="Product Name")],
    product_version: Annotated[str, Param(name="productVersion", display_name="Product Version")],
    aoi: Annotated[str, Param(display_name="Area of Interest", description=AOI_HELP)],
    definition: Annotated[str, Param(display_name="Product Definition", description=DEFINITION_HELP,
                                     withheld=True)],       # the datasets' paths on the server
    output_type: Annotated[str, Param(name="outputType", display_name="Output Type", choices=list(OUTPUT_TYPES))] = "pdf",
    output_name: Annotated[str, Param(name="outputName", display_name="Output Name",
                                      description="The output file's name, without extension")] = "",
    ctx: JobContext = None,
) -> DataFile:
    """Make a map sheet of a product version for an area of interest, as PDF, PNG or GeoTIFF."""
    from .export import EXTENSIONS
    from .generate import generate

    version = load_version(definition)
    if version.name != product_version:
        raise ValueError(f"productVersion '{product_version}' does not match the definition's name '{version.name}'.")
    area = parse_aoi(aoi)
    output_type = output_type.lower()
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"outputType must be one of {', '.join(OUTPUT_TYPES)}, not {output_type!r}.")
    stem = safe_file_name(output_name or f"{product_name}_{product_version}")
    if stem.lower().endswith(EXTENSIONS[output_type]):
        stem = stem[: -len(EXTENSIONS[output_type])]
    folder = ctx.workdir if ctx is not None else Path(tempfile.mkdtemp(prefix="opengp-product-"))
    made = generate(version, area, output_type, folder / (stem + EXTENSIONS[output_type]), ctx, product=product_name)
    return DataFile(path=made.path)
