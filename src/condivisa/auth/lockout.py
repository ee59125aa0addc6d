"""The brute-force brake of logins: at most :data:`MAX_FAILED_LOGINS` password checks per username per
:data:`LOCKOUT_WINDOW`, whatever the number of concurrent attempts and of processes on the database.

Rules implemented:
- an attempt is *counted before* its password is checked, by one atomic statement on the username's row of
  ``auth_login_throttle`` (``INSERT … ON CONFLICT DO UPDATE SET attempts = attempts + 1 … RETURNING``): the
  database serialises concurrent updates of one row (PostgreSQL's row lock, SQLite's write lock), so 40
  concurrent guesses get the counts 1…40 and only the first :data:`MAX_FAILED_LOGINS` reach the hash check;
- an attempt counted beyond the limit is refused without checking the password (same answer as a wrong
  password), until the window that began with the first counted attempt has passed; the next attempt then
  starts a new window;
- a successful check gives its slot back (the failures stay counted), so a person who typed a wrong password
  four times and then the right one has one more try left, as before;
- unknown usernames are braked too (the row exists whether or not the user does), so the brake never says
  whether a user exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from condivisa.auth.hashing import DUMMY_PASSWORD_HASH, verify_password
from condivisa.kernel.timegrid import UTC
from condivisa.store.auth_tables import AuditAction, LoginThrottle, User
from condivisa.store.engine import dialect_insert

MAX_FAILED_LOGINS = 5
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
_THROTTLE = LoginThrottle.__table__


class Verdict(StrEnum):
    """The outcome of one guarded login attempt; the value is the audit log's ``reason``."""

    OK = "ok"
    BAD = "bad credentials"
    LOCKED = "locked"


def throttle_key(username: str | None) -> str:
    """The throttle row of ``username``: its first 128 characters (``-`` when empty), as the audit log."""
    return (username or "")[:128] or "-"


def person_check(
    engine: sa.Engine, username: str | None, password: str | None, found: list[User]
) -> Callable[[], bool]:
    """The password check of a person's login: True for an enabled user with that password. An unknown
    username costs the same scrypt time (:data:`~condivisa.auth.hashing.DUMMY_PASSWORD_HASH`); the user who
    passed is appended to ``found``."""

    def check() -> bool:
        with Session(engine) as s:
            user = s.scalar(sa.select(User).where(User.username == username)) if username else None
        ok = verify_password(password or "", user.password_hash if user else DUMMY_PASSWORD_HASH)
        if not ok or user is None or user.disabled:
            return False
        found.append(user)
        return True

    return check


def reserve_attempt(
    engine: sa.Engine,
    username: str | None,
    now: dt.datetime,
    *,
    limit: int = MAX_FAILED_LOGINS,
    window: dt.timedelta = LOCKOUT_WINDOW,
) -> bool:
    """Count one login attempt of ``username`` at ``now``, atomically, in its own committed transaction.

    Returns
    -------
    bool
        True when the attempt may check the password (at most ``limit`` per window), False when locked.
    """
    now = now.astimezone(UTC)
    at = sa.literal(now, _THROTTLE.c.window_start.type)
    expired = _THROTTLE.c.window_start <= sa.literal(now - window, _THROTTLE.c.window_start.type)
    stmt = (
        dialect_insert(engine.dialect.name)(_THROTTLE)
        .values(username=throttle_key(username), attempts=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[_THROTTLE.c.username],
            set_={
                "attempts": sa.case((expired, 1), else_=_THROTTLE.c.attempts + 1),
                "window_start": sa.case((expired, at), else_=_THROTTLE.c.window_start),
            },
        )
        .returning(_THROTTLE.c.attempts)
    )
    with engine.begin() as conn:
        attempts = conn.execute(stmt).scalar_one()
    return int(attempts) <= limit


def release_attempt(engine: sa.Engine, username: str | None) -> None:
    """Give back the slot of an attempt whose password was right (its own committed transaction)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(_THROTTLE)
            .where(_THROTTLE.c.username == throttle_key(username), _THROTTLE.c.attempts > 0)
            .values(attempts=_THROTTLE.c.attempts - 1)
        )


def guarded(
    engine: sa.Engine,
    username: str | None,
    now: dt.datetime,
    check: Callable[[], bool],
    *,
    audit: Callable[..., object] | None = None,
    ip: str | None = None,
    limit: int = MAX_FAILED_LOGINS,
    window: dt.timedelta = LOCKOUT_WINDOW,
) -> Verdict:
    """Run the password ``check`` of ``username`` only when the brake allows it (:func:`reserve_attempt`);
    a refused attempt is given to ``audit(actor, action, target, detail, ip)`` as ``login_failed`` with its
    ``reason`` (``bad credentials`` after a check, ``locked`` without one).

    Returns
    -------
    Verdict
        ``OK`` (the check passed; its slot is given back), ``BAD`` (the check failed) or ``LOCKED`` (the check
        was not run).
    """
    if not reserve_attempt(engine, username, now, limit=limit, window=window):
        verdict = Verdict.LOCKED
    elif check():
        release_attempt(engine, username)
        return Verdict.OK
    else:
        verdict = Verdict.BAD
    if audit is not None:
        audit(throttle_key(username), AuditAction.LOGIN_FAILED, None, {"reason": str(verdict)}, ip)
    return verdict
