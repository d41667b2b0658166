"""The first administrator: never a default password.

On start, a store without an administrator gets the user ``admin`` with the
password from ``OPENGP_ADMIN_PASSWORD``, or one typed at the terminal.  The
demo (``--demo``) instead generates one and keeps it in
``<data_dir>/demo-admin-password`` (owner-only), so ``make demo`` always says
how to log in.  Without any of these the server refuses to start.
"""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core import User
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
                 prompt: Callable[[], str] | None = None) -> Bootstrap:
    """Make sure an administrator exists (see the module docstring)."""
    demo_file = Path(data_dir) / DEMO_PASSWORD_FILE
    if any(u.is_admin for u in users.list()):
        return Bootstrap(False, demo_file if demo and demo_file.exists() else None)
    password = os.environ.get("OPENGP_ADMIN_PASSWORD")
    if password is None and demo:
        password = secrets.token_urlsafe(12)
        _write_private(demo_file, password)
    elif password is None and prompt is not None and sys.stdin.isatty():
        password = prompt()
    if password is None:
        raise NoAdministrator(
            "this server has no administrator yet: set OPENGP_ADMIN_PASSWORD for the user "
            f"'{ADMIN}', or run `opengp users add NAME --role administrator` first")
    existing = users.get(ADMIN)
    if existing is not None:    # an 'admin' without the role: give it the role and the new password
        users.update(ADMIN, roles=("administrator", *existing.roles), password_hash=hash_password(password),
                     token_epoch=existing.token_epoch + 1)
    else:
        users.add(User(ADMIN, ("administrator",), hash_password(check_password(password))))
    return Bootstrap(True, demo_file if demo and demo_file.exists() else None)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
