"""SCPS Communication 2.0 ``UrbanDatasetGateway`` on condivisa, so an existing SCPS client works unchanged.

Paths, request and response fields follow the public Communication 2.0 OpenAPI (ENEA SCPS): JSON bodies, POST
(``/test`` also GET), ``Authorization: Bearer <token>`` after ``/login``. Answers always carry ``code`` and
``message``. Communication 2.0's full code table is not public; codes "00" and "03" are as seen in SCPS
implementations, the others are condivisa's choice (see ``docs/rest-api.md``):

====  ==============================  =====
code  meaning                         HTTP
====  ==============================  =====
00    Successful                      200
01    Authentication failed           401
02    Invalid request / UrbanDataset  200 (``detail`` lists each field error)
03    Request-Response Successful     200
04    No data found                   200
05    Too many results                200
06    Operation not permitted         200
99    Internal error (store down)     503
====  ==============================  =====

Reads rebuild M1/M2 UrbanDatasets from the store. ``resource_id`` selects the PODs: a POD code or a DU id of
the community selects that POD; any other ResourceID (``SCP-1_<Solution>-1_<UD>-2.0_<ts>``) selects all.
Timestamps in requests are ``YYYY-MM-DDThh:mm:ss`` Europe/Rome civil time (an explicit offset is honoured).
Coordinates/distance filters are accepted and ignored: condivisa keeps no coordinates per line.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Annotated, Protocol, TypeVar

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError

from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.emit import build_dataset
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME, to_utc
from condivisa.transports.http.api import HttpIngest
from condivisa.transports.http.body import read_body

MAX_LINES = 100_000
_bearer = HTTPBearer(auto_error=False, description="token from /UrbanDatasetGateway/login")


def answer(code: str, message: str, status_code: int = 200, **extra: object) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status_code, headers=headers)


class _Named(Protocol):
    @property
    def username(self) -> str: ...


class LoginService(Protocol):
    """The people's logins the gateway also accepts (:class:`condivisa.auth.service.AuthService`):
    ``login`` raises on wrong credentials."""

    def login(self, username: str, password: str) -> tuple[str, object]: ...
    def principal_for_token(self, token: str) -> _Named | None: ...
    def logout(self, token: str) -> object: ...


class GatewayAuth:
    """Gateway logins: the users in ``settings.gateway_users`` (constant-time password check, random opaque
    tokens kept in memory with a TTL) and, when the app has a :mod:`condivisa.auth` service, its users too."""

    def __init__(self, users: dict[str, str], ttl_s: int, service: LoginService | None = None) -> None:
        self._users, self._ttl_s, self._service = dict(users), ttl_s, service
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def login(self, username: str, password: str) -> str | None:
        expected = self._users.get(username)
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            token = secrets.token_urlsafe(32)
            with self._lock:
                self._tokens[token] = (username, time.monotonic() + self._ttl_s)
            return token
        if self._service is not None:
            try:
                token, _ = self._service.login(username, password)
                return token
            except Exception:  # AuthError: wrong credentials
                return None
        return None

    def username(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._lock:
            hit = self._tokens.get(token)
            if hit is not None:
                if hit[1] > time.monotonic():
                    return hit[0]
                del self._tokens[token]
        if self._service is not None:
            principal = self._service.principal_for_token(token)
            return principal.username if principal is not None else None
        return None

    def logout(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)
        if self._service is not None:
            try:
                self._service.logout(token)
            except Exception:  # already revoked or unknown
                pass


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


def _token(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str | None:
    return request.app.state.gateway_auth.username(bearer.credentials if bearer else None)


Body = TypeVar("Body", bound=BaseModel)
#: ``(start, end, (property, value) filter or None, every dataset or only the last)`` of a read request
Window = tuple[pd.Timestamp, pd.Timestamp, tuple[str, str] | None, bool]


async def _json(request: Request, model: type[Body]) -> Body | JSONResponse:
    try:
        raw = await request.body()
        return model.model_validate(json.loads(raw or b"{}"))
    except (ValueError, ValidationError) as exc:
        errs = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errs)
        return answer("02", "Invalid request", detail=detail)


def _instant(text: str | None) -> pd.Timestamp | None:
    """An SCPS instant (ISO; naive = Europe/Rome civil time), or None."""
    return pd.Timestamp(to_utc(text, naive_is="rome")).tz_convert(ROME) if text else None


def _pods_for(request: Request, resource_id: str) -> list[str] | None:
    """The PODs a ResourceID selects (see the module docstring); None = all."""
    community = request.app.state.community
    if community is None:
        return [resource_id] if resource_id.startswith("IT") and "_" not in resource_id else None
    if resource_id in community.all_pods:
        return [resource_id]
    pods = [d.pod for d in community.devices if d.id == resource_id]
    return pods or None


def _rows(request: Request, pods: list[str] | None, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every stored column of the selected PODs' readings in ``[start, end)`` (both meters)."""
    return request.app.state.store.measurements(pods, start, end)


