"""``Principal``: who is calling, and what that caller may read and write.

Rules implemented:
- admins and referenti (*staff*) may read every member's data of the community; a member reads only their
  own (``Principal.can_read_member``);
- platform *API* tokens carry the PODs/DUs they may write; a reading may be written only when its POD and
  its sending DU are both inside the token's scope (``Principal.may_write``); admins may write anything;
- a token bound to DUs writes, for each of them, only the POD that DU is registered to read
  (``du_pods``): naming one's own DU on another member's POD is refused, not just flagged;
- every caller but a platform admin belongs to one community (``community``; ``None`` on rows written
  before communities existed, which belong to the platform's pinned community): a referente is staff of
  that community only (:mod:`condivisa.auth.tenants` decides which community a request sees).
"""

from __future__ import annotations

from dataclasses import dataclass

from condivisa.store.auth_tables import Role, TokenKind

PLATFORM_ROLE = "platform"  # the role of a Principal authenticated by an API token


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (session token) or a platform (API token)."""

    user_id: int | None
    username: str
    role: str
    member_id: str | None = None
    token_kind: str = TokenKind.SESSION
    scope_pods: frozenset[str] | None = None
    scope_dus: frozenset[str] | None = None
    #: for a token bound to DUs: the (DU, POD) pairs registered in the store; a DU's line must name its POD
    du_pods: frozenset[tuple[str, str]] | None = None
    #: the community of the caller (user or token); ``None``: a platform admin, or a row from before
    #: communities existed
    community: str | None = None

    @property
    def is_platform_admin(self) -> bool:
        """An admin bound to no community: sees and runs every community of the platform."""
        return self.role == Role.ADMIN and self.community is None

    @property
    def is_staff(self) -> bool:
        """admin or referente: may read every member's data of the community they see."""
        return self.role in (Role.ADMIN, Role.REFERENTE)

    def can_read_member(self, member_id: str) -> bool:
        return self.is_staff or (
            self.role == Role.MEMBER and self.member_id is not None and self.member_id == member_id
        )

    def may_write(self, *, pod: str | None = None, du: str | None = None) -> bool:
        """A platform token may write a reading for ``pod`` sent by ``du`` only when both are in its scope
        (a scope that is ``None`` for PODs or DUs does not restrict that dimension, but at least one of the
        two scopes must be set). Admins may write anything; other people write nothing."""
        if self.role == Role.ADMIN:
            return True
        if self.token_kind != TokenKind.API or (self.scope_pods is None and self.scope_dus is None):
            return False
        if self.scope_pods is not None and (pod is None or pod not in self.scope_pods):
            return False
        if self.scope_dus is not None and (du is None or du not in self.scope_dus):
            return False
        if self.scope_dus is not None and self.du_pods is not None and (du, pod) not in self.du_pods:
            return False  # the DU is the token's, the POD is not that DU's
        return True
