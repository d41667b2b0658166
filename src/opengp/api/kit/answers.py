"""Answering by ``f``: JSON, pretty JSON (``pjson``), or a plain page of nested tables."""
from __future__ import annotations

import html
from typing import Any, Mapping

import orjson
from starlette.responses import Response

CURRENT_VERSION = 11.1      # the ArcGIS Enterprise version the ArcGIS faces (REST, admin, products) report


def respond(data: Any, params: Mapping[str, str]) -> Response:
    """``data`` as JSON, indented for ``f=pjson``."""
    option = orjson.OPT_INDENT_2 if params.get("f") == "pjson" else 0
    return Response(orjson.dumps(data, option=option), media_type="application/json")


def table_page(title: str, data: Any) -> str:
    """A plain page showing ``data`` as nested tables, with a link to its JSON (the admin API's,
    the product face's and the OGC face's ``f=html``)."""
    t = html.escape(title or "opengp administration")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{t}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 6px;text-align:left;"
            "vertical-align:top}</style></head><body>"
            f"<h1>{t}</h1><p><a href='?f=pjson'>JSON</a></p>{_html(data)}</body></html>")


def _html(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(f"<tr><th scope='row'>{html.escape(str(k))}</th><td>{_html(v)}</td></tr>"
                       for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        return "<ol>" + "".join(f"<li>{_html(v)}</li>" for v in value) + "</ol>" if value else "(none)"
    if value is None:
        return ""
    text = html.escape(str(value))
    if isinstance(value, str) and value.startswith(("http://", "https://", "/arcgis/")):
        return f"<a href='{text}'>{text}</a>"
    return text