def _datasets(rows: pd.DataFrame, producer: str, filt: tuple[str, str] | None = None) -> list[dict]:
    """One UrbanDataset per meter kind (M1, M2) per civil day of the rows, lines in time order."""
    if filt is not None:
        field = {"PODID": "pod", "UserDeviceID": "du_id"}.get(filt[0])
        if field is None:
            return []
        rows = rows[rows[field].astype(str) == filt[1]]
    if rows.empty:
        return []
    rows = rows.sort_values(["start", "pod"])
    days = pd.to_datetime(rows["start"]).dt.tz_convert(ROME).dt.date
    keep = [
        "pod",
        "du_id",
        "start",
        "withdrawn_kwh",
        "injected_kwh",
        "withdrawn_total_kwh",
        "injected_total_kwh",
    ]
    out = []
    for (_day, meter), group in rows.groupby([days, rows["meter"]], sort=True):
        readings = [
            {k: (None if pd.isna(v) else v) for k, v in rec.items()} for rec in group[keep].to_dict("records")
        ]
        for rec in readings:
            rec["start"] = pd.Timestamp(rec["start"]).to_pydatetime()
        profile = prof.M2.id if meter == "M2" else prof.M1.id
        out.append(build_dataset(readings, producer_id=producer, profile_id=profile))
    return out


Caller = Annotated[str | None, Depends(_token)]
Read = TypeVar("Read", bound=ResourceBody)


