"""Who may use a service, and who may see a job.

A service is public (anyone, even without a token), or open to the users and
``role:<role>`` entries of its ``allowed`` list; administrators may use every
service.  A job is seen only by its owner and by holders of ``jobs:read:any``;
a job submitted anonymously (to a public service) is seen by whoever holds
its (unguessable) id.  To everyone else it does not exist.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from ..core import Forbidden, Job, NotFound, TokenRequired
from .scopes import Scope
from .tokens import Claims

FORBIDDEN = "You do not have permissions to access this resource or perform this operation."


class Secured(Protocol):
    public: bool
    allowed: Sequence[str]


def may_use(service: Secured, claims: Claims | None) -> bool:
    if service.public:
        return True
    if claims is None:
        return False
    if Scope.SERVICES_ADMIN in claims.scopes:
        return True
    user = claims.user
    return user.name in service.allowed or any(f"role:{r}" in service.allowed for r in user.roles)


def require_use(service: Secured, claims: Claims | None) -> None:
    """TokenRequired (499) for anonymous callers, Forbidden (403) for the wrong user."""
    if may_use(service, claims):
        return
    if claims is None:
        raise TokenRequired("Token Required")
    raise Forbidden(FORBIDDEN)


def may_see(job: Job, claims: Claims | None) -> bool:
    if job.owner is None:
        return True
    return claims is not None and (claims.user.name == job.owner or Scope.JOBS_READ_ANY in claims.scopes)


def require_see(job: Job, claims: Claims | None) -> None:
    """NotFound, exactly as for a job that does not exist: never confirm someone else's job."""
    if not may_see(job, claims):
        raise NotFound(f"Job '{job.id}' does not exist or is inaccessible.")


def may_administer(owner: str | None, claims: Claims | None) -> bool:
    """Administrators administer every service; publishers the ones they created."""
    if claims is None:
        return False
    if Scope.SERVICES_ADMIN in claims.scopes:
        return True
    return Scope.SERVICES_ADMIN_OWN in claims.scopes and owner is not None and owner == claims.user.name
