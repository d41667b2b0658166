"""The ArcGIS Administrator API face (``/arcgis/admin``)."""
