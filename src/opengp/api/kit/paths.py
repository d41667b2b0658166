"""Where each face lives: what the error answers (api/errors.py) tell faces apart by, and what
the faces mount their routes under."""

OGC_BASE = "/ogcapi"            # OGC API - Processes
ADMIN_BASE = "/arcgis/admin"    # the ArcGIS Administrator API (and its console, a page)
