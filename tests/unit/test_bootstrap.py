"""The first administrator is made from the environment, a prompt, or (demo) generated."""
from __future__ import annotations

import pytest

from opengp.auth import hash_password, verify_password
from opengp.auth.bootstrap import NoAdministrator, ensure_admin
from opengp.core import User
from opengp.store.users import MemoryUserStore


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("OPENGP_ADMIN_PASSWORD", raising=False)


def test_refuses_without_a_password_from_anyone(tmp_path):
    with pytest.raises(NoAdministrator, match="OPENGP_ADMIN_PASSWORD"):
        ensure_admin(MemoryUserStore(), tmp_path, demo=False)


def test_takes_the_password_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENGP_ADMIN_PASSWORD", "from the environment")
    users = MemoryUserStore()
    assert ensure_admin(users, tmp_path, demo=False).created
    admin = users.get("admin")
    assert admin.roles == ("administrator",) and verify_password(admin.password_hash, "from the environment")


def test_an_existing_administrator_is_left_alone(tmp_path, monkeypatch):
    users = MemoryUserStore()
    users.add(User("root", ("administrator",), hash_password("root password")))
    monkeypatch.setenv("OPENGP_ADMIN_PASSWORD", "ignored password")
    assert not ensure_admin(users, tmp_path, demo=False).created
    assert users.get("admin") is None


def test_an_admin_user_without_the_role_is_promoted_with_the_new_password(tmp_path, monkeypatch):
    users = MemoryUserStore()
    users.add(User("admin", ("user",), hash_password("old password")))
    before = users.get("admin").token_epoch
    monkeypatch.setenv("OPENGP_ADMIN_PASSWORD", "new admin password")
    ensure_admin(users, tmp_path, demo=False)
    admin = users.get("admin")
    assert admin.is_admin and verify_password(admin.password_hash, "new admin password")
    assert admin.token_epoch == before + 1


def test_the_demo_generates_and_keeps_its_password(tmp_path):
    users = MemoryUserStore()
    first = ensure_admin(users, tmp_path, demo=True)
    password = first.demo_password_file.read_text().strip()
    assert len(password) >= 12 and verify_password(users.get("admin").password_hash, password)
    again = ensure_admin(users, tmp_path, demo=True)
    assert not again.created and again.demo_password_file.read_text().strip() == password


def test_an_administrator_made_meanwhile_is_found_not_replaced(tmp_path, monkeypatch):
    """Another process (``opengp users add``, a server not holding the lock) made 'admin'
    between the check and the insert: that one stays, and this start goes on."""
    monkeypatch.setenv("OPENGP_ADMIN_PASSWORD", "this server's password")
    users = MemoryUserStore()

    class Racing:
        def __getattr__(self, name):
            return getattr(users, name)

        def add(self, user):
            users.add(User("admin", ("administrator",), hash_password("the other one's password")))
            users.add(user)

    assert not ensure_admin(Racing(), tmp_path, demo=False).created
    assert verify_password(users.get("admin").password_hash, "the other one's password")


def test_the_administrator_is_made_under_the_lock_and_a_prompt_comes_before_it(tmp_path, monkeypatch):
    from contextlib import contextmanager

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    events: list[str] = []

    @contextmanager
    def lock():
        events.append("locked")
        yield
        events.append("unlocked")

    def prompt() -> str:
        events.append("prompted")
        return "typed at the terminal"

    users = MemoryUserStore()
    assert ensure_admin(users, tmp_path, demo=False, prompt=prompt, lock=lock()).created
    assert events == ["prompted", "locked", "unlocked"]
    assert verify_password(users.get("admin").password_hash, "typed at the terminal")


def test_a_secret_key_file_being_written_by_another_server_is_waited_for(tmp_path):
    """Servers starting together: one has created secret.key and not yet written it."""
    import threading

    from opengp.auth.secret import SECRET_FILE, load_secret

    (tmp_path / SECRET_FILE).touch()
    threading.Timer(0.2, lambda: (tmp_path / SECRET_FILE).write_text("b" * 64)).start()
    assert load_secret(None, tmp_path) == b"b" * 64
