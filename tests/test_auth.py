"""People auth: hashing (RFC test vectors), users, logins, tokens, lockout, audit — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from condivisa.auth.hashing import (
    hash_password,
    mosquitto_hash,
    token_sha256,
    verify_mosquitto_hash,
    verify_password,
)
from condivisa.auth.principal import Principal
from condivisa.auth.service import LOCKOUT_WINDOW, MAX_FAILED_LOGINS, AuthError, AuthService
from condivisa.store.auth_tables import Role, create_auth_tables
from condivisa.store.models import Device


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def auth(db_url, clock):
    engine = sa.create_engine(db_url)
    create_auth_tables(engine)
    yield AuthService(engine, clock=clock)
    engine.dispose()


# ------------------------------------------------------------------ hashing (no database)
def test_scrypt_rfc7914_vector_verifies():
    # RFC 7914 §12, second vector: scrypt(P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64)
    key = bytes.fromhex(
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
    )
    import base64

    stored = f"scrypt$1024$8$16${base64.b64encode(b'NaCl').decode()}${base64.b64encode(key).decode()}"
    assert verify_password("password", stored)
    assert not verify_password("Password", stored)


def test_password_hash_is_salted_and_parsable():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b  # a fresh 16-byte salt each time
    assert a.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("correct horse", "not-a-hash")
    assert not verify_password("correct horse", "pbkdf2$1$2$3$4$5")


@settings(max_examples=15, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_password_roundtrip_property(p, q):
    stored = hash_password(p, n=2**4)  # a tiny cost keeps the property test fast; the format is the same
    assert verify_password(p, stored)
    assert verify_password(q, stored) == (p == q)


def test_token_sha256_fips_vector():
    # FIPS 180-2 appendix B.1: SHA-256("abc")
    assert token_sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_mosquitto_hash_matches_mosquitto_passwd_output():
    # written by `mosquitto_passwd -b pw du1 secret1` (Mosquitto 2.0): $7$ = PBKDF2-SHA512, 101 iterations
    stored = (
        "$7$101$aY/9Ynt3nxuEjzYB$k7daEyrzwVvarOhMzQjscktbC8t7XZSgwt2TYOm8WL5T+XQH6iosJHgmx7wMLbTMQs6fbjLvae6"
        "+i4EWFSafug=="
    )
    assert verify_mosquitto_hash("secret1", stored)
    assert not verify_mosquitto_hash("secret2", stored)
    salt = b"0123456789ab"
    ours = mosquitto_hash("secret1", salt=salt)
    assert ours.split("$")[3] == "MDEyMzQ1Njc4OWFi"  # base64("0123456789ab")
    assert (
        ours.split("$")[4]
        == __import__("base64").b64encode(hashlib.pbkdf2_hmac("sha512", b"secret1", salt, 101, 64)).decode()
    )


# ------------------------------------------------------------------ users and logins
def test_login_issues_session_token_and_principal(auth):
    auth.create_user("anna", "s3cret-pass", "member", member_id="M01")
    token, who = auth.login("anna", "s3cret-pass", ip="10.0.0.1")
    assert who == Principal(who.user_id, "anna", "member", "M01", "session")
    assert auth.principal_for_token(token) == who
    assert auth.audit_log(action="login")[0]["actor"] == "anna"


def test_tokens_and_passwords_are_stored_hashed(auth, db_url):
    auth.create_user("anna", "s3cret-pass", "member", member_id="M01")
    token, _ = auth.login("anna", "s3cret-pass")
    eng = sa.create_engine(db_url)
    with eng.connect() as c:
        dump = repr(c.execute(sa.text("SELECT * FROM auth_tokens")).all()) + repr(
            c.execute(sa.text("SELECT * FROM auth_users")).all()
        )
    eng.dispose()
    assert token not in dump and "s3cret-pass" not in dump
    assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_wrong_password_and_unknown_user_fail_alike_and_are_audited(auth):
    auth.create_user("anna", "s3cret-pass", "member", member_id="M01")
    with pytest.raises(AuthError) as wrong:
        auth.login("anna", "nope-nope")
    with pytest.raises(AuthError) as unknown:
        auth.login("bruno", "nope-nope")
    assert str(wrong.value) == str(unknown.value) == "invalid username or password"
    failed = auth.audit_log(action="login_failed")
    assert {e["actor"] for e in failed} == {"anna", "bruno"}


def test_user_validation(auth):
    with pytest.raises(ValueError, match="needs --member"):
        auth.create_user("carla", "long-enough", "member")
    with pytest.raises(ValueError, match="role 'boss'"):
        auth.create_user("carla", "long-enough", "boss")
    with pytest.raises(ValueError, match="at least 8"):
        auth.create_user("carla", "short", "referente")
    with pytest.raises(ValueError, match="username"):
        auth.create_user("bad name", "long-enough", "admin")
    auth.create_user("carla", "long-enough", "referente")
    with pytest.raises(ValueError, match="already exists"):
        auth.create_user("carla", "long-enough", "admin")
    assert [u["username"] for u in auth.users()] == ["carla"]


def test_session_expires(auth, clock):
    auth.create_user("anna", "s3cret-pass", "member", member_id="M01")
    token, _ = auth.login("anna", "s3cret-pass")
    clock.now += dt.timedelta(hours=11, minutes=59)
    assert auth.principal_for_token(token) is not None
    clock.now += dt.timedelta(minutes=1)  # 12 h after login: expired (expires_at is exclusive)
    assert auth.principal_for_token(token) is None


def test_revoke_logout_and_disable(auth):
    auth.create_user("anna", "s3cret-pass", "member", member_id="M01")
    t1, _ = auth.login("anna", "s3cret-pass")
    t2, _ = auth.login("anna", "s3cret-pass")
    assert auth.logout(t1) and not auth.logout(t1)
    assert auth.principal_for_token(t1) is None and auth.principal_for_token(t2) is not None
    auth.disable_user("anna")
    assert auth.principal_for_token(t2) is None
    with pytest.raises(AuthError):
        auth.login("anna", "s3cret-pass")


def test_lockout_after_repeated_failures(auth, clock):
    auth.create_user("anna", "s3cret-pass", "member", member_id="M01")
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthError):
            auth.login("anna", "guess-guess")
    with pytest.raises(AuthError):  # locked: even the right password is refused
        auth.login("anna", "s3cret-pass")
    clock.now += LOCKOUT_WINDOW + dt.timedelta(seconds=1)
    token, _ = auth.login("anna", "s3cret-pass")
    assert auth.principal_for_token(token).username == "anna"


def test_garbage_tokens_are_rejected(auth):
    for t in (None, "", "cdv_x", "x" * 10_000, "' OR 1=1 --"):
        assert auth.principal_for_token(t) is None


# ------------------------------------------------------------------ platform API tokens
def test_api_token_scope(auth, clock):
    token = auth.create_api_token("acme-platform", scope_pods=["IT001E00000001", "IT001E00000002"])
    who = auth.principal_for_token(token)
    assert who.role == "platform" and who.token_kind == "api"
    assert who.may_write(pod="IT001E00000001", du="DU-7")
    assert not who.may_write(pod="IT001E00000003", du="DU-7")
    with auth.engine.begin() as conn:  # DU-1 reads P1, DU-2 reads P2 (condivisa db register)
        conn.execute(
            sa.insert(Device),
            [
                {"du_id": d, "pod": p, "member_id": None, "registered_at": clock.now}
                for d, p in (("DU-1", "P1"), ("DU-2", "P2"))
            ],
        )
    both = auth.principal_for_token(auth.create_api_token("b", scope_pods=["P1", "P2"], scope_dus=["DU-1"]))
    assert both.may_write(pod="P1", du="DU-1")
    assert not both.may_write(pod="P1", du="DU-2") and not both.may_write(pod="P2", du="DU-1")
    # a DU of the token writes only the POD it is registered to, even if the token lists the other POD
    with pytest.raises(ValueError, match="bound to at least one"):
        auth.create_api_token("nothing")
    clock.now += dt.timedelta(days=366)
    assert auth.principal_for_token(token) is None


def test_people_cannot_write_but_admin_can(auth):
    member = Principal(1, "anna", Role.MEMBER, "M01")
    ref = Principal(2, "rita", Role.REFERENTE, None)
    admin = Principal(3, "root", Role.ADMIN, None)
    assert not member.may_write(pod="P1") and not ref.may_write(pod="P1") and admin.may_write(pod="P1")
    assert member.can_read_member("M01") and not member.can_read_member("M02")
    assert ref.can_read_member("M02") and admin.can_read_member("M02")


def test_token_revocation_by_id_and_listing(auth):
    token = auth.create_api_token("acme", scope_dus=["DU-1"])
    [row] = auth.tokens()
    assert row["name"] == "acme" and row["dus"] == ["DU-1"] and row["active"]
    assert auth.revoke_token_id(row["id"]) and auth.principal_for_token(token) is None
    assert auth.tokens() == [] and len(auth.tokens(include_inactive=True)) == 1


def test_device_credentials_use_mosquitto_format(auth):
    pw = auth.create_device_credential("DU-0001", "cer-demo")
    [cred] = auth.device_credentials()
    assert cred["du_id"] == "DU-0001" and verify_mosquitto_hash(pw, cred["password_hash"])
    with pytest.raises(ValueError, match="wildcards"):
        auth.create_device_credential("DU/#", "cer-demo")
    assert auth.revoke_device("DU-0001") and auth.device_credentials() == []
