"""The web face: signing in and out of the pages (the ``agstoken`` cookie), and the pages'
static files.  The pages themselves are their faces' (the REST face's resources in
``arcgis/pages.py``, the admin console in ``admin/console.py``), drawn in the kit's frame.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...core import OpenGPError
from ..auth import COOKIE, client_ip, issue_token, require_same_origin
from ..kit.html import STATIC, frame, render
from ..kit.params import read_params, safe_next

log = logging.getLogger("opengp.auth")


async def login(request: Request) -> Response:
    params = await read_params(request)
    target = safe_next(params.get("next"))
    ctx = frame(request, None, "Sign in", [("Services", "/arcgis/rest/services?f=html"), ("Sign in", None)])
    if request.method == "GET":
        return render("login.html", {**ctx, "next": target, "username": "", "error": None})
    try:
        require_same_origin(request)        # no signing someone in from another page
        token = await issue_token(request, {"username": params.get("username", ""),
                                            "password": params.get("password", ""), "client": "requestip"})
    except OpenGPError as exc:
        message = " ".join([exc.message, *exc.details]) if exc.details else exc.message
        return render("login.html", {**ctx, "next": target, "username": params.get("username", ""),
                                     "error": message}, status_code=200)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token["token"], max_age=max(1, int(token["expires"] / 1000 - time.time())),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/arcgis")
    return response


async def logout(request: Request) -> Response:
    """Sign out: the cookie's token is revoked in the store (every API server of a deployment
    refuses it within ``auth.tokens.CACHE_SECONDS``), not only forgotten by this browser, so a
    copy of it (a shared machine, a proxy log) is worth nothing from now on."""
    require_same_origin(request)        # no signing someone out from another page
    token = request.cookies.get(COOKIE)
    if token:
        name = await asyncio.to_thread(request.app.state.auth.revoke_signed, token)
        if name is not None:
            log.info("%s signed out from %s; the token is revoked", name, client_ip(request))
    response = RedirectResponse("/arcgis/rest/services?f=html", status_code=303)
    response.delete_cookie(COOKIE, path="/arcgis")
    return response


routes = [
    Route("/arcgis/login", login, methods=["GET", "POST"]),
    Route("/arcgis/logout", logout, methods=["POST"]),
    Mount(STATIC, StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
]
