"""Bearer tokens of people and platforms: resolve, issue, revoke, list (the token half of
:class:`~condivisa.auth.service.AuthService`, which inherits :class:`TokenMethods`).

Rules implemented:
- a token is stored as its SHA-256 and is valid only while not revoked, not expired and its user not disabled;
- a platform *API* token carries the PODs/DUs it may write; a token bound to DUs writes, for each, only the
  POD that DU is registered to read (``du_pods``);
- a token carries its community (``auth_tokens.community``): an API token of a community may name only that
  community's PODs and DUs; a person's session token carries the person's community.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from condivisa.auth.database import aware_utc
from condivisa.auth.hashing import new_token, token_sha256
from condivisa.auth.principal import PLATFORM_ROLE, Principal
from condivisa.domain.community import Community
from condivisa.kernel.timegrid import to_utc
from condivisa.store.auth_tables import AuditAction, Token, TokenKind, User
from condivisa.store.models import Device

API_TOKEN_TTL = dt.timedelta(days=365)


def _registered_pairs(session: Session, dus: frozenset[str]) -> frozenset[tuple[str, str]]:
    """The (DU, POD) pairs of ``dus`` registered in the store (``condivisa db register``)."""
    if not dus:
        return frozenset()
    rows = session.execute(sa.select(Device.du_id, Device.pod).where(Device.du_id.in_(sorted(dus))))
    return frozenset((du, pod) for du, pod in rows)


class TokenMethods:
    """Token methods of :class:`~condivisa.auth.service.AuthService` (which provides ``engine``, ``now``,
    ``community_of`` and ``_audit``)."""

    engine: sa.Engine

    def now(self) -> dt.datetime:
        raise NotImplementedError

    def community_of(self, slug: str | None) -> Community | None:
        raise NotImplementedError

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
        raise NotImplementedError

    def principal_for_token(self, token: str | None) -> Principal | None:
        """The principal of a valid token; ``None`` for an unknown, expired or revoked token or a disabled user."""
        if not token or len(token) > 256:
            return None
        now = self.now()
        with Session(self.engine) as s:
            row = s.execute(
                sa.select(Token, User)
                .outerjoin(User, User.id == Token.user_id)
                .where(Token.token_sha256 == token_sha256(token))
            ).first()
            if row is None:
                return None
            tok, user = row
            if tok.revoked_at is not None or aware_utc(tok.expires_at) <= now:
                return None
            pods = frozenset(tok.scope_pods) if tok.scope_pods is not None else None
            dus = frozenset(tok.scope_dus) if tok.scope_dus is not None else None
            du_pods = _registered_pairs(s, dus) if dus is not None else None
            if user is None:  # a platform token not tied to a person
                return Principal(
                    None, tok.name or f"token-{tok.id}", PLATFORM_ROLE, None, tok.kind, pods, dus, du_pods,
                    tok.community,
                )  # fmt: skip
            if user.disabled:
                return None
            return Principal(
                user.id, user.username, user.role, user.member_id, tok.kind, pods, dus, du_pods,
                tok.community or user.community,
            )  # fmt: skip

    def revoke(
        self, token: str, *, actor: str | None = "system", action: str = AuditAction.TOKEN_REVOKED
    ) -> bool:
        """Revoke a token given in clear; True when a live token was revoked."""
        with Session(self.engine) as s, s.begin():
            tok = s.scalar(sa.select(Token).where(Token.token_sha256 == token_sha256(token)))
            if tok is None or tok.revoked_at is not None:
                return False
            tok.revoked_at = self.now()
            user = s.get(User, tok.user_id) if tok.user_id else None  # None: a platform token
            who = actor or (user.username if user is not None else tok.name or "-")
            self._audit(s, who, action, f"token:{tok.id}")
            return True

    def revoke_token_id(self, token_id: int, *, actor: str = "system") -> bool:
        with Session(self.engine) as s, s.begin():
            tok = s.get(Token, token_id)
            if tok is None or tok.revoked_at is not None:
                return False
            tok.revoked_at = self.now()
            self._audit(s, actor, AuditAction.TOKEN_REVOKED, f"token:{token_id}")
            return True

    def create_api_token(
        self,
        name: str,
        *,
        scope_pods: Iterable[str] | None = None,
        scope_dus: Iterable[str] | None = None,
        ttl: dt.timedelta = API_TOKEN_TTL,
        username: str | None = None,
        actor: str = "system",
        community: str | None = None,
    ) -> str:
        """A platform API token allowed to write only ``scope_pods`` / ``scope_dus``; returns the clear token
        (shown once; only its SHA-256 is kept). With ``community`` the token is bound to that community: every
        POD and DU of its scope must be one of that community's (``ValueError`` naming the others)."""
        pods = sorted(set(scope_pods)) if scope_pods is not None else None
        dus = sorted(set(scope_dus)) if scope_dus is not None else None
        if not pods and not dus:
            raise ValueError("an API token must be bound to at least one POD (--pods) or DU (--dus)")
        if ttl <= dt.timedelta(0):
            raise ValueError("token lifetime must be positive")
        if community is not None:
            _check_token_scope(self.community_of(community), community, pods, dus)
        now, token = self.now(), new_token()
        with Session(self.engine) as s, s.begin():
            user_id = None
            if username is not None:
                user_id = s.scalar(sa.select(User.id).where(User.username == username))
                if user_id is None:
                    raise KeyError(username)
            tok = Token(
                token_sha256=token_sha256(token),
                kind=TokenKind.API,
                user_id=user_id,
                name=name,
                scope_pods=pods,
                scope_dus=dus,
                created_at=now,
                expires_at=now + ttl,
                community=community,
            )
            s.add(tok)
            s.flush()
            self._audit(
                s,
                actor,
                AuditAction.TOKEN_CREATED,
                f"token:{tok.id}",
                {"name": name, "pods": pods, "dus": dus},
                community=community,
            )
        return token

    def tokens(self, *, include_inactive: bool = False) -> list[dict[str, Any]]:
        now = self.now()
        with Session(self.engine) as s:
            rows = s.execute(
                sa.select(Token, User.username).outerjoin(User, User.id == Token.user_id).order_by(Token.id)
            ).all()
        out = []
        for tok, username in rows:
            active = tok.revoked_at is None and aware_utc(tok.expires_at) > now
            if active or include_inactive:
                out.append(
                    {
                        "id": tok.id,
                        "kind": tok.kind,
                        "name": tok.name,
                        "user": username,
                        "pods": tok.scope_pods,
                        "dus": tok.scope_dus,
                        "community": tok.community,
                        "expires_at": to_utc(tok.expires_at, naive_is="utc"),
                        "active": active,
                    }
                )
        return out


def _check_token_scope(
    served: Community | None, slug: str, pods: list[str] | None, dus: list[str] | None
) -> None:
    """A token of community ``slug`` is bound to its PODs and DUs only (``ValueError`` naming the others)."""
    if served is None:
        raise ValueError(f"community {slug!r} is not served by this platform")
    foreign = sorted(set(pods or ()) - set(served.all_pods))
    foreign += sorted(set(dus or ()) - {d.id for d in served.devices})
    if foreign:
        raise ValueError(f"not PODs or DUs of community {slug!r}: {', '.join(foreign)}")
