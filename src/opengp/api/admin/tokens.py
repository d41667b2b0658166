"""``/arcgis/admin/generateToken``: the admin API's own token endpoint, for administrators and
publishers only, its errors in the admin shape."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...core import OpenGPError
from ..auth import issue_token
from ..kit.answers import respond
from ..kit.errors import admin_error_body
from ..kit.params import read_params


async def admin_generate_token(request: Request) -> Response:
    params = await read_params(request)
    try:
        body = await issue_token(request, params, admin=True)
    except OpenGPError as exc:
        return respond(admin_error_body(exc), params)
    return respond(body, params)
