"""The part of the ArcGIS sharing API (``/arcgis/sharing/rest``) that the ArcGIS API for Python
needs to sign in with ``GIS(url, username, password)`` and to run GP tools with ``gis=``.  No
portal is behind it: no items, groups, content or portal administration.

What ``GIS("https://host:port/arcgis", name, password)`` (arcgis 2.4) asks, in order:

1. ``GET sharing/rest/info``: ``authInfo``, where the token service is (as a portal answers).
2. ``GET sharing/rest/oauth2/authorize?client_id=pythonapi&response_type=token&redirect_uri=...``:
   the sign-in page; the client reads the ``oauth_state`` of its ``oAuthInfo``.
3. ``POST sharing/oauth2/signin`` (``oauth_state``, ``username``, ``password``, ``expiration``):
   a redirect to ``<redirect_uri>#access_token=...&expires_in=...`` (the OAuth 2.0 implicit
   grant, ``response_type=token``).  Every later request carries
   ``X-Esri-Authorization: Bearer <token>``.
4. ``GET sharing/rest/portals/self``: the portal's description, with the signed-in ``user``.
5. ``GET sharing/rest/community/users/<name>``: that user.
6. ``GET sharing/rest``: the version (``print(gis)``, ``gis.version``).

The token is an ordinary opengp token (``api/auth.issue_token``: the same password check,
throttle and lifetime as ``generateToken``), bound to the address that signed in, as
``client=requestip`` binds.  ``oauth_state`` is a note signed by the server (``seal``), so
the two requests of a sign-in may reach different API servers of a deployment.

Differences from ArcGIS Enterprise (docs/clients.md): there are no registered applications,
so any ``client_id`` is accepted, and a token is only ever sent to a ``redirect_uri`` on this
server's own origin (it could not leak to another site); only ``response_type=token``; users
have a ``role`` but no portal ``privileges``.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ...auth import Claims, Scope, TokenError
from ...core import Forbidden, InvalidInput, NotFound, OpenGPError, TokenRequired, User, is_username, folded_username
from ..auth import caller, client_ip, issue_token, require_same_origin
from ..kit.answers import CURRENT_VERSION, respond
from ..kit.html import frame, render
from ..kit.options import base_url
from ..kit.params import read_params
from .tokens import generate_token

SHARING = "/arcgis/sharing"
STATE_PURPOSE = "oauth-signin"
STATE_SECONDS = 600             # a sign-in page stays usable this long
# the code ArcGIS's sign-in gives a refused sign-in: the arcgis package then raises ArcGISLoginError
# with the page's messages (arcgis/auth/_auth/_token.py); without it the client stumbles on
SIGNIN_REFUSED = "OAUTH_0015"
# ArcGIS's names for what opengp's roles come closest to (the User resource's ``role``)
PORTAL_ROLES = (("administrator", "org_admin"), ("publisher", "org_publisher"), ("user", "org_user"))


async def root(request: Request) -> Response:
    """``sharing/rest``: the version of the sharing API (the client reads it as the GIS's version)."""
    return respond({"currentVersion": str(CURRENT_VERSION)}, await read_params(request))


async def info(request: Request) -> Response:
    """``sharing/rest/info``: where to get a token, as a portal says it."""
    params = await read_params(request)
    return respond({"authInfo": {"tokenServicesUrl": _token_url(request), "isTokenBasedSecurity": True}}, params)


def _token_url(request: Request) -> str:
    return f"{base_url(request, request.app.state.settings)}{SHARING}/rest/generateToken"


async def portal_self(request: Request) -> Response:
    """``sharing/rest/portals/self``: what the client needs of a portal's description (its
    name and mode, whether it is all HTTPS), and the signed-in user when there is one."""
    params = await read_params(request)
    claims = caller(request, params, request.app.state.auth)
    body: dict[str, Any] = {"name": "opengp", "portalName": "opengp", "isPortal": True, "portalMode": "singletenant",
                            "currentVersion": str(CURRENT_VERSION), "allSSL": request.url.scheme == "https"}
    if claims is not None:
        body["user"] = user_json(claims.user)
    return respond(body, params)


async def community_self(request: Request) -> Response:
    """``sharing/rest/community/self``: the signed-in user."""
    params = await read_params(request)
    return respond(user_json(_signed_in(request, params).user), params)


async def community_user(request: Request) -> Response:
    """``sharing/rest/community/users/<name>``: oneself, or anyone for a user administrator;
    anyone else's record answers as a user that does not exist."""
    params = await read_params(request)
    claims = _signed_in(request, params)
    name = request.path_params["username"]
    if folded_username(name) == folded_username(claims.user.name):
        return respond(user_json(claims.user), params)
    # a name no user can have (control characters...) is not looked up (the store may refuse it)
    user = (request.app.state.auth.users.get(name) if Scope.USERS_ADMIN in claims.scopes and is_username(name)
            else None)
    if user is None:
        raise NotFound(f"User '{name}' does not exist or is inaccessible.")
    return respond(user_json(user), params)


def _signed_in(request: Request, params: dict[str, str]) -> Claims:
    claims = caller(request, params, request.app.state.auth)
    if claims is None:
        raise TokenRequired("Token Required")
    return claims


def user_json(user: User) -> dict[str, Any]:
    """A user as the sharing API's User resource describes one (the fields clients read)."""
    role = next((arcgis for ours, arcgis in PORTAL_ROLES if ours in user.roles), "org_user")
    return {"username": user.name, "fullName": user.name, "role": role, "privileges": [],
            "created": int(user.created * 1000), "modified": int(user.updated * 1000)}


# -- signing in: the OAuth 2.0 implicit grant ---------------------------------------------------

async def authorize(request: Request) -> Response:
    """``sharing/rest/oauth2/authorize``: the sign-in page for an application."""
    params = await read_params(request)
    try:
        state = _checked_request(request, params)
    except InvalidInput as exc:
        return _refusal(request, exc)
    return _signin_page(request, request.app.state.auth.seal(STATE_PURPOSE, state, STATE_SECONDS))


async def signin(request: Request) -> Response:
    """``sharing/oauth2/signin``: the sign-in page's form.  Signed in: off to the application
    with the token; refused: the page again, saying why."""
    params = await read_params(request)
    note = params.get("oauth_state", "")
    try:
        state = request.app.state.auth.unseal(STATE_PURPOSE, note)
    except (TokenError, ValueError, KeyError):
        return _refusal(request, InvalidInput("Invalid or expired oauth_state.",
                                              ["Open the application's sign-in again."]))
    try:
        require_same_origin(request)        # no signing someone in from another site's page
    except Forbidden:
        return _signin_page(request, note, ["Cross-origin request refused: sign in on this server's own page."])
    try:
        token = await issue_token(request, {"username": params.get("username", ""),
                                            "password": params.get("password", ""), "client": "requestip",
                                            "expiration": params.get("expiration") or state.get("expiration", "")})
    except OpenGPError as exc:
        return _signin_page(request, note, exc.details or [exc.message])     # "Invalid username or password."
    user = request.app.state.auth.verify(token["token"], ip=client_ip(request)).user.name
    seconds = max(1, round(token["expires"] / 1000 - time.time()))
    fragment = {"access_token": token["token"], "expires_in": seconds, "username": user,
                "ssl": "true" if token["ssl"] else "false"}
    if state.get("state"):
        fragment["state"] = state["state"]
    return RedirectResponse(f"{state['redirect_uri']}#{urlencode(fragment)}", status_code=302)


def _checked_request(request: Request, params: dict[str, str]) -> dict[str, str]:
    """What the sign-in must remember of an authorize request, checked (InvalidInput)."""
    if not params.get("client_id"):
        raise InvalidInput("Invalid client_id", ["client_id is required."])
    if params.get("response_type", "code") != "token":
        raise InvalidInput("Unsupported response_type",
                           ["This server signs applications in with response_type=token only."])
    redirect = params.get("redirect_uri", "")
    if not _own_origin(request, redirect):
        # the words the arcgis package looks for before it tries its next redirect_uri
        raise InvalidInput("Invalid redirect_uri",
                           ["A token is only sent to a page of this server (scheme, host and port)."])
    state = {"client_id": params["client_id"], "redirect_uri": redirect}
    for name in ("state", "expiration"):
        if params.get(name):
            state[name] = params[name]
    return state


def _own_origin(request: Request, uri: str) -> bool:
    """Is ``uri`` an address on this server (as the request reached it, or its public_url)?
    No fragment: OAuth's redirect URI never has one (RFC 6749, 3.1.2)."""
    try:
        target = urlsplit(uri)
    except ValueError:          # "http://[::1"
        return False
    if target.scheme not in ("http", "https") or not target.netloc or target.fragment:
        return False
    ours = {str(request.base_url), request.app.state.settings.public_url or ""}
    return any((target.scheme, target.netloc.lower()) == (o.scheme, o.netloc.lower())
               for o in map(urlsplit, ours) if o.netloc)


def _signin_page(request: Request, note: str, messages: list[str] | None = None) -> HTMLResponse:
    """The page: a form for a person, and ``oAuthInfo`` for a program (the arcgis package reads
    the first line holding a ``{``, so it is the first such line; no single quote in it)."""
    info: dict[str, Any] = {"oauth_state": note}
    if messages:
        info.update(messages=[m.replace("'", "\u2019") for m in messages], messageCode=SIGNIN_REFUSED)
    script = orjson.dumps(info).decode().replace("<", "\\u003c")
    ctx = frame(request, None, "Sign in", [("Services", "/arcgis/rest/services?f=html"), ("Sign in", None)])
    return render("oauth-signin.html", {**ctx, "oauth_info": script, "oauth_state": note, "messages": messages or [],
                                         "action": f"{SHARING}/oauth2/signin"})


def _refusal(request: Request, exc: OpenGPError) -> HTMLResponse:
    ctx = frame(request, None, "Cannot sign in", [("Services", "/arcgis/rest/services?f=html"), ("Sign in", None)])
    return render("error.html", {**ctx, "message": exc.message, "details": exc.details}, status_code=400)


routes = [
    *(Route(path, root, methods=["GET", "POST"]) for path in (f"{SHARING}/rest", f"{SHARING}/rest/")),
    Route(f"{SHARING}/rest/info", info, methods=["GET", "POST"]),
    Route(f"{SHARING}/rest/generateToken", generate_token, methods=["GET", "POST"]),
    Route(f"{SHARING}/rest/oauth2/authorize", authorize, methods=["GET", "POST"]),
    Route(f"{SHARING}/oauth2/signin", signin, methods=["POST"]),
    Route(f"{SHARING}/rest/portals/self", portal_self, methods=["GET", "POST"]),
    Route(f"{SHARING}/rest/community/self", community_self, methods=["GET", "POST"]),
    Route(f"{SHARING}/rest/community/users/{{username}}", community_user, methods=["GET", "POST"]),
]
