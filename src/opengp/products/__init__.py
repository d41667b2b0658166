"""Product generation: map products (a topographic sheet, an atlas page) for an area of interest.

    definition  what a product and its versions are (pydantic; read by config.py)
    aoi         the area of interest: a GeoJSON Feature with its CRS
    projection  the map's CRS and moving geometries into it
    extract     a layer's features inside the AOI, clipped, in the map CRS
    layout      where the frame, title and footer go; which ground the frame shows
    render      the matplotlib figure: layers, legend, scale bar, north arrow, grid
    export      PDF, PNG and GeoTIFF writers
    generate    the stages, with progress, warnings and cancel
    toolbox     the GenerateProduct task that product jobs run
"""