def gateway_router(
    *, ingest: HttpIngest, max_body_bytes: int, producer_id: str, prefix: str = "/UrbanDatasetGateway"
) -> APIRouter:
    """The gateway's routes: ``ingest`` stores a pushed body (as for ``/api/v1``), ``max_body_bytes`` bounds
    it, ``producer_id`` names the producer of the datasets the reads rebuild."""
    router = APIRouter(prefix=prefix, tags=["SCPS UrbanDatasetGateway"])

    def denied() -> JSONResponse:
        return answer(
            "01", "Authentication failed", 401, detail="send Authorization: Bearer <token> from /login"
        )

    @router.post("/login")
    async def login(request: Request) -> JSONResponse:
        """``{username, password}`` → ``{code, message, token}``."""
        body = await _json(request, LoginBody)
        if isinstance(body, JSONResponse):
            return body
        token = request.app.state.gateway_auth.login(body.username, body.password)
        if token is None:
            return answer("01", "Authentication failed", 401)
        return answer("00", "Successful", token=token)

    @router.post("/logout")
    def logout(
        user: Caller,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        request: Request,
    ) -> JSONResponse:
        if user is None or bearer is None:  # a user is known by its bearer token
            return denied()
        request.app.state.gateway_auth.logout(bearer.credentials)
        return answer("00", "Successful")

    @router.post("/isAlive")
    def is_alive(user: Caller) -> JSONResponse:
        return denied() if user is None else answer("00", "Successful", username=user)

    @router.post("/test")
    def test() -> JSONResponse:
        """No authentication: is the gateway up?"""
        return answer("00", "Successful")

    @router.get("/test", operation_id="test_get")
    def test_get() -> JSONResponse:
        return answer("00", "Successful")

    @router.post("/push")
    async def push(request: Request, user: Caller) -> JSONResponse:
        """``{resource_id, dataset: {"UrbanDataset": …}}`` → stored through the one ingestion path."""
        if user is None:
            return denied()
        raw = await read_body(request, max_body_bytes)
        try:
            res = await ingest(raw, f"scps:/push:{user}"[:200], None)
        except Exception as exc:  # the store is down: nothing was stored, the client must retry
            return answer("99", "Internal error", 503, detail=f"store unavailable: {type(exc).__name__}")
        counts = (
            f"stored {res.get('stored', 0)}, duplicates {res.get('duplicates', 0)}, "
            f"revised {res.get('revised', 0)}"
        )
        if not res.get("accepted"):
            reasons = "; ".join(f"{r['path']}: {r['reason']}" for r in res.get("rejected") or [])
            return answer("02", "Invalid UrbanDataset", detail=reasons or "rejected")
        return answer("00", "Successful", detail=counts)

    async def _read(
        request: Request, user: str | None, model: type[Read], window: Callable[[Read], Window]
    ) -> JSONResponse:
        if user is None:
            return denied()
        body = await _json(request, model)
        if isinstance(body, JSONResponse):
            return body
        try:
            start, end, filt, many = window(body)
        except ValueError as exc:
            return answer("02", "Invalid request", detail=str(exc))
        rows = _rows(request, _pods_for(request, body.resource_id), start, end)
        if len(rows) > MAX_LINES:
            return answer("05", "Too many results", detail=f"more than {MAX_LINES} lines: narrow the period")
        sets = _datasets(rows, producer_id, filt)
        if not sets:
            return answer("04", "No data found")
        return answer("03", "Request-Response Successful", dataset=sets if many else sets[-1])

    def _last_day(body: ResourceBody) -> Window:
        end = pd.Timestamp(clock.now()).tz_convert(ROME)
        return end - pd.Timedelta(days=1), end, None, True

    def _specific(body: TimestampBody) -> Window:
        t = _instant(body.timestamp)
        if t is None:
            raise ValueError("timestamp: missing")
        return t, t + pd.Timedelta(minutes=15), None, False

    def _search(body: SearchBody) -> Window:
        end = _instant(body.period_end) or pd.Timestamp(clock.now()).tz_convert(ROME)
        start = _instant(body.period_start) or end - pd.Timedelta(days=1)
        if start >= end:
            raise ValueError(f"period_start {body.period_start} is not before period_end {body.period_end}")
        name = body.property_label or body.property_name
        filt = (name, body.property_value) if name and body.property_value is not None else None
        return start, end, filt, True

    @router.post("/basicRequest")
    async def basic_request(request: Request, user: Caller) -> JSONResponse:
        """The datasets of the last 24 hours (one per civil day and meter)."""
        return await _read(request, user, ResourceBody, _last_day)

    @router.post("/lastRequest")
    async def last_request(request: Request, user: Caller) -> JSONResponse:
        """The most recent dataset of the last 24 hours."""
        return await _read(request, user, ResourceBody, _last_day)

    @router.post("/specificRequest")
    async def specific_request(request: Request, user: Caller) -> JSONResponse:
        """The quarter hour starting at ``timestamp``."""
        return await _read(request, user, TimestampBody, _specific)

    @router.post("/searchingRequest")
    async def searching_request(request: Request, user: Caller) -> JSONResponse:
        """Datasets within ``[period_start, period_end)`` (default: the last 24 hours)."""
        return await _read(request, user, SearchBody, _search)

    @router.post("/deepSearchingRequest")
    async def deep_searching_request(request: Request, user: Caller) -> JSONResponse:
        """As searchingRequest, keeping only lines whose ``property_label`` (PODID, UserDeviceID) "
        "equals ``property_value``."""
        return await _read(request, user, SearchBody, _search)

    @router.post("/searchingByPropertyRequest")
    async def searching_by_property_request(request: Request, user: Caller) -> JSONResponse:
        """As searchingRequest, keeping only lines whose ``property_name`` equals ``property_value``."""
        return await _read(request, user, SearchBody, _search)

    @router.post("/delete")
    async def delete(request: Request, user: Caller) -> JSONResponse:
        """Not permitted: measurements feed the settlement and are kept for audit (code 06)."""
        if user is None:
            return denied()
        return answer(
            "06", "Operation not permitted", detail="measurements are kept for the settlement and its audit"
        )

    return router
