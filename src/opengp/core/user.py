"""The user record: who may do what is decided from its roles (see ``opengp.auth``)."""
from __future__ import annotations

import dataclasses
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

ROLES = ("administrator", "publisher", "user")
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")     # ASCII only: no control character, no look-alike
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def is_username(name: object) -> bool:
    """1-64 letters, digits and ``_ . @ -``: the whole of it (``$`` in a ``match`` would let a
    trailing newline through: ``alice\n`` beside ``alice``, and log lines split in two)."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def folded_username(name: str) -> str:
    """``name`` as user names are compared regardless of case (ArcGIS's are case-insensitive):
    its ASCII letters lowered, as SQL ``lower()`` lowers a user name (ASCII, ``is_username``) on
    SQLite and PostgreSQL alike; any other character is left as it is."""
    return name.translate(_ASCII_LOWER)


def check_username(name: str) -> str:
    """A user name (``is_username``): it appears in URLs and logs."""
    if not is_username(name):
        raise ValueError(f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
    return name


def check_roles(roles: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    if not roles:
        raise ValueError("a user needs at least one role")
    return tuple(r for r in ROLES if r in roles)      # canonical order, no duplicates


@dataclass(frozen=True, slots=True)
class User:
    """A user.  ``token_epoch`` grows when every token issued so far must stop working
    (password change, revocation)."""

    name: str
    roles: tuple[str, ...]
    password_hash: str
    # random start: a user removed and added again under the same name gets none of the old tokens back
    token_epoch: int = dataclasses.field(default_factory=lambda: secrets.randbelow(2**30))
    created: float = dataclasses.field(default_factory=time.time)
    updated: float = dataclasses.field(default_factory=time.time)

    def evolve(self, **changes: Any) -> User:
        return dataclasses.replace(self, **changes)

    @property
    def is_admin(self) -> bool:
        return "administrator" in self.roles
