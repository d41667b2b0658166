"""Roles expand to scopes; code checks scopes.

=====================  ==========================================================
scope                  allows
=====================  ==========================================================
services:use           run the services one is allowed to (public or listed)
jobs:read:own          read and cancel one's own jobs and their files
jobs:read:any          read and cancel anyone's jobs and files
services:admin:own     administer the services one publishes
services:admin         administer every service, and its jobs
users:admin            add, change and remove users; revoke tokens
=====================  ==========================================================
"""
from __future__ import annotations

from enum import Enum


class Scope(str, Enum):
    SERVICES_USE = "services:use"
    JOBS_READ_OWN = "jobs:read:own"
    JOBS_READ_ANY = "jobs:read:any"
    SERVICES_ADMIN_OWN = "services:admin:own"
    SERVICES_ADMIN = "services:admin"
    USERS_ADMIN = "users:admin"


ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    "user": frozenset({Scope.SERVICES_USE, Scope.JOBS_READ_OWN}),
    "publisher": frozenset({Scope.SERVICES_USE, Scope.JOBS_READ_OWN, Scope.SERVICES_ADMIN_OWN}),
    "administrator": frozenset(Scope),
}


# who may open the Administrator API at all (each of its answers then checks what they may do)
ADMIN_SCOPES = frozenset({Scope.SERVICES_ADMIN, Scope.SERVICES_ADMIN_OWN})


def scopes_for(roles: tuple[str, ...] | list[str]) -> frozenset[Scope]:
    """The union of the roles' scopes (unknown roles grant nothing)."""
    out: frozenset[Scope] = frozenset()
    for role in roles:
        out |= ROLE_SCOPES.get(role, frozenset())
    return out
