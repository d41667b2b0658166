"""FeatureServer and feature layer JSON, shaped as ArcGIS Server writes them."""
from __future__ import annotations

from typing import Any

from ...datasets.catalog import Dataset, Layer
from ...datasets.query import MAX_RECORD_COUNT
from ...tools import geometry as geo

CURRENT_VERSION = 11.1
QUERY_FORMATS = "JSON, geoJSON"
# what a client may ask of query (ArcGIS's flags; the rest are false or absent)
ADVANCED_QUERY = {
    "supportsPagination": True, "supportsOrderBy": True, "supportsQueryWithDistance": False,
    "supportsDistinct": False, "supportsReturningQueryExtent": True, "supportsStatistics": False,
    "supportsHavingClause": False, "supportsCountDistinct": False, "supportsTrueCurve": False,
    "supportsSqlExpression": False, "supportsQueryWithResultType": False,
    "supportsReturningGeometryCentroid": False, "supportsPaginationOnAggregatedQueries": False,
}


def _units(sr: dict[str, Any] | None) -> str | None:
    if not sr:
        return None
    try:
        return "esriDecimalDegrees" if geo.is_geographic(sr) else "esriMeters"
    except Exception:
        return None


def _is_table(layer: Layer) -> bool:
    return layer.geometry_type is None


def service_json(dataset: Dataset) -> dict[str, Any]:
    layers = [l for l in dataset.layers if not _is_table(l)]
    first = layers[0] if layers else None
    sr = first.spatial_reference if first else None
    extent = _union([l.extent for l in layers if geo.same_sr(l.spatial_reference, sr)])
    return {
        "currentVersion": CURRENT_VERSION,
        "serviceDescription": dataset.config.description,
        "description": dataset.config.description,
        "hasVersionedData": False,
        "supportsDisconnectedEditing": False,
        "hasStaticData": True,
        "maxRecordCount": MAX_RECORD_COUNT,
        "supportedQueryFormats": QUERY_FORMATS,
        "capabilities": "Query",
        "allowGeometryUpdates": False,
        "units": _units(sr),
        "spatialReference": sr,
        "initialExtent": extent,
        "fullExtent": extent,
        "layers": [{"id": l.id, "name": l.name, "parentLayerId": -1, "defaultVisibility": True,
                    "subLayerIds": None, "minScale": 0, "maxScale": 0, "geometryType": l.geometry_type}
                   for l in layers],
        "tables": [{"id": l.id, "name": l.name} for l in dataset.layers if _is_table(l)],
    }


def _union(extents: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    boxes = [e for e in extents if e]
    if not boxes:
        return None
    return {"xmin": min(b["xmin"] for b in boxes), "ymin": min(b["ymin"] for b in boxes),
            "xmax": max(b["xmax"] for b in boxes), "ymax": max(b["ymax"] for b in boxes),
            "spatialReference": boxes[0]["spatialReference"]}


def layer_json(dataset: Dataset, layer: Layer) -> dict[str, Any]:
    text_fields = [f["name"] for f in layer.fields if f["type"] == "esriFieldTypeString"]
    return {
        "currentVersion": CURRENT_VERSION,
        "id": layer.id,
        "name": layer.name,
        "type": "Table" if _is_table(layer) else "Feature Layer",
        "description": dataset.config.description,
        "geometryType": layer.geometry_type,
        "sourceSpatialReference": layer.spatial_reference,
        "hasZ": bool(layer.frame.geometry.has_z.any()),
        "hasM": False,
        "objectIdField": layer.object_id_field,
        "uniqueIdField": {"name": layer.object_id_field, "isSystemMaintained": True},
        "globalIdField": "",
        "displayField": text_fields[0] if text_fields else layer.object_id_field,
        "fields": layer.fields,
        "geometryField": None if _is_table(layer) else {"name": "Shape", "type": "esriFieldTypeGeometry"},
        "extent": layer.extent,
        "parentLayer": None,
        "subLayers": [],
        "minScale": 0,
        "maxScale": 0,
        "defaultVisibility": True,
        "hasAttachments": False,
        "htmlPopupType": "esriServerHTMLPopupTypeNone",
        "types": [],
        "templates": [],
        "maxRecordCount": MAX_RECORD_COUNT,
        "standardMaxRecordCount": MAX_RECORD_COUNT,
        "supportedQueryFormats": QUERY_FORMATS,
        "capabilities": "Query",
        "supportsAdvancedQueries": True,
        "useStandardizedQueries": True,
        "supportsStatistics": False,
        "advancedQueryCapabilities": ADVANCED_QUERY,
    }
