"""Who is looking at the dashboard: the login form, the session cookie and page access, all through
:mod:`condivisa.auth` (the only place the dashboard touches authentication).

Rules (``docs/security.md``): a member sees only their own member page and statements; ``referente`` and
``admin`` see every member and the community pages. A member asking for another member's page gets the same
404 page as for a member that does not exist, so nothing leaks; the refusal is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from condivisa.auth.deps import SESSION_COOKIE, clear_session_cookie, set_session_cookie
from condivisa.auth.principal import Principal
from condivisa.auth.service import AuthError, AuthService
from condivisa.store.auth_tables import AuditAction

STAFF_ROLES = ("admin", "referente")


def auth_service(request: Request) -> AuthService:
    """The app's :class:`AuthService` (``app.state.auth``), created on first use if the app has none."""
    service = getattr(request.app.state, "auth", None)
    if service is None:
        state = request.app.state
        service = AuthService(state.store, community=getattr(state, "community", None))
        state.auth = service
    return service


def principal(request: Request) -> Principal | None:
    """The logged-in person (Bearer header or session cookie), or ``None``."""
    token = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip() or token
    return auth_service(request).principal_for_token(token) if token else None


def login(request: Request, response: Response, username: str, password: str) -> Principal | None:
    """Check the credentials; on success set the session cookie and return the principal, else ``None``."""
    service = auth_service(request)
    try:
        token, who = service.login(username, password, ip=request.client.host if request.client else None)
    except AuthError:
        return None
    set_session_cookie(
        response,
        token,
        secure=request.url.scheme == "https",
        max_age_s=int(service.session_ttl.total_seconds()),
    )
    return who


def logout(request: Request, response: Response) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth_service(request).logout(token)
    clear_session_cookie(response)


def is_staff(who: Principal) -> bool:
    return who.role in STAFF_ROLES


def can_see_member(request: Request, who: Principal, member_id: str, community: Any) -> bool:
    """Staff: any member of the community; a member: only themself. Refusals are audited."""
    exists = any(m.id == member_id for m in community.members)
    allowed = exists and (is_staff(who) or (who.role == "member" and who.member_id == member_id))
    if not allowed:
        audit(request, who, AuditAction.ACCESS_DENIED, f"member:{member_id}"[:256])
    return allowed


def audit(
    request: Request, who: Principal, action: str, target: str | None = None, detail: dict | None = None
) -> None:
    auth_service(request).audit(
        who.username,
        action,
        target,
        {"path": request.url.path, **(detail or {})},
        request.client.host if request.client else None,
        community=who.community,  # the entry is the community's of whoever acted (None: a platform admin)
    )
