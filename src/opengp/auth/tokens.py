"""ArcGIS-style tokens: signed, expiring, bound to a client, revocable.

A token is ``<payload>.<signature>`` (both base64url): the payload names the
user, the user's ``token_epoch`` when it was issued, the expiry, the client
binding (``referer:<r>``, ``ip:<a>`` or none) and a random id; the signature
is HMAC-SHA256 with the server's secret.  Verifying needs no token table:
changing a password or revoking all of a user's tokens bumps the epoch, and
single revocations are kept (until expiry) in ``revoked_tokens``.  User
records and revocations are cached for ``CACHE_SECONDS``, so every API
server of a deployment honours a revocation within that time.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import orjson

from ..core import User
from ..store.users import UserStore
from .scopes import Scope, scopes_for

CACHE_SECONDS = 1.0


class TokenError(Exception):
    """The token is malformed, forged, expired, revoked or used by the wrong client."""


@dataclass(frozen=True)
class Claims:
    """A verified token: who it speaks for and what they may do."""

    user: User
    scopes: frozenset[Scope]
    token_id: str
    expires: float          # epoch seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def binding(client: str, referer: str | None, ip: str | None) -> str:
    """What a token is bound to, from generateToken's ``client`` parameter.

    ``referer`` binds to the Referer the client will send, ``ip`` to a given
    address, ``requestip`` to the address the request came from.
    """
    if client == "referer":
        if not referer:
            raise ValueError("client=referer needs a referer")
        return f"referer:{referer}"
    if client in ("ip", "requestip"):
        if not ip:
            raise ValueError(f"client={client} needs an IP address")
        return f"ip:{ip}"
    raise ValueError(f"client must be referer, ip or requestip, not {client!r}")


class TokenIssuer:
    """Issues and verifies tokens with one secret over one user store."""

    def __init__(self, secret: bytes, users: UserStore, *, max_minutes: int = 1440) -> None:
        if len(secret) < 32:
            raise ValueError("the token secret needs at least 32 bytes")
        self._secret, self.users, self.max_minutes = secret, users, max_minutes
        self._lock = threading.Lock()
        self._user_cache: dict[str, tuple[float, User | None]] = {}
        self._revoked_cache: dict[str, tuple[float, bool]] = {}

    def issue(self, user: User, bound_to: str, minutes: float | None = None) -> tuple[str, float]:
        """A new token for ``user``; returns it and its expiry (epoch seconds).

        ``minutes`` is capped by ``max_minutes`` (the default when not given).
        """
        minutes = self.max_minutes if minutes is None else max(1.0, min(float(minutes), self.max_minutes))
        expires = time.time() + minutes * 60
        payload = _b64(orjson.dumps({"u": user.name, "e": user.token_epoch, "x": round(expires, 3),
                                     "c": bound_to, "i": secrets.token_hex(12)}))
        return f"{payload}.{self._sign(payload)}", expires

    def verify(self, token: str, *, referer: str | None = None, ip: str | None = None) -> Claims:
        """The token's claims, or TokenError saying (to the log, not the client) why not."""
        name, epoch, expires, bound, token_id = self._signed(token)
        if expires <= time.time():
            raise TokenError("expired")
        if bound.startswith("referer:") and bound != f"referer:{referer or ''}":
            raise TokenError("used with another referer")
        if bound.startswith("ip:") and bound != f"ip:{ip or ''}":
            raise TokenError("used from another address")
        user = self._user(name)
        if user is None:
            raise TokenError("user removed")
        if user.token_epoch != epoch:
            raise TokenError("revoked (password changed or all tokens revoked)")
        if self._revoked(token_id):
            raise TokenError("revoked")
        return Claims(user, scopes_for(user.roles), token_id, expires)

    def _signed(self, token: str) -> tuple[str, int, float, str, str]:
        """``(user name, epoch, expires, bound to, token id)`` of a token this issuer signed."""
        payload, _, signature = (token or "").strip().partition(".")
        expected = self._sign(payload).encode()
        # bytes: compare_digest refuses non-ASCII str, and a token is whatever a client sent
        if not payload or not signature or not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
            raise TokenError("bad signature")
        try:
            data = orjson.loads(_unb64(payload))
            return data["u"], data["e"], data["x"], data["c"], data["i"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError(f"malformed payload: {exc}") from None

    def revoke_signed(self, token: str) -> str | None:
        """Sign-out: revoke a token this issuer signed, wherever it is used from now (its
        binding is not checked: the address it was bound to may have changed since sign-in).
        Returns its user's name; None when there is nothing to revoke (forged or expired)."""
        try:
            name, _, expires, _, token_id = self._signed(token)
        except TokenError:
            return None
        if expires <= time.time():
            return None
        self.users.revoke_token(token_id, expires)
        with self._lock:
            self._revoked_cache[token_id] = (time.monotonic(), True)
        return name

    def seal(self, purpose: str, data: dict, seconds: float) -> str:
        """A signed note that expires, for a client to hand back unchanged (the ``oauth_state`` of
        an OAuth sign-in), so the server keeps nothing between the two requests.  ``purpose`` is
        signed with it: a note is never accepted as a token, nor as a note of another purpose."""
        payload = _b64(orjson.dumps({**data, "_x": round(time.time() + seconds, 3)}))
        return f"{payload}.{self._sign(f'{purpose}:{payload}')}"

    def unseal(self, purpose: str, note: str) -> dict:
        """The data of a note ``seal`` made for ``purpose``; TokenError if forged or expired."""
        payload, _, signature = (note or "").strip().partition(".")
        expected = self._sign(f"{purpose}:{payload}").encode()
        if not payload or not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
            raise TokenError("bad signature")
        data = orjson.loads(_unb64(payload))
        if data.pop("_x") <= time.time():
            raise TokenError("expired")
        return data

    def forget(self, name: str) -> None:
        """Drop a cached user (this process changed it)."""
        with self._lock:
            self._user_cache.pop(name, None)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("utf-8", "replace"), hashlib.sha256).digest()[:20])

    def _user(self, name: str) -> User | None:
        now = time.monotonic()
        hit = self._user_cache.get(name)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        user = self.users.get(name)
        with self._lock:
            self._user_cache[name] = (now, user)
        return user

    def _revoked(self, token_id: str) -> bool:
        now = time.monotonic()
        hit = self._revoked_cache.get(token_id)
        if hit is not None and (hit[1] or now - hit[0] < CACHE_SECONDS):
            return hit[1]
        revoked = self.users.is_revoked(token_id)
        with self._lock:
            if len(self._revoked_cache) > 100_000:
                self._revoked_cache.clear()
            self._revoked_cache[token_id] = (now, revoked)
        return revoked
