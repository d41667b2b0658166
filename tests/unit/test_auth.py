"""Passwords, scopes and tokens."""
from __future__ import annotations

import time

import pytest

from opengp.auth import Scope, TokenError, TokenIssuer, hash_password, scopes_for, verify_password
from opengp.auth import tokens as tokens_module
from opengp.auth.tokens import binding
from opengp.core import User, check_roles, check_username
from opengp.store.users import MemoryUserStore

SECRET = b"s" * 32


@pytest.fixture
def issuer(monkeypatch):
    monkeypatch.setattr(tokens_module, "CACHE_SECONDS", 0.0)   # see every change at once
    users = MemoryUserStore()
    users.add(User("alice", ("user",), hash_password("correct horse")))
    users.add(User("root", ("administrator",), hash_password("battery staple")))
    return TokenIssuer(SECRET, users, max_minutes=60)


def test_passwords_are_argon2_and_verified():
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$") and "correct horse" not in h
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "Correct horse")
    assert not verify_password("not a hash", "correct horse")
    with pytest.raises(ValueError, match="at least 8"):
        hash_password("short")


def test_roles_expand_to_scopes():
    assert scopes_for(["user"]) == {Scope.SERVICES_USE, Scope.JOBS_READ_OWN}
    assert Scope.SERVICES_ADMIN_OWN in scopes_for(["publisher"])
    assert Scope.JOBS_READ_ANY not in scopes_for(["publisher", "user"])
    assert scopes_for(["administrator"]) == set(Scope)
    assert check_roles(["user", "administrator", "user"]) == ("administrator", "user")
    with pytest.raises(ValueError, match="unknown role"):
        check_roles(["superuser"])
    with pytest.raises(ValueError, match="invalid user name"):
        check_username("bad name/")


def test_a_token_speaks_for_its_user(issuer):
    token, expires = issuer.issue(issuer.users.get("alice"), binding("requestip", None, "10.0.0.1"), 30)
    assert expires == pytest.approx(time.time() + 1800, abs=5)
    claims = issuer.verify(token, ip="10.0.0.1")
    assert claims.user.name == "alice" and claims.scopes == scopes_for(["user"])


def test_expiration_is_capped_by_the_server_maximum(issuer):
    _, expires = issuer.issue(issuer.users.get("alice"), "", 10_000)
    assert expires == pytest.approx(time.time() + 3600, abs=5)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),     # forged signature
    lambda t: "x" + t,                                                 # tampered payload
    lambda t: t.split(".")[0],                                         # no signature
    lambda t: "",
])
def test_tampered_tokens_are_refused(issuer, mangle):
    token, _ = issuer.issue(issuer.users.get("alice"), "")
    with pytest.raises(TokenError):
        issuer.verify(mangle(token))


def test_a_token_from_another_secret_is_refused(issuer):
    other = TokenIssuer(b"o" * 32, issuer.users)
    token, _ = other.issue(issuer.users.get("alice"), "")
    with pytest.raises(TokenError, match="signature"):
        issuer.verify(token)


def test_expired_tokens_are_refused(issuer, monkeypatch):
    token, _ = issuer.issue(issuer.users.get("alice"), "", 1)
    later = time.time() + 61
    monkeypatch.setattr(tokens_module.time, "time", lambda: later)
    with pytest.raises(TokenError, match="expired"):
        issuer.verify(token)


def test_bindings_are_enforced(issuer):
    by_referer, _ = issuer.issue(issuer.users.get("alice"), binding("referer", "https://app.example", None))
    assert issuer.verify(by_referer, referer="https://app.example").user.name == "alice"
    with pytest.raises(TokenError, match="referer"):
        issuer.verify(by_referer, referer="https://evil.example")
    by_ip, _ = issuer.issue(issuer.users.get("alice"), binding("ip", None, "10.0.0.1"))
    with pytest.raises(TokenError, match="address"):
        issuer.verify(by_ip, ip="10.0.0.2")
    with pytest.raises(ValueError):
        binding("referer", None, None)
    with pytest.raises(ValueError):
        binding("nonsense", "x", "y")


def test_password_change_and_removal_revoke_every_token(issuer):
    alice = issuer.users.get("alice")
    token, _ = issuer.issue(alice, "")
    issuer.users.update("alice", token_epoch=alice.token_epoch + 1)
    with pytest.raises(TokenError, match="revoked"):
        issuer.verify(token)
    fresh, _ = issuer.issue(issuer.users.get("alice"), "")
    issuer.users.remove("alice")
    with pytest.raises(TokenError, match="removed"):
        issuer.verify(fresh)


def test_one_token_can_be_revoked_alone(issuer):
    root = issuer.users.get("root")
    first, _ = issuer.issue(root, "")
    second, _ = issuer.issue(root, "")
    assert issuer.revoke_signed(first) == "root"
    with pytest.raises(TokenError, match="revoked"):
        issuer.verify(first)
    assert issuer.verify(second).user.name == "root"


def test_sign_out_revokes_a_token_bound_to_an_address_the_caller_no_longer_has(issuer):
    token, _ = issuer.issue(issuer.users.get("root"), "ip:10.0.0.1")
    assert issuer.revoke_signed(token) == "root"        # asked from another address
    with pytest.raises(TokenError, match="revoked"):
        issuer.verify(token, ip="10.0.0.1")
    assert issuer.revoke_signed(token[:-2] + "xx") is None      # forged: nothing to revoke


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer(b"short", MemoryUserStore())


@pytest.mark.parametrize("junk", ["0.\x80", "é.é", "\ud800.x", ".", "a" * 10_000 + ".b"])
def test_junk_tokens_are_refused_not_crashed_on(issuer, junk):
    """Found by the HTTP fuzz test: hmac.compare_digest raised TypeError on non-ASCII text."""
    with pytest.raises(TokenError):
        issuer.verify(junk)


def test_a_name_removed_and_added_again_gets_none_of_the_old_tokens(issuer):
    """Found in review: every user started at epoch 0, so old tokens came back to life."""
    old, _ = issuer.issue(issuer.users.get("alice"), "")
    issuer.users.remove("alice")
    issuer.users.add(User("alice", ("administrator",), hash_password("another password")))
    with pytest.raises(TokenError, match="revoked"):
        issuer.verify(old)


def test_a_sealed_note_comes_back_only_unchanged_unexpired_and_for_its_purpose(issuer, monkeypatch):
    note = issuer.seal("oauth-signin", {"redirect_uri": "https://here/app", "state": "s1"}, 60)
    assert issuer.unseal("oauth-signin", note) == {"redirect_uri": "https://here/app", "state": "s1"}
    payload, signature = note.split(".")
    for changed in (f"{payload[:-1]}A.{signature}", f"{payload}.{signature[:-1]}A", "", "junk", "a.b"):
        with pytest.raises(TokenError):
            issuer.unseal("oauth-signin", changed)
    with pytest.raises(TokenError):
        issuer.unseal("another purpose", note)
    with pytest.raises(TokenError):           # a note is never a token
        issuer.verify(note)
    token, _ = issuer.issue(issuer.users.get("alice"), "")
    with pytest.raises(TokenError):           # nor a token a note
        issuer.unseal("oauth-signin", token)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenError, match="expired"):
        issuer.unseal("oauth-signin", note)
