"""``/arcgis/tokens/generateToken``: username and password for a token, as ArcGIS Server does."""
from __future__ import annotations

import asyncio
import logging
import math

from starlette.requests import Request
from starlette.responses import Response

from ...auth import hash_password, verify_password
from ...auth.tokens import binding
from ...core import InvalidInput, NotAllowed, TooManyAttempts
from ..auth import client_ip
from .routes import read_params, respond

log = logging.getLogger("opengp.auth")
_FAILED = InvalidInput("Unable to generate token.", ["Invalid username or password."])
_DUMMY_HASH = hash_password("not a password of anyone")   # unknown users cost the same time


async def generate_token(request: Request) -> Response:
    params = await read_params(request)
    if request.method == "GET" and params.get("password"):
        raise NotAllowed("Unable to generate token.",
                         ["Send the password with POST: a URL would leave it in logs and histories."])
    state = request.app.state
    username, password = params.get("username", ""), params.get("password", "")
    ip = client_ip(request)
    wait = max(state.throttle_users.wait_time(username), state.throttle_addresses.wait_time(ip))
    if wait > 0:
        log.warning("login throttled for user %r from %s", username, ip)
        raise TooManyAttempts("Unable to generate token.",
                              [f"Too many failed attempts; try again in {math.ceil(wait)} seconds."])
    user = await asyncio.to_thread(state.auth.users.get, username) if username else None
    # argon2 takes tens of milliseconds: off the event loop, and for unknown users too
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        state.throttle_users.failed(username)
        state.throttle_addresses.failed(ip)
        log.warning("failed login for user %r from %s", username, ip)
        raise _FAILED
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
    state.throttle_users.succeeded(username)
    log.info("token issued to %s from %s (client=%s, until %d)", user.name, ip, client, expires)
    return respond({"token": token, "expires": int(expires * 1000), "ssl": request.url.scheme == "https"}, params)
