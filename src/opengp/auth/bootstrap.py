"""The first administrator: never a default password.

On start, a store without an administrator gets the user ``admin`` with the
password from ``OPENGP_ADMIN_PASSWORD``, or one typed at the terminal.  The
demo (``--demo``) instead generates one and keeps it in
``<data_dir>/demo-admin-password`` (owner-only), so ``make demo`` always says
how to log in.  Without any of these the server refuses to start.

Several servers may start at once on an empty database (``opengp serve --processes N``,
or a deployment's API servers): the administrator is made under a lock the store
provides, so exactly one server makes it and the others find it.
"""
from __future__ import annotations

import os
import secrets
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..core import Conflict, User
from ..store.users import UserStore
from .passwords import check_password, hash_password

ADMIN = "admin"
DEMO_PASSWORD_FILE = "demo-admin-password"


class NoAdministrator(RuntimeError):
    """The store has no administrator and none can be made without a person."""


@dataclass(frozen=True)
class Bootstrap:
    created: bool                     # an administrator was made just now
    demo_password_file: Path | None   # where the demo's generated password is


def ensure_admin(users: UserStore, data_dir: Path, *, demo: bool,
                 prompt: Callable[[], str] | None = None,
                 lock: AbstractContextManager[Any] | None = None) -> Bootstrap:
    """Make sure an administrator exists (see the module docstring).

    ``lock``: held while the administrator is made (``store.lock("bootstrap")``), so servers
    starting together on an empty database make one, and the others find it.  A person is
    asked for the password before the lock is taken, so a prompt never holds up other servers.
    """
    demo_file = Path(data_dir) / DEMO_PASSWORD_FILE
    if _has_admin(users):
        return Bootstrap(False, demo_file if demo and demo_file.exists() else None)
    password = os.environ.get("OPENGP_ADMIN_PASSWORD")
    if password is None and not demo and prompt is not None and sys.stdin.isatty():
        password = prompt()
    if password is None and not demo:
        raise NoAdministrator(
            "this server has no administrator yet: set OPENGP_ADMIN_PASSWORD for the user "
            f"'{ADMIN}', or run `opengp users add NAME --role administrator` first")
    with lock if lock is not None else nullcontext():
        if _has_admin(users):       # another server made it while we waited
            return Bootstrap(False, demo_file if demo and demo_file.exists() else None)
        if password is None:        # the demo: written only by the server that makes the user
            password = secrets.token_urlsafe(12)
            _write_private(demo_file, password)
        existing = users.get(ADMIN)
        if existing is not None:    # an 'admin' without the role: give it the role and the new password
            users.update(ADMIN, roles=("administrator", *existing.roles), password_hash=hash_password(password),
                         token_epoch=existing.token_epoch + 1)
        else:
            try:
                users.add(User(ADMIN, ("administrator",), hash_password(check_password(password))))
            except Conflict:        # made meanwhile by someone not holding the lock (`opengp users add`)
                if not _has_admin(users):
                    raise
                return Bootstrap(False, demo_file if demo and demo_file.exists() else None)
    return Bootstrap(True, demo_file if demo and demo_file.exists() else None)


def _has_admin(users: UserStore) -> bool:
    return any(u.is_admin for u in users.list())


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
