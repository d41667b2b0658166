"""Users and revoked tokens: the UserStore protocol, its in-memory fake and SQL backend.

They live in the same database as the jobs (one file for SQLite, one
database for PostgreSQL), so every API server of a deployment sees the same
users and the same revocations.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from ..core import Conflict, User, check_username
from .engine import run
from .tables import revoked_tokens, users


class UserStore(Protocol):
    def add(self, user: User) -> None:
        """Insert a new user; Conflict if the name is taken, ValueError if it is no user name."""

    def get(self, name: str) -> User | None: ...

    def list(self) -> list[User]:
        """Every user, by name."""

    def update(self, name: str, **changes: Any) -> User | None:
        """Change ``roles``, ``password_hash`` or ``token_epoch``; None if there is no such user."""

    def remove(self, name: str) -> bool: ...

    def revoke_token(self, token_id: str, expires: float) -> None:
        """Remember a single revoked token until it would have expired anyway."""

    def is_revoked(self, token_id: str) -> bool: ...

    def purge_revoked(self, now: float) -> int:
        """Forget revocations of tokens that have expired; returns how many."""


class MemoryUserStore:
    """The fake, for unit tests (``memory:`` store URL)."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, user: User) -> None:
        check_username(user.name)
        with self._lock:
            if user.name in self._users:
                raise Conflict(f"User '{user.name}' already exists.")
            self._users[user.name] = user

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def list(self) -> list[User]:
        return [self._users[n] for n in sorted(self._users)]

    def update(self, name: str, **changes: Any) -> User | None:
        with self._lock:
            user = self._users.get(name)
            if user is None:
                return None
            user = self._users[name] = user.evolve(updated=time.time(), **changes)
            return user

    def remove(self, name: str) -> bool:
        with self._lock:
            return self._users.pop(name, None) is not None

    def revoke_token(self, token_id: str, expires: float) -> None:
        self._revoked[token_id] = expires

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked

    def purge_revoked(self, now: float) -> int:
        with self._lock:
            gone = [t for t, exp in self._revoked.items() if exp <= now]
            for t in gone:
                del self._revoked[t]
            return len(gone)


def _to_row(user: User) -> dict[str, Any]:
    return {"name": user.name, "roles": ",".join(user.roles), "password_hash": user.password_hash,
            "token_epoch": user.token_epoch, "created": user.created, "updated": user.updated}


def _from_row(row: Row) -> User:
    m = row._mapping
    return User(name=m["name"], roles=tuple(r for r in m["roles"].split(",") if r),
                password_hash=m["password_hash"], token_epoch=m["token_epoch"],
                created=m["created"], updated=m["updated"])


class SqlUserStore:
    """Users over the job store's engine (migrations already applied by SqlStore)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _run(self, fn: Any, write: bool = False) -> Any:
        return run(self.engine, fn, write=write, what="user")

    def add(self, user: User) -> None:
        check_username(user.name)       # whoever adds a user (the CLI, the first administrator)
        try:
            self._run(lambda c: c.execute(insert(users), _to_row(user)), write=True)
        except IntegrityError:
            raise Conflict(f"User '{user.name}' already exists.") from None

    def get(self, name: str) -> User | None:
        if "\x00" in name:     # no user has one (check_username), and PostgreSQL cannot compare it
            return None
        row = self._run(lambda c: c.execute(select(users).where(users.c.name == name)).first())
        return None if row is None else _from_row(row)

    def list(self) -> list[User]:
        return self._run(lambda c: [_from_row(r) for r in c.execute(select(users).order_by(users.c.name))])

    def update(self, name: str, **changes: Any) -> User | None:
        values: dict[str, Any] = {"updated": time.time()}
        for key, value in changes.items():
            if key not in ("roles", "password_hash", "token_epoch"):
                raise TypeError(f"cannot change {key!r} of a user")
            values[key] = ",".join(value) if key == "roles" else value

        def run(c: Any) -> User | None:
            if c.execute(update(users).where(users.c.name == name).values(**values)).rowcount != 1:
                return None
            return _from_row(c.execute(select(users).where(users.c.name == name)).one())

        return self._run(run, write=True)

    def remove(self, name: str) -> bool:
        return self._run(lambda c: c.execute(delete(users).where(users.c.name == name)).rowcount == 1,
                         write=True)

    def revoke_token(self, token_id: str, expires: float) -> None:
        def run(c: Any) -> None:
            if c.execute(select(revoked_tokens.c.token_id).where(revoked_tokens.c.token_id == token_id)).first():
                return
            c.execute(insert(revoked_tokens), {"token_id": token_id, "expires": expires})

        self._run(run, write=True)

    def is_revoked(self, token_id: str) -> bool:
        stmt = select(revoked_tokens.c.token_id).where(revoked_tokens.c.token_id == token_id)
        return self._run(lambda c: c.execute(stmt).first() is not None)

    def purge_revoked(self, now: float) -> int:
        return self._run(lambda c: c.execute(delete(revoked_tokens).where(revoked_tokens.c.expires <= now)).rowcount,
                         write=True)


def open_user_store(job_store: Any) -> UserStore:
    """The user store beside a job store: SQL on its engine, or the fake beside the fake."""
    engine = getattr(job_store, "engine", None)
    return SqlUserStore(engine) if engine is not None else MemoryUserStore()
