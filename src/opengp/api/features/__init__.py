"""ArcGIS feature services over the registered datasets (FeatureServer, layer, query)."""
