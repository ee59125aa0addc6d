"""FastAPI dependencies for people and platforms, and a small login/logout router.

How an app uses them (``condivisa.app.http_app.create_app`` and the dashboard)::

    from condivisa.auth import AuthService
    from condivisa.auth.deps import install_auth, current_principal, require_role, require_member_access

    install_auth(app, AuthService(store, community=community))      # app.state.auth + /api/v1/auth/*

    @app.get("/api/v1/members/{member_id}/statement")
    def statement(member_id: str, who: Principal = Depends(require_member_access)): ...

Rules:
- a caller is identified by ``Authorization: Bearer <token>`` or the ``condivisa_session`` cookie;
  no/invalid/expired/revoked token -> **401** with ``WWW-Authenticate: Bearer``;
- a valid caller without the role -> **403** ``forbidden``;
- a member asking for another member's or POD's data gets **404** ``not found``, exactly what an absent
  member/POD gets (``NOT_FOUND``), so a response never reveals whether someone else's POD exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from condivisa.auth.principal import PLATFORM_ROLE, Principal
from condivisa.auth.service import AuthError, AuthService
from condivisa.store.auth_tables import AuditAction, Role

SESSION_COOKIE = "condivisa_session"
NOT_FOUND = "not found"
FORBIDDEN = "forbidden"

_bearer = HTTPBearer(
    auto_error=False, description="a session token from /api/v1/auth/login or a platform API token"
)
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the dashboard's session cookie")


def get_auth_service(request: Request) -> AuthService:
    """The app's :class:`AuthService` (``app.state.auth``, set by :func:`install_auth`)."""
    service = getattr(request.app.state, "auth", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "authentication is not configured")
    return service


def token_from_request(bearer: HTTPAuthorizationCredentials | None, cookie: str | None) -> str | None:
    if bearer is not None and bearer.scheme.lower() == "bearer" and bearer.credentials:
        return bearer.credentials
    return cookie or None


def optional_principal(
    service: Annotated[AuthService, Depends(get_auth_service)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal | None:
    """The caller, or ``None`` when anonymous or the token is not valid (pages that redirect to login)."""
    return service.principal_for_token(token_from_request(bearer, cookie))


def current_principal(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    """The caller; **401** when there is no valid token. Also kept in ``request.state.principal`` so that an
    endpoint can pass its write scope (``principal.may_write``) to ``ingest_payload``."""
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "not authenticated", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal
    return principal


def require_writer(
    request: Request,
    service: Annotated[AuthService, Depends(get_auth_service)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """May push readings: a platform API token (within its PODs/DUs, checked line by line at ingestion) or an
    admin; anyone else gets **403**."""
    if principal.role not in (Role.ADMIN, PLATFORM_ROLE):
        raise _deny(request, service, principal, "write", 403, FORBIDDEN)
    return principal


def _deny(
    request: Request, service: AuthService, principal: Principal, target: str, code: int, detail: str
) -> HTTPException:
    service.audit(
        principal.username,
        AuditAction.ACCESS_DENIED,
        target,
        {"path": request.url.path},
        request.client.host if request.client else None,
        community=principal.community,
    )
    return HTTPException(code, detail)


def require_role(*roles: str) -> Callable[..., Principal]:
    """Dependency factory: the caller must have one of ``roles`` (**403** otherwise)."""
    allowed = frozenset(str(r) for r in roles)

    def dependency(
        request: Request,
        service: Annotated[AuthService, Depends(get_auth_service)],
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.role not in allowed:
            raise _deny(request, service, principal, f"role:{','.join(sorted(allowed))}", 403, FORBIDDEN)
        return principal

    return dependency


def require_member_access(
    member_id: str,
    request: Request,
    service: Annotated[AuthService, Depends(get_auth_service)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """Path parameter ``member_id``: staff may read any member, a member only themself; anyone else gets
    **404** ``not found`` (the same as for an absent member)."""
    if not principal.can_read_member(member_id):
        raise _deny(request, service, principal, f"member:{member_id}"[:256], 404, NOT_FOUND)
    return principal


def require_pod_access(
    pod: str,
    request: Request,
    service: Annotated[AuthService, Depends(get_auth_service)],
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """Path parameter ``pod``: staff may read any POD, a member only their own PODs (and their plants');
    otherwise **404** ``not found``, the same as for a POD that does not exist."""
    if not service.can_read_pod(principal, pod):
        raise _deny(request, service, principal, f"pod:{pod}"[:256], 404, NOT_FOUND)
    return principal


def set_session_cookie(response: Response, token: str, *, secure: bool, max_age_s: int) -> None:
    """HttpOnly, SameSite=Lax cookie (Secure over HTTPS) carrying the session token."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age_s, httponly=True, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str
    token_type: str = "bearer"
    username: str
    role: str
    member_id: str | None = None


class Me(BaseModel):
    username: str
    role: str
    member_id: str | None = None
    token_kind: str


def auth_router() -> APIRouter:
    """``POST /api/v1/auth/login`` (JSON; also sets the session cookie), ``POST /api/v1/auth/logout``,
    ``GET /api/v1/auth/me``."""
    router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    @router.post(
        "/login", response_model=LoginResponse, responses={401: {"description": "invalid credentials"}}
    )
    def login(
        body: LoginRequest,
        request: Request,
        response: Response,
        service: Annotated[AuthService, Depends(get_auth_service)],
    ) -> LoginResponse:
        try:
            token, who = service.login(
                body.username, body.password, ip=request.client.host if request.client else None
            )
        except AuthError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
            ) from None
        set_session_cookie(
            response,
            token,
            secure=request.url.scheme == "https",
            max_age_s=int(service.session_ttl.total_seconds()),
        )
        return LoginResponse(token=token, username=who.username, role=who.role, member_id=who.member_id)

    @router.post("/logout", status_code=204, response_class=Response)
    def logout(
        service: Annotated[AuthService, Depends(get_auth_service)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_cookie)],
    ) -> Response:
        token = token_from_request(bearer, cookie)
        if token:
            service.logout(token)
        out = Response(status_code=204)
        clear_session_cookie(out)
        return out

    @router.get("/me", response_model=Me, responses={401: {"description": "not authenticated"}})
    def me(principal: Annotated[Principal, Depends(current_principal)]) -> Me:
        return Me(
            username=principal.username,
            role=principal.role,
            member_id=principal.member_id,
            token_kind=str(principal.token_kind),
        )

    return router


def install_auth(app: FastAPI, service: AuthService, *, with_router: bool = True) -> None:
    """Attach ``service`` to ``app`` (``app.state.auth``) and include the login/logout router."""
    app.state.auth = service
    if with_router:
        app.include_router(auth_router())
