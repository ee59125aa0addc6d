"""Issue #13 finding 13: the login lockout holds under concurrent guessing, on SQLite and on PostgreSQL.

The attack as reported: 40 concurrent wrong passwords for one username let 17-18 reach the password check on
PostgreSQL (each login counted the earlier failures in the audit log, and they all counted at once), then
the right password got a session. The brake now counts each attempt before its check with one atomic
upsert (:mod:`condivisa.auth.lockout`); these tests fire the 40 guesses from threads at a real database
(a throwaway PostgreSQL database per test, and a SQLite file) and count the checks that reached the hash.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest

from condivisa.auth import lockout
from condivisa.auth.lockout import LOCKOUT_WINDOW, MAX_FAILED_LOGINS
from condivisa.auth.service import AuthError, AuthService
from condivisa.store.auth_tables import AuditAction
from condivisa.store.store import Store
from condivisa.transports.http.gateway import GatewayAuth

GUESSES = 40


class Clock:
    """The service's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(db_url, clock):
    """An ``AuthService`` on a migrated store (``Store.upgrade``: the Alembic history creates the throttle
    table), SQLite and PostgreSQL, with the referente ``anna``."""
    store = Store(db_url)
    store.upgrade()
    service = AuthService(store, clock=clock)
    service.create_user("anna", "s3cret-pass", "referente")
    yield service
    store.close()


@pytest.fixture
def hash_checks(monkeypatch) -> list[str]:
    """The passwords that reached the scrypt check of a person's login (a counting pass-through around the
    real ``verify_password``)."""
    seen: list[str] = []
    real = lockout.verify_password

    def counting(password: str, stored: str) -> bool:
        seen.append(password)
        return real(password, stored)

    monkeypatch.setattr(lockout, "verify_password", counting)
    return seen


def concurrently(attempt: Callable[[int], object], n: int = GUESSES) -> list[object]:
    """``attempt(i)`` for i in 0..n-1, from n threads released at the same instant; their results."""
    barrier, results = threading.Barrier(n), [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def wrong_login(auth: AuthService, username: str) -> Callable[[int], str]:
    def attempt(i: int) -> str:
        try:
            auth.login(username, f"guess-{i:04d}")
        except AuthError:
            return "refused"
        return "LOGGED IN"

    return attempt


def failure_reasons(auth: AuthService, actor: str) -> list[str]:
    entries = auth.audit_log(limit=1000, action=AuditAction.LOGIN_FAILED, actor=actor)
    return [e["detail"]["reason"] for e in entries]


def test_forty_concurrent_wrong_passwords_reach_the_hash_check_only_five_times(auth, hash_checks):
    results = concurrently(wrong_login(auth, "anna"))
    assert results == ["refused"] * GUESSES
    assert len(hash_checks) == MAX_FAILED_LOGINS  # was 17-18 on PostgreSQL
    reasons = failure_reasons(auth, "anna")
    assert sorted(set(reasons)) == ["bad credentials", "locked"]
    assert reasons.count("bad credentials") == MAX_FAILED_LOGINS
    assert reasons.count("locked") == GUESSES - MAX_FAILED_LOGINS
    with pytest.raises(AuthError):  # locked: the right password is refused, and not even checked
        auth.login("anna", "s3cret-pass")
    assert len(hash_checks) == MAX_FAILED_LOGINS


def test_the_lock_ends_with_its_window_and_a_new_window_allows_five_checks_again(auth, clock, hash_checks):
    concurrently(wrong_login(auth, "anna"))
    clock.now += LOCKOUT_WINDOW - dt.timedelta(seconds=1)
    with pytest.raises(AuthError):
        auth.login("anna", "s3cret-pass")
    clock.now += dt.timedelta(seconds=2)
    token, who = auth.login("anna", "s3cret-pass")
    assert who.username == "anna" and auth.principal_for_token(token) is not None
    hash_checks.clear()
    assert concurrently(wrong_login(auth, "anna")) == ["refused"] * GUESSES
    assert len(hash_checks) == MAX_FAILED_LOGINS  # the right login gave its slot back


def test_an_unknown_username_is_braked_the_same_way(auth, hash_checks):
    """The brake does not tell whether a user exists: an unknown name gets the same 5 checks (dummy hash)."""
    concurrently(wrong_login(auth, "nobody"), n=12)
    assert len(hash_checks) == MAX_FAILED_LOGINS
    assert failure_reasons(auth, "nobody").count("locked") == 12 - MAX_FAILED_LOGINS


def test_one_locked_username_does_not_lock_another(auth, hash_checks):
    auth.create_user("bruno", "bruno-pass-1", "referente")
    concurrently(wrong_login(auth, "anna"), n=10)
    token, _ = auth.login("bruno", "bruno-pass-1")
    assert token


def test_the_gateway_static_users_get_the_same_database_lockout(auth):
    """``CONDIVISA_GATEWAY_USERS`` logins: 40 concurrent wrong passwords, at most 5 checked, then the right
    one refused while locked; the attempts are in the audit log like people's."""
    gw = GatewayAuth({"scps": "s3cret"}, 3600, auth)
    results = concurrently(lambda i: gw.login("scps", f"wrong-{i}"))
    assert results == [None] * GUESSES
    reasons = failure_reasons(auth, "scps")
    assert reasons.count("bad credentials") == MAX_FAILED_LOGINS
    assert reasons.count("locked") == GUESSES - MAX_FAILED_LOGINS
    assert gw.login("scps", "s3cret") is None


def test_the_gateway_lockout_is_shared_by_every_process_on_the_database(auth, db_url, clock):
    """Two gateways (two processes of one deployment) on one database count together."""
    other_store = Store(db_url)
    try:
        one = GatewayAuth({"scps": "s3cret"}, 3600, auth)
        two = GatewayAuth({"scps": "s3cret"}, 3600, AuthService(other_store, clock=clock))
        for i in range(MAX_FAILED_LOGINS):
            assert (one if i % 2 else two).login("scps", "wrong") is None
        assert one.login("scps", "s3cret") is None and two.login("scps", "s3cret") is None
        clock.now += LOCKOUT_WINDOW + dt.timedelta(seconds=1)
        token = two.login("scps", "s3cret")
        assert token is not None and two.caller(token).name == "scps"
    finally:
        other_store.close()


def test_the_in_memory_static_lockout_is_thread_safe():
    """Without a database (``GatewayAuth`` with no service) the check and the count run under one lock:
    exactly 5 wrong passwords are recorded (the others were refused unchecked), then the right one is
    refused."""
    gw = GatewayAuth({"scps": "s3cret"}, 3600)
    assert concurrently(lambda i: gw.login("scps", f"wrong-{i}")) == [None] * GUESSES
    assert len(gw._failures["scps"]) == MAX_FAILED_LOGINS
    assert gw.login("scps", "s3cret") is None
