"""Tables of people and device identity: users, tokens, device credentials, login throttle, audit log.

All tables live on the store's SQLAlchemy ``Base`` (:mod:`condivisa.store.models`) so that one Alembic
history creates them; the access rules that use them are in :mod:`condivisa.auth.service`. Secrets are never
stored in clear:

- user passwords: ``hashlib.scrypt`` with a per-user random salt (RFC 7914), see
:mod:`condivisa.auth.hashing`;
- bearer tokens (sessions and platform API tokens): SHA-256 of the token (a token has 256 bits of entropy,
  so a fast hash is enough; only the holder knows the clear token);
- device (DU) MQTT passwords: Mosquitto's ``$7$`` PBKDF2-SHA512 format, so the broker's password file can be
  regenerated at any time without knowing the clear passwords.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, Engine, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from condivisa.kernel import clock
from condivisa.store.models import Base, Device


class Role(StrEnum):
    """Roles of people. ``admin`` runs the platform, ``referente`` manages one community, ``member`` reads
    only their own PODs and statements."""

    ADMIN = "admin"
    REFERENTE = "referente"
    MEMBER = "member"


class TokenKind(StrEnum):
    SESSION = "session"  # issued by a login, short-lived
    API = "api"  # a platform's cloud-to-cloud token, bound to the PODs/DUs it may write


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    DEVICE_CREDENTIAL = "device_credential"
    ACCESS_DENIED = "access_denied"
    DATA_EXPORT = "data_export"
    RULE_CHANGE = "rule_change"
    RULES_RECORDED = "rules_recorded"  # the first allocation rules seen for a community
    RULES_CHANGED = "rules_changed"  # the allocation rules differ from the last recorded ones
    MEMBER_ADDED = "member_added"  # a member added to the community file (dashboard or CLI)
    COMMUNITY_FILE_CHANGED = "community_file_changed"  # a new version of the community file, same rules
    CSRF_REJECTED = "csrf_rejected"
    PASSWORD_CHANGED = "password_changed"  # a person changed their own password
    COMMUNITY_ADDED = "community_added"  # a community added to the platform (condivisa communities add)
    COMMUNITY_UPDATED = "community_updated"  # a new version of a community's file stored
    COMMUNITY_REMOVED = "community_removed"  # a community no longer served (its rows kept)
    ERASURE = "erasure"
    PURGE = "purge"


def _utcnow() -> dt.datetime:
    return clock.now()


class User(Base):
    __tablename__ = "auth_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    member_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: the community of a referente or member; ``None`` for a platform admin
    community: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)


class Token(Base):
    """A bearer token, stored as the SHA-256 hex of the clear token. ``scope_pods``/``scope_dus`` (JSON
    lists) bind an API token to what it may write; ``None`` means no write scope at all."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    scope_pods: Mapped[list | None] = mapped_column(JSON, nullable=True)
    scope_dus: Mapped[list | None] = mapped_column(JSON, nullable=True)
    #: an API token is bound to one community (its PODs must belong to it); ``None``: a platform admin's
    community: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeviceCredential(Base):
    """MQTT credentials of one client of the broker: a chain-2 user device (``du``), a gateway grouping DUs
    (``gw``) or the platform's ingest worker (``worker``). Username = ``du_id``; Mosquitto ``$7$`` hash."""

    __tablename__ = "auth_device_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    du_id: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    community: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="du")  # du | gw | worker
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """One line of the audit log: who (``actor``) did what (``action``) to what (``target``), when (UTC)."""

    __tablename__ = "auth_audit_log"
    __table_args__ = (
        Index("ix_auth_audit_log_at", "at"),
        Index("ix_auth_audit_log_action_actor", "action", "actor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    community: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)


class LoginThrottle(Base):
    """The brute-force brake of one username (:mod:`condivisa.auth.lockout`): how many login attempts
    reached, or are reaching, the password check since ``window_start``. One atomic upsert counts an
    attempt *before* its password is checked, so concurrent guesses cannot all see the same count."""

    __tablename__ = "auth_login_throttle"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AppSecret(Base):
    """A random secret of the platform kept in its database, shared by every process on that database
    (``csrf`` signs the dashboard's anti-CSRF tokens unless ``CONDIVISA_SECRET_KEY`` is set)."""

    __tablename__ = "auth_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)


class CommunityRules(Base):
    """The allocation rules a community was last served/settled with: canonical JSON (sorted keys) and its
    SHA-256, who/what loaded them and when. A change is an audit event ``rules_changed``."""

    __tablename__ = "auth_community_rules"

    community: Mapped[str] = mapped_column(String(128), primary_key=True)
    rules_json: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)
    recorded_by: Mapped[str] = mapped_column(String(128), nullable=False)


AUTH_TABLES = (
    User.__table__,
    Token.__table__,
    DeviceCredential.__table__,
    AuditEntry.__table__,
    AppSecret.__table__,
    CommunityRules.__table__,
    LoginThrottle.__table__,
)


def create_auth_tables(engine: Engine) -> None:
    """Create the auth tables directly (tests, throw-away databases), with the ``devices`` table that a token
    bound to DUs reads its (DU, POD) pairs from. Real deployments run ``condivisa db upgrade`` (Alembic),
    which creates the same tables."""
    Base.metadata.create_all(engine, tables=[*AUTH_TABLES, Device.__table__])
