"""The SCPS UrbanDatasetGateway's wire format: the ``{code, message}`` answer, the JSON request bodies and the
``Authorization: Bearer`` caller (the code table is in :mod:`condivisa.transports.http.gateway`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError

bearer = HTTPBearer(auto_error=False, description="token from /UrbanDatasetGateway/login")


def answer(code: str, message: str, status_code: int = 200, **extra: object) -> JSONResponse:
    """``{code, message, **extra}``; a 401 also carries ``WWW-Authenticate: Bearer``."""
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status_code, headers=headers)


def denied() -> JSONResponse:
    """Code 01, HTTP 401: the request had no valid bearer token."""
    return answer("01", "Authentication failed", 401, detail="send Authorization: Bearer <token> from /login")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LoginBody(_Body):
    username: str
    password: str


class ResourceBody(_Body):
    resource_id: str


class TimestampBody(ResourceBody):
    timestamp: str


class SearchBody(ResourceBody):
    period_start: str | None = None
    period_end: str | None = None
    center_latitude: str | None = None
    center_longitude: str | None = None
    distance: str | None = None
    property_label: str | None = None
    property_value: str | None = None
    property_name: str | None = None


Body = TypeVar("Body", bound=BaseModel)


async def read_json(request: Request, model: type[Body]) -> Body | JSONResponse:
    """The request's JSON body as ``model`` (an empty body is ``{}``), or the code 02 answer naming each
    field error."""
    try:
        raw = await request.body()
        return model.model_validate(json.loads(raw or b"{}"))
    except (ValueError, ValidationError) as exc:
        errs = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errs)
        return answer("02", "Invalid request", detail=detail)


@dataclass(frozen=True)
class GatewayCaller:
    """Who holds a gateway token, and what they may do: the same scopes as ``/api/v1``.

    ``may_write(pod=, du=)`` is the write scope of a push (None: this caller may not push at all — people
    never push, platforms do); ``can_read(pod)`` says whether the caller may read a POD's readings."""

    name: str
    may_write: Callable[..., bool] | None
    can_read: Callable[[str], bool]


def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> GatewayCaller | None:
    """Who the bearer token was given to (``app.state.gateway_auth``), or None."""
    return request.app.state.gateway_auth.caller(credentials.credentials if credentials else None)


#: the caller (None without a valid bearer token), as a route parameter
Caller = Annotated[GatewayCaller | None, Depends(caller)]
#: the bearer credentials as sent, as a route parameter
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
