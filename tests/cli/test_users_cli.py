"""``opengp users``: the store it writes is the one the server reads."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opengp.auth import verify_password
from opengp.store.sql import SqlStore
from opengp.system.files import sqlite_url
from opengp.store.users import SqlUserStore


def users_cmd(tmp: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENGP_PASSWORD"}
    if password is not None:
        env["OPENGP_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "opengp", "users", *args, "--data-dir", str(tmp / "data")],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=60)


def stored(tmp: Path):
    store = SqlStore(sqlite_url(tmp / "data"))
    try:
        return {u.name: u for u in SqlUserStore(store.engine).list()}
    finally:
        store.close()


def test_add_list_passwd_roles_remove(tmp_path):
    assert users_cmd(tmp_path, "add", "root", "--role", "administrator", password="battery staple").returncode == 0
    assert users_cmd(tmp_path, "add", "alice", "-r", "user", password="correct horse").returncode == 0
    listed = users_cmd(tmp_path, "list")
    assert "alice" in listed.stdout and "administrator" in listed.stdout
    alice = stored(tmp_path)["alice"]
    assert alice.roles == ("user",) and verify_password(alice.password_hash, "correct horse")

    assert users_cmd(tmp_path, "passwd", "alice", password="new password").returncode == 0
    changed = stored(tmp_path)["alice"]
    assert verify_password(changed.password_hash, "new password")
    assert changed.token_epoch == alice.token_epoch + 1          # old tokens stop working

    assert users_cmd(tmp_path, "roles", "alice", "-r", "publisher", "-r", "user").returncode == 0
    assert stored(tmp_path)["alice"].roles == ("publisher", "user")
    assert users_cmd(tmp_path, "remove", "alice").returncode == 0
    assert set(stored(tmp_path)) == {"root"}


@pytest.mark.parametrize("args,password,problem", [
    (("add", "bob", "-r", "user"), "short", "at least 8"),
    (("add", "bob", "-r", "wizard"), "long enough", "unknown role"),
    (("add", "bad/name", "-r", "user"), "long enough", "invalid user name"),
    (("passwd", "nobody"), "long enough", "No user 'nobody'"),
])
def test_bad_requests_are_refused_with_one_line(tmp_path, args, password, problem):
    done = users_cmd(tmp_path, *args, password=password)
    assert done.returncode == 2
    assert problem in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_the_last_administrator_stays(tmp_path):
    users_cmd(tmp_path, "add", "root", "-r", "administrator", password="battery staple")
    for args in (("remove", "root"), ("roles", "root", "-r", "user")):
        done = users_cmd(tmp_path, *args)
        assert done.returncode == 2 and "last administrator" in done.stderr
    assert stored(tmp_path)["root"].is_admin
    assert users_cmd(tmp_path, "add", "root", "-r", "user", password="battery staple").returncode == 2


def test_passwords_never_appear_in_output_or_the_store(tmp_path):
    done = users_cmd(tmp_path, "add", "carol", "-r", "user", password="very secret words")
    assert "very secret words" not in done.stdout + done.stderr
    assert b"very secret words" not in (tmp_path / "data" / "opengp.db").read_bytes()


def test_revoke_bumps_the_token_epoch(tmp_path):
    users_cmd(tmp_path, "add", "dave", "-r", "user", password="dave password")
    before = stored(tmp_path)["dave"].token_epoch
    done = users_cmd(tmp_path, "revoke", "dave")
    assert done.returncode == 0
    assert stored(tmp_path)["dave"].token_epoch == before + 1
    assert "INFO opengp.auth: all tokens of dave revoked" in done.stderr
    assert users_cmd(tmp_path, "revoke", "nobody").returncode == 2


@pytest.mark.parametrize("name", ["alice\n", "alice\r", "al\tice", "ali\x1bce", "\u0430lice", " alice"])
def test_a_name_with_a_control_or_foreign_character_is_refused(tmp_path, name):
    """``users add $'alice\\n'`` succeeded (the name check's ``$`` let a trailing newline through):
    two "alice" rows, and log lines split in two."""
    assert users_cmd(tmp_path, "add", "alice", "-r", "user", password="correct horse").returncode == 0
    refused = users_cmd(tmp_path, "add", name, "-r", "administrator", password="battery staple")
    assert refused.returncode == 2 and "invalid user name" in refused.stderr, refused.stderr
    assert set(stored(tmp_path)) == {"alice"}


def test_the_store_refuses_such_a_name_whoever_adds_it(tmp_path):
    from opengp.core import User
    from opengp.store.users import MemoryUserStore

    store = SqlStore(sqlite_url(tmp_path))
    try:
        for users in (SqlUserStore(store.engine), MemoryUserStore()):
            for name in ("admin\n", "admin\x00", "ad\x7fmin"):
                with pytest.raises(ValueError):
                    users.add(User(name, ("administrator",), "x"))
            assert users.list() == []
    finally:
        store.close()
