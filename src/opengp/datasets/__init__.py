"""Vector datasets registered in the config, served read-only as ArcGIS feature layers."""
