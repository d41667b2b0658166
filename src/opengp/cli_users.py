"""``opengp users``: add, list, change and remove the server's users.

They work on the same store as ``opengp serve`` (same ``--config`` and
``--data-dir``), even while the server runs.  Passwords come from
``OPENGP_PASSWORD`` or a prompt, never from the command line.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.table import Table

from .auth.passwords import check_password, hash_password
from .config import load_settings
from .core import Conflict, User, check_roles, check_username
from .system.files import private_data_dir
from .store import Store, open_store
from .store.users import UserStore, open_user_store

users_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Manage users and their roles.")
console = Console(stderr=True)
log = logging.getLogger("opengp.auth")


@users_app.callback()
def _log_to_stderr() -> None:
    """Security changes are logged (timestamped, on stderr) like the server's own."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
ConfigOpt = typer.Option(None, "--config", "-c", help="TOML configuration file (as for serve).")
DataDirOpt = typer.Option(None, "--data-dir", help="Where the job store lives (as for serve).")
RoleOpt = typer.Option(..., "--role", "-r", help="administrator, publisher or user (repeatable).")


@contextmanager
def job_store(config: Optional[Path], data_dir: Optional[Path]) -> Iterator[Store]:
    """The store ``opengp serve`` would open with the same options (also while it runs)."""
    if config is None and Path("opengp.toml").exists():
        config = Path("opengp.toml")
    try:
        settings = load_settings(config, data_dir=data_dir)
        private_data_dir(settings.data_dir)
        store = open_store(settings.store_url)
    except Exception as exc:
        _fail(f"Cannot open the store: {exc}")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _users(config: Optional[Path], data_dir: Optional[Path]) -> Iterator[UserStore]:
    with job_store(config, data_dir) as store:
        yield open_user_store(store)


def _fail(text: str) -> None:
    console.print(f"[red]{text}[/]")
    raise typer.Exit(2)


def _password(name: str) -> str:
    """From OPENGP_PASSWORD, or asked twice on the terminal."""
    password = os.environ.get("OPENGP_PASSWORD")
    if password is None:
        password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    try:
        return check_password(password)
    except ValueError as exc:
        _fail(str(exc))
        raise


def _checked(fn, *args):   # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except ValueError as exc:
        _fail(str(exc))


@users_app.command("add")
def add(name: str, role: list[str] = RoleOpt, config: Optional[Path] = ConfigOpt,
        data_dir: Optional[Path] = DataDirOpt) -> None:
    """Add a user with one or more roles."""
    name, roles = _checked(check_username, name), _checked(check_roles, role)
    password = _password(name)
    with _users(config, data_dir) as users:
        try:
            users.add(User(name, roles, hash_password(password)))
        except Conflict as exc:
            _fail(str(exc))
    log.info("user %s added (%s)", name, ", ".join(roles))
    console.print(f"added [bold]{name}[/] ({', '.join(roles)})")


@users_app.command("list")
def list_(config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """List users and their roles."""
    with _users(config, data_dir) as users:
        everyone = users.list()
    table = Table("name", "roles")
    for user in everyone:
        table.add_row(user.name, ", ".join(user.roles))
    Console().print(table)


@users_app.command("passwd")
def passwd(name: str, config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Set a new password; every token the user holds stops working."""
    with _users(config, data_dir) as users:
        user = _existing(users, name)
        users.update(name, password_hash=hash_password(_password(name)), token_epoch=user.token_epoch + 1)
    log.info("password of %s changed; their tokens are revoked", name)
    console.print(f"password of [bold]{name}[/] changed; their tokens are revoked")


@users_app.command("roles")
def roles(name: str, role: list[str] = RoleOpt, config: Optional[Path] = ConfigOpt,
          data_dir: Optional[Path] = DataDirOpt) -> None:
    """Replace a user's roles."""
    new_roles = _checked(check_roles, role)
    with _users(config, data_dir) as users:
        user = _existing(users, name)
        _keep_an_admin(users, user, new_roles)
        users.update(name, roles=new_roles)
    console.print(f"[bold]{name}[/] is now {', '.join(new_roles)}")


@users_app.command("revoke")
def revoke(name: str, config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Revoke every token the user holds (servers notice within a second)."""
    with _users(config, data_dir) as users:
        user = _existing(users, name)
        users.update(name, token_epoch=user.token_epoch + 1)
    log.info("all tokens of %s revoked", name)
    console.print(f"every token of [bold]{name}[/] is revoked")


@users_app.command("remove")
def remove(name: str, config: Optional[Path] = ConfigOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Remove a user; their tokens stop working at once."""
    with _users(config, data_dir) as users:
        user = _existing(users, name)
        _keep_an_admin(users, user, ())
        users.remove(name)
    log.info("user %s removed; their tokens are revoked", name)
    console.print(f"removed [bold]{name}[/]")


def _existing(users: UserStore, name: str) -> User:
    user = users.get(name)
    if user is None:
        _fail(f"No user '{name}'.")
    return user   # type: ignore[return-value]


def _keep_an_admin(users: UserStore, user: User, new_roles: tuple[str, ...]) -> None:
    """Refuse to leave the server without an administrator."""
    if user.is_admin and "administrator" not in new_roles:
        if not any(u.is_admin for u in users.list() if u.name != user.name):
            _fail(f"'{user.name}' is the last administrator; add another one first.")
