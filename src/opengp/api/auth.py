"""Who is calling: the token a request carries, verified, and the tokens a sign-in makes
(shared by every face; the checks themselves are ``opengp.auth``'s).

ArcGIS clients send a token in four ways, all accepted: the ``token`` query
or form field, ``X-Esri-Authorization: Bearer``, ``Authorization: Bearer``
and the ``agstoken`` cookie.  No token means anonymous; a bad one is an
error (498), never silently anonymous.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping
from urllib.parse import urlsplit

from starlette.requests import Request

from ..auth import ADMIN_SCOPES, Claims, Scope, TokenError, TokenIssuer
from ..auth.login import check_password
from ..auth.tokens import binding
from ..core import Forbidden, InvalidInput, InvalidToken, NotAllowed, TokenRequired

log = logging.getLogger("opengp.auth")
_BEARER_HEADERS = ("x-esri-authorization", "authorization")
COOKIE = "agstoken"         # where the pages keep the signed-in user's token
_COOKIE = COOKIE.encode()


def _sent_token(request: Request, params: Mapping[str, Any]) -> str | None:
    """The token the request carries itself (field or header), not the browser's cookie."""
    token = params.get("token")
    if token:
        return str(token)
    for header in _BEARER_HEADERS:
        value = request.headers.get(header, "")
        if value[:7].lower() == "bearer " and value[7:].strip():
            return value[7:].strip()
    return None


def token_from(request: Request, params: Mapping[str, Any]) -> str | None:
    token = _sent_token(request, params)
    if token is not None:
        return token
    cookie = request.cookies.get(COOKIE) or None
    if cookie is not None and request.method not in ("GET", "HEAD"):
        require_same_origin(request)
    return cookie


def check_change(request: Request, params: Mapping[str, Any]) -> None:
    """Call before a request changes something (submits, cancels, deletes, generates).
    ArcGIS takes most operations by GET too, and a GET with the sign-in cookie can come from
    a link or an image on another port or subdomain of this host (the same site), so a change
    made with the cookie must come from this origin whatever its method.  A token sent in
    the request itself (what ArcGIS clients do) is the caller's own intent: not checked."""
    if _sent_token(request, params) is None and request.cookies.get(COOKIE):
        require_same_origin(request)


def require_same_origin(request: Request) -> None:
    """A browser sends the cookie with any request from the same *site* (another port or
    subdomain too), and with a link opened from outside any page (a mail, a chat), so a change
    made with it must come from this very origin's pages.  Browsers say where a request comes
    from: ``Sec-Fetch-Site`` (only ``same-origin`` passes; ``none`` is such a link), else
    ``Origin``, else, for a GET (which never carries ``Origin``), the ``Referer``, and a GET
    with none of them is refused.  Other methods with neither header come from programs, not
    from browsers riding a session."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        same = fetch_site == "same-origin"
    else:
        origin = request.headers.get("origin")
        if origin is None and request.method in ("GET", "HEAD"):
            referer = urlsplit(request.headers.get("referer") or "")
            origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
        same = origin is None or origin.rstrip("/") == str(request.base_url).rstrip("/")
    if not same:
        raise Forbidden("Cross-origin request refused.",
                        ["A change made with the sign-in cookie must come from this server's own pages."])


def has_token(scope: dict) -> bool:
    """Cheap check on a raw ASGI scope: does the request carry a token anywhere but its body?"""
    if b"token=" in scope.get("query_string", b""):
        return True
    for name, value in scope["headers"]:
        if name in (b"x-esri-authorization", b"authorization") or (name == b"cookie" and _COOKIE in value):
            return True
    return False


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def caller(request: Request, params: Mapping[str, Any], issuer: TokenIssuer) -> Claims | None:
    """The verified claims of the request's token; None when it has none."""
    token = token_from(request, params)
    if token is None:
        return None
    try:
        return issuer.verify(token, referer=request.headers.get("referer"), ip=client_ip(request))
    except TokenError as exc:
        log.info("refused a token from %s: %s", client_ip(request), exc)   # the reason, never the token
        raise InvalidToken("Invalid Token", ["The token is invalid, expired or was revoked."]) from None




def admin_caller(request: Request, params: Mapping[str, Any]) -> Claims:
    """The caller, who must hold an admin scope (administrator, or publisher for their own
    services): the admin API and its console."""
    claims = caller(request, params, request.app.state.auth)
    if claims is None:
        raise TokenRequired("Unauthorized access. Token not found. You can generate a token using the "
                            "'generateToken' operation.")
    if not any(s in claims.scopes for s in ADMIN_SCOPES):
        raise Forbidden(f"User '{claims.user.name}' is not authorized to administer services.")
    return claims


def is_administrator(claims: Claims) -> bool:
    return Scope.SERVICES_ADMIN in claims.scopes


async def issue_token(request: Request, params: Mapping[str, str], *, admin: bool = False) -> dict[str, Any]:
    """Check the credentials (``auth.login``) and make a token bound as ``client`` asks
    (ArcGIS's ``generateToken`` fields); OpenGPError says why not."""
    if (request.method == "GET" and params.get("password")) or "password" in request.query_params:
        raise NotAllowed("Unable to generate token.",
                         ["Send the password in a POST body: a URL would leave it in logs and histories."])
    state = request.app.state
    username, ip = params.get("username", ""), client_ip(request)
    user = await check_password(state.auth.users, state.logins, username, params.get("password", ""), ip,
                                admin=admin)
    client = params.get("client") or "requestip"
    try:
        bound = binding(client, params.get("referer") or request.headers.get("referer"),
                        params.get("ip") if client == "ip" else ip)
        minutes = float(params["expiration"]) if params.get("expiration") else state.settings.token_minutes
        if not math.isfinite(minutes) or minutes <= 0:
            raise ValueError("expiration must be a positive number of minutes")
    except ValueError as exc:
        raise InvalidInput("Unable to generate token.", [str(exc)]) from None
    token, expires = state.auth.issue(user, bound, minutes)
    state.logins.succeeded(username, ip)
    log.info("%stoken issued to %s from %s (client=%s, until %d)", "admin " if admin else "", user.name, ip,
             client, expires)
    return {"token": token, "expires": int(expires * 1000), "ssl": request.url.scheme == "https"}
