"""``AuthService``: people, tokens, device credentials and the audit log on top of the store.

The callers (:class:`~condivisa.auth.principal.Principal`), the device credentials
(:mod:`condivisa.auth.devices`) and the audit log (:mod:`condivisa.auth.audit`) have their own modules;
the service joins them in one transaction per change.

Rules implemented:
- a login checks the scrypt hash (:mod:`condivisa.auth.hashing`) and issues a *session* token that expires
  after ``session_ttl`` (12 h by default); an unknown username costs the same scrypt time as a wrong password
  and gets the same error, so a login never reveals whether a user exists;
- at most ``MAX_FAILED_LOGINS`` password checks per username per ``LOCKOUT_WINDOW``, counted atomically in
  the database before the check (:mod:`condivisa.auth.lockout`); further attempts are refused unchecked until
  the window has passed (brute-force brake), also for the SCPS gateway's static users (:meth:`guard_login`);
- tokens are stored as SHA-256 and are valid only while not revoked, not expired and their user not disabled;
- platform *API* tokens carry the PODs/DUs they may write (:class:`~condivisa.auth.principal.Principal`);
- logins, failed logins, token and user changes, exports, rule changes and erasures go to ``auth_audit_log``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from condivisa.auth import lockout
from condivisa.auth.audit import audit_entry, read_audit_log
from condivisa.auth.database import Database, engine_of
from condivisa.auth.devices import (
    active_device_credentials,
    check_device,
    put_device_credential,
    revoke_device_credential,
)
from condivisa.auth.hashing import (
    hash_password,
    new_token,
    token_sha256,
)
from condivisa.auth.lockout import LOCKOUT_WINDOW, MAX_FAILED_LOGINS
from condivisa.auth.principal import Principal
from condivisa.auth.tenants import Tenants
from condivisa.auth.tokens import TokenMethods
from condivisa.domain.community import Community
from condivisa.kernel import clock as platform_clock
from condivisa.kernel.timegrid import to_utc
from condivisa.store.auth_tables import AuditAction, Role, Token, TokenKind, User

SESSION_TTL = dt.timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


class AuthError(Exception):
    """Authentication failed. The message never says whether the user exists."""


class AuthService(TokenMethods):
    """People and device identity on the store's database. ``community`` (optional) maps members to PODs;
    ``tenants`` (optional) are the communities served: a caller of one community reaches its PODs only."""

    def __init__(
        self,
        store: Database,
        *,
        community: Community | None = None,
        tenants: Tenants | None = None,
        session_ttl: dt.timedelta = SESSION_TTL,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine_of(store)
        self.community = community
        self.tenants = tenants
        self.session_ttl = session_ttl
        self._clock = clock or platform_clock.now

    def now(self) -> dt.datetime:
        return self._clock()

    # ---------------------------------------------------------------- people
    def community_of(self, slug: str | None) -> Community | None:
        """The community ``slug`` as served (``None``: the pinned or only community, else ``community``)."""
        if self.tenants is not None:
            found = self.tenants.get(slug if slug is not None else self.tenants.default_slug())
            if found is not None or slug is not None:
                return found
        return self.community if slug is None else None

    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        member_id: str | None = None,
        *,
        actor: str = "system",
        community: str | None = None,
    ) -> int:
        """Create a user; ``member`` users must name their ``member_id``; ``community`` is the one a referente
        or member belongs to (``None``: a platform admin, or the pinned community). Raises ``ValueError`` on
        bad input."""
        if not _NAME_RE.match(username or ""):
            raise ValueError(f"username {username!r}: use 1-128 letters, digits or . _ @ + -")
        try:
            role = Role(role).value
        except ValueError:
            raise ValueError(f"role {role!r}: must be one of {', '.join(r.value for r in Role)}") from None
        if role == Role.MEMBER and not member_id:
            raise ValueError(f"user {username}: a member user needs --member (the member id it may read)")
        served = self.community_of(community)
        if community is not None and served is None:
            raise ValueError(f"user {username}: community {community!r} is not served by this platform")
        if served is not None and member_id is not None:
            try:
                served.member(member_id)
            except KeyError:
                raise ValueError(f"user {username}: member {member_id!r} is not in the community") from None
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise ValueError(f"user {username}: password must have at least {MIN_PASSWORD_LENGTH} characters")
        with Session(self.engine) as s, s.begin():
            if s.scalar(sa.select(User.id).where(User.username == username)) is not None:
                raise ValueError(f"user {username!r} already exists")
            user = User(
                username=username,
                password_hash=hash_password(password),
                role=role,
                member_id=member_id,
                disabled=False,
                created_at=self.now(),
                community=community,
            )
            s.add(user)
            s.flush()
            self._audit(
                s, actor, AuditAction.USER_CREATED, username, {"role": role, "member_id": member_id},
                community=community,
            )  # fmt: skip
            return user.id

    def users(self, *, community: str | None = None) -> list[dict[str, Any]]:
        """The users (of ``community`` only, when given), by username."""
        with Session(self.engine) as s:
            q = sa.select(User).order_by(User.username)
            rows = s.scalars(q.where(User.community == community) if community else q).all()
            return [
                {
                    "id": u.id,
                    "username": u.username,
                    "role": u.role,
                    "member_id": u.member_id,
                    "disabled": u.disabled,
                    "community": u.community,
                    "created_at": to_utc(u.created_at, naive_is="utc"),
                }
                for u in rows
            ]

    def disable_user(self, username: str, *, actor: str = "system") -> None:
        """Disable a user and revoke all their tokens (``condivisa users revoke``)."""
        with Session(self.engine) as s, s.begin():
            user = s.scalar(sa.select(User).where(User.username == username))
            if user is None:
                raise KeyError(username)
            user.disabled = True
            s.execute(
                sa.update(Token)
                .where(Token.user_id == user.id, Token.revoked_at.is_(None))
                .values(revoked_at=self.now())
            )
            self._audit(s, actor, AuditAction.USER_DISABLED, username)

    def set_password(self, username: str, password: str, *, actor: str = "system") -> None:
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        with Session(self.engine) as s, s.begin():
            user = s.scalar(sa.select(User).where(User.username == username))
            if user is None:
                raise KeyError(username)
            user.password_hash = hash_password(password)
            self._audit(s, actor, AuditAction.USER_CREATED, username, {"password_changed": True})

    def change_password(
        self,
        username: str,
        current: str,
        new: str,
        *,
        keep_token: str | None = None,
        ip: str | None = None,
    ) -> None:
        """A person changes their own password after typing the current one (checked under the login brake,
        :mod:`~condivisa.auth.lockout`: a wrong one counts as a failed login). The new one needs
        ``MIN_PASSWORD_LENGTH`` characters, as for a new user. Every other session token of the user is
        revoked (``keep_token``, the session in use, stays). Audited as ``password_changed``.

        Raises :class:`AuthError` for a wrong current password (or a locked or disabled user) and
        ``ValueError`` for a too short new password (checked first: nothing is counted)."""
        if len(new or "") < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        found: list[User] = []
        if not self._guarded(username, lockout.person_check(self.engine, username, current, found), ip):
            raise AuthError("wrong current password")
        keep = token_sha256(keep_token) if keep_token else None
        with Session(self.engine) as s, s.begin():
            user = s.get(User, found[0].id)
            if user is None:  # deleted between the check and now
                raise AuthError("wrong current password")
            user.password_hash = hash_password(new)
            tokens = Token.__table__
            others = sa.update(tokens).where(
                tokens.c.user_id == user.id,
                tokens.c.revoked_at.is_(None),
                tokens.c.kind == TokenKind.SESSION,
            )
            if keep is not None:
                others = others.where(tokens.c.token_sha256 != keep)
            revoked = s.connection().execute(others.values(revoked_at=self.now())).rowcount
            self._audit(
                s, user.username, AuditAction.PASSWORD_CHANGED, f"user:{user.username}",
                {"other_sessions_revoked": int(revoked or 0)}, ip,
            )  # fmt: skip

    def login(self, username: str, password: str, *, ip: str | None = None) -> tuple[str, Principal]:
        """Check the password and issue a session token. Raises :class:`AuthError` (one message for every
        failure: unknown user, wrong password, disabled user, too many attempts; :mod:`~condivisa.auth.lockout`
        lets at most ``MAX_FAILED_LOGINS`` checks per window reach the hash)."""
        now, found = self.now(), list[User]()
        if not self._guarded(username, lockout.person_check(self.engine, username, password, found), ip):
            raise AuthError("invalid username or password")
        user, token = found[0], new_token()
        with Session(self.engine) as s, s.begin():
            s.add(Token(token_sha256=token_sha256(token), kind=TokenKind.SESSION, user_id=user.id, created_at=now,
                        expires_at=now + self.session_ttl))  # fmt: skip
            self._audit(s, user.username, AuditAction.LOGIN, None, None, ip, community=user.community)
        return token, Principal(
            user.id, user.username, user.role, user.member_id, TokenKind.SESSION, community=user.community
        )

    def guard_login(self, username: str, check: Callable[[], bool], *, ip: str | None = None) -> bool:
        """Run another login's password ``check`` (the SCPS gateway's static users) under the same brake and
        audit as people's logins; True when it passed."""
        if ok := self._guarded(username, check, ip):
            self.audit(lockout.throttle_key(username), AuditAction.LOGIN, "gateway", None, ip)
        return ok

    def _guarded(self, username: str, check: Callable[[], bool], ip: str | None) -> bool:
        verdict = lockout.guarded(
            self.engine, username, self.now(), check, audit=self.audit, ip=ip,
            limit=MAX_FAILED_LOGINS, window=LOCKOUT_WINDOW,
        )  # fmt: skip
        return verdict is lockout.Verdict.OK

    def logout(self, token: str) -> bool:
        return self.revoke(token, actor=None, action=AuditAction.LOGOUT)

    # ---------------------------------------------------------------- devices
    def create_device_credential(
        self,
        du_id: str,
        community: str,
        password: str | None = None,
        *,
        kind: str = "du",
        actor: str = "system",
    ) -> str:
        """Give DU ``du_id`` (or a gateway ``gw``, or the ingest ``worker``) its own MQTT password (random
        unless given); returns it in clear, once."""
        check_device(du_id, kind)
        password = password or secrets.token_urlsafe(18)
        with Session(self.engine) as s, s.begin():
            put_device_credential(s, du_id, community, kind, password, self.now())
            self._audit(s, actor, AuditAction.DEVICE_CREDENTIAL, f"{kind}:{du_id}", {"community": community})
        return password

    def revoke_device(self, du_id: str, *, actor: str = "system") -> bool:
        with Session(self.engine) as s, s.begin():
            if not revoke_device_credential(s, du_id, self.now()):
                return False
            self._audit(s, actor, AuditAction.DEVICE_CREDENTIAL, f"du:{du_id}", {"revoked": True})
            return True

    def device_credentials(self) -> list[dict[str, Any]]:
        """Active credentials: ``du_id``, ``community``, ``kind``, ``password_hash`` (Mosquitto ``$7$``)."""
        return active_device_credentials(self.engine)

    # ---------------------------------------------------------------- members' PODs
    def member_pods(self, member_id: str, community: str | None = None) -> frozenset[str]:
        """PODs whose data ``member_id`` (of ``community``) may read: their own PODs and the PODs of plants
        they own."""
        served = self.community_of(community)
        if served is None:
            return frozenset()
        try:
            member = served.member(member_id)
        except KeyError:
            return frozenset()
        own = {p.code for p in member.pods}
        own |= {pl.pod for pl in served.plants if pl.owner == member_id}
        return frozenset(own)

    def can_read_pod(self, principal: Principal, pod: str) -> bool:
        """A platform admin reads every POD; staff of a community its PODs; a member their own."""
        if principal.is_platform_admin:
            return True
        if principal.is_staff:
            served = self.community_of(principal.community)
            if served is None:  # a platform without communities: its staff read every POD
                return principal.community is None
            return pod in served.all_pods
        return (
            principal.role == Role.MEMBER
            and principal.member_id is not None
            and pod in self.member_pods(principal.member_id, principal.community)
        )

    # ---------------------------------------------------------------- audit
    def audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        detail: dict | None = None,
        ip: str | None = None,
        community: str | None = None,
    ) -> None:
        """Append one entry to the audit log (in its own transaction)."""
        with Session(self.engine) as s, s.begin():
            self._audit(s, actor, action, target, detail, ip, community=community)

    def _audit(
        self,
        s: Session,
        actor: str,
        action: str,
        target: str | None = None,
        detail: dict | None = None,
        ip: str | None = None,
        *,
        community: str | None = None,
    ) -> None:
        s.add(audit_entry(self.now(), actor, action, target, detail, ip, community))

    def audit_log(
        self,
        *,
        limit: int = 100,
        action: str | None = None,
        actor: str | None = None,
        community: str | None = None,
    ) -> list[dict[str, Any]]:
        """The latest ``limit`` audit entries, newest first (:func:`condivisa.auth.audit.read_audit_log`)."""
        return read_audit_log(self.engine, limit=limit, action=action, actor=actor, community=community)
