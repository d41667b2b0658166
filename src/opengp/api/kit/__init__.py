"""What every HTTP face uses and no face owns (a kit, not a face).

Faces import the kit, never each other (the independence contract in pyproject.toml):

- ``params``    reading a request: query and form merged, form fields, ``f=html``, ``next=``
- ``answers``   answering by ``f`` (json, pjson, html tables), the ArcGIS version reported
- ``options``   request-wide settings a job keeps (output spatial reference, base URL)
- ``errors``    ONE table: each opengp error type and its answer in each dialect
- ``esrijob``   the esriJob words the REST face, the admin API and the pages share
- ``html``      the pages' frame: templates, crumbs, times; the error page
"""
