"""One contract suite for the user store: memory, SQLite, PostgreSQL."""
from __future__ import annotations

import time

import pytest

from opengp.core import Conflict, User
from opengp.store.sql import SqlStore
from opengp.store.users import MemoryUserStore, SqlUserStore

from conftest import fresh_postgres


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def users(request, tmp_path):
    if request.param == "memory":
        yield MemoryUserStore()
        return
    jobs = SqlStore(f"sqlite:///{tmp_path}/opengp.db" if request.param == "sqlite" else fresh_postgres())
    yield SqlUserStore(jobs.engine)
    jobs.close()


def alice(**kw) -> User:
    return User("alice", ("user",), "hash-a", **{"token_epoch": 0, **kw})


def test_add_get_and_list(users):
    users.add(alice())
    users.add(User("bob", ("publisher", "user"), "hash-b"))
    got = users.get("alice")
    assert (got.name, got.roles, got.password_hash, got.token_epoch) == ("alice", ("user",), "hash-a", 0)
    assert [u.name for u in users.list()] == ["alice", "bob"]
    assert users.get("bob").roles == ("publisher", "user")
    assert users.get("carol") is None


def test_a_name_is_taken_once(users):
    users.add(alice())
    with pytest.raises(Conflict, match="already exists"):
        users.add(alice())


def test_update_changes_only_what_is_asked(users):
    users.add(alice())
    before = users.get("alice")
    after = users.update("alice", password_hash="hash-2", token_epoch=before.token_epoch + 1)
    assert (after.password_hash, after.token_epoch, after.roles) == ("hash-2", 1, ("user",))
    assert after.updated >= before.updated
    assert users.update("alice", roles=("administrator",)).roles == ("administrator",)
    assert users.get("alice").password_hash == "hash-2"
    assert users.update("nobody", token_epoch=3) is None


def test_remove(users):
    users.add(alice())
    assert users.remove("alice") is True
    assert users.remove("alice") is False
    assert users.get("alice") is None


def test_revocations_are_kept_until_expiry(users):
    now = time.time()
    users.revoke_token("t1", now - 1)
    users.revoke_token("t2", now + 3600)
    users.revoke_token("t2", now + 3600)           # twice is fine
    assert users.is_revoked("t1") and users.is_revoked("t2") and not users.is_revoked("t3")
    assert users.purge_revoked(now) == 1
    assert not users.is_revoked("t1") and users.is_revoked("t2")
