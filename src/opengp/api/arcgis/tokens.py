"""``/arcgis/tokens/generateToken`` (and the admin API's ``/arcgis/admin/generateToken``):
username and password for a token, as ArcGIS Server does."""
from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...auth import Scope, hash_password, scopes_for, verify_password
from ...auth.tokens import binding
from ...core import Forbidden, InvalidInput, NotAllowed, OpenGPError, TooManyAttempts, is_username
from ..auth import client_ip
from .errors import CODES
from .routes import read_params, respond

log = logging.getLogger("opengp.auth")
_FAILED = InvalidInput("Unable to generate token.", ["Invalid username or password."])
_DUMMY_HASH = hash_password("not a password of anyone")   # unknown users cost the same time


async def generate_token(request: Request) -> Response:
    """The services token endpoint (errors in the REST error body)."""
    params = await read_params(request)
    body = await issue_token(request, params)
    return respond(body, params)


async def admin_generate_token(request: Request) -> Response:
    """The admin API's own token endpoint: administrators and publishers only, admin error shape."""
    params = await read_params(request)
    try:
        body = await issue_token(request, params, admin=True)
    except OpenGPError as exc:
        code = next(c for cls, c in CODES if isinstance(exc, cls))
        return respond({"status": "error", "messages": [exc.message, *exc.details], "code": code}, params)
    return respond(body, params)


async def issue_token(request: Request, params: dict[str, str], *, admin: bool = False) -> dict[str, Any]:
    """Check the credentials and make a token; OpenGPError says why not."""
    if (request.method == "GET" and params.get("password")) or "password" in request.query_params:
        raise NotAllowed("Unable to generate token.",
                         ["Send the password in a POST body: a URL would leave it in logs and histories."])
    state = request.app.state
    username, password = params.get("username", ""), params.get("password", "")
    ip = client_ip(request)
    wait = state.logins.wait_time(username, ip)
    if wait > 0:
        log.warning("login throttled for user %r from %s", username, ip)
        raise TooManyAttempts("Unable to generate token.",
                              [f"Too many failed attempts; try again in {math.ceil(wait)} seconds."])
    # Counted as failed before the first await, so concurrent guesses cannot all slip past the
    # check above; a success takes it back.
    state.logins.failed(username, ip)
    # a name no user can have (control characters...) is refused like a wrong password, unlooked-up
    user = await asyncio.to_thread(state.auth.users.get, username) if is_username(username) else None
    # argon2 takes tens of milliseconds: off the event loop, and for unknown users too
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        log.warning("failed login for user %r from %s", username, ip)
        raise _FAILED
    if admin and not scopes_for(user.roles) & {Scope.SERVICES_ADMIN, Scope.SERVICES_ADMIN_OWN}:
        log.warning("admin login refused for %s from %s: not an administrator or publisher", user.name, ip)
        raise Forbidden("Unable to generate token.", [f"User '{user.name}' may not administer this server."])
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
