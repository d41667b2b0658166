"""``/arcgis/tokens/generateToken``: username and password for a token, as ArcGIS Server
does (the credentials are checked by ``opengp.auth.login``, through ``api/auth.issue_token``)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..auth import issue_token
from ..kit.answers import respond
from ..kit.params import read_params


async def generate_token(request: Request) -> Response:
    """The services token endpoint (errors in the REST error body)."""
    params = await read_params(request)
    body = await issue_token(request, params)
    return respond(body, params)
