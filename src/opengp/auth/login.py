"""Signing in: a user name and password checked, throttled, the same way for every face (the
REST and admin token endpoints, the pages' sign-in form)."""
from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from ..core import Forbidden, InvalidInput, TooManyAttempts, User, is_username
from .passwords import hash_password, verify_password
from .scopes import ADMIN_SCOPES, scopes_for
from .throttle import LoginGuard

log = logging.getLogger("opengp.auth")
FAILED = InvalidInput("Unable to generate token.", ["Invalid username or password."])
_DUMMY_HASH = hash_password("not a password of anyone")   # unknown users cost the same time


async def check_password(users: Any, logins: LoginGuard, username: str, password: str, ip: str, *,
                         admin: bool = False) -> User:
    """The user whose password this is; OpenGPError says why not.  ``admin``: only
    administrators and publishers.  The attempt counts as failed until the caller says it
    succeeded (``logins.succeeded``, once its token is made)."""
    wait = logins.wait_time(username, ip)
    if wait > 0:
        log.warning("login throttled for user %r from %s", username, ip)
        raise TooManyAttempts("Unable to generate token.",
                              [f"Too many failed attempts; try again in {math.ceil(wait)} seconds."])
    # Counted as failed before the first await, so concurrent guesses cannot all slip past the
    # check above; a success takes it back.
    logins.failed(username, ip)
    # a name no user can have (control characters...) is refused like a wrong password, unlooked-up
    user = await asyncio.to_thread(users.get, username) if is_username(username) else None
    # argon2 takes tens of milliseconds: off the event loop, and for unknown users too
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        log.warning("failed login for user %r from %s", username, ip)
        raise FAILED
    if admin and not scopes_for(user.roles) & ADMIN_SCOPES:
        log.warning("admin login refused for %s from %s: not an administrator or publisher", user.name, ip)
        raise Forbidden("Unable to generate token.", [f"User '{user.name}' may not administer this server."])
    return user
