"""Pages for people: server-rendered HTML (Jinja2) with a little JavaScript for
live job updates and feature previews."""
