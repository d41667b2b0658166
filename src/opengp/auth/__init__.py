"""Who is asking and what they may do: passwords, roles and scopes, tokens.

One backend turns a request's token into a user and its scopes; faces check
scopes, never roles (see ``scopes.py``).
"""
from __future__ import annotations

from .passwords import hash_password, verify_password
from .scopes import ADMIN_SCOPES, ROLE_SCOPES, Scope, scopes_for
from .tokens import Claims, TokenError, TokenIssuer

__all__ = ["ADMIN_SCOPES", "Claims", "ROLE_SCOPES", "Scope", "TokenError", "TokenIssuer", "hash_password",
           "scopes_for", "verify_password"]
