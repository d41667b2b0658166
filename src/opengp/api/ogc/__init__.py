"""The OGC API - Processes face (``/ogcapi``)."""
