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

Reads rebuild M1/M2 UrbanDatasets from the store (:mod:`condivisa.transports.http.gateway_reads`); the
answer and the request bodies are in :mod:`condivisa.transports.http.gateway_protocol`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from condivisa.transports.http.api import HttpIngest, HttpRefuse, keep_refused
from condivisa.transports.http.body import BodyError, read_json_body
from condivisa.transports.http.gateway_protocol import (
    Bearer,
    Caller,
    GatewayCaller,
    LoginBody,
    answer,
    denied,
    read_json,
)
from condivisa.transports.http.gateway_reads import GatewayReads


class LoginService(Protocol):
    """The people's logins the gateway also accepts (:class:`condivisa.auth.service.AuthService`):
    ``login`` raises on wrong credentials (and applies its own lockout); ``guard_login`` runs a static
    user's password check under that same lockout, counted in the database (atomic across threads and
    processes) and audited."""

    def login(self, username: str, password: str) -> tuple[str, object]: ...
    def logout(self, token: str) -> object: ...
    def guard_login(self, username: str, check: Callable[[], bool]) -> bool: ...


#: wrong passwords of one static gateway user within :data:`LOCKOUT_WINDOW_S` that lock it until the window
#: has passed (the same rule as people's logins; this in-memory count is used only without a ``service``)
MAX_FAILED_LOGINS = 5
LOCKOUT_WINDOW_S = 15 * 60.0


def _anything(*_args: object, **_kwargs: object) -> bool:
    return True


class GatewayAuth:
    """Gateway logins: the users in ``settings.gateway_users`` (constant-time password check, random opaque
    tokens kept in memory with a TTL, locked after :data:`MAX_FAILED_LOGINS` wrong passwords in
    :data:`LOCKOUT_WINDOW_S`) and the platform's own people and API tokens (``service`` logs them in,
    ``resolve(token)`` gives their :class:`GatewayCaller` with the same scopes as ``/api/v1``).

    A static gateway user is the SCPS client the operator configured: it reads and writes every POD."""

    def __init__(
        self,
        users: dict[str, str],
        ttl_s: int,
        service: LoginService | None = None,
        resolve: Callable[[str], GatewayCaller | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users, self._ttl_s, self._service, self._resolve = dict(users), ttl_s, service, resolve
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _locked(self, username: str, now: float) -> bool:
        recent = [t for t in self._failures.get(username, []) if now - t < LOCKOUT_WINDOW_S]
        self._failures[username] = recent
        return len(recent) >= MAX_FAILED_LOGINS

    def login(self, username: str, password: str) -> str | None:
        """A token for a static gateway user or for one of the platform's people; None when refused."""
        expected = self._users.get(username)
        if expected is not None:
            if self._service is not None:  # the database's lockout, shared with people's logins
                if not self._service.guard_login(
                    username, lambda: hmac.compare_digest(expected.encode(), password.encode())
                ):
                    return None
                return self._issue(username)
            with self._lock:  # no database: count here, check and count under one lock
                if self._locked(username, self._clock()):
                    return None
                if not hmac.compare_digest(expected.encode(), password.encode()):
                    self._failures[username].append(self._clock())
                    return None
            return self._issue(username)
        if self._service is not None:
            try:
                token, _ = self._service.login(username, password)
                return token
            except Exception:  # AuthError: wrong credentials, or locked
                return None
        return None

    def _issue(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (username, self._clock() + self._ttl_s)
        return token

    def caller(self, token: str | None) -> GatewayCaller | None:
        """Who holds ``token``, with their scopes; None for no, an unknown or an expired token."""
        if not token:
            return None
        with self._lock:
            hit = self._tokens.get(token)
            if hit is not None:
                if hit[1] > self._clock():
                    return GatewayCaller(hit[0], _anything, _anything)
                del self._tokens[token]
        return self._resolve(token) if self._resolve is not None else None

    def logout(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)
        if self._service is not None:
            try:
                self._service.logout(token)
            except Exception:  # already revoked or unknown
                pass


async def login(request: Request) -> JSONResponse:
    """``{username, password}`` → ``{code, message, token}``."""
    body = await read_json(request, LoginBody)
    if isinstance(body, JSONResponse):
        return body
    # the password hash and the lockout's database round trips run off the event loop
    token = await run_in_threadpool(request.app.state.gateway_auth.login, body.username, body.password)
    if token is None:
        return answer("01", "Authentication failed", 401)
    return answer("00", "Successful", token=token)


def logout(user: Caller, bearer: Bearer, request: Request) -> JSONResponse:
    """Revoke the bearer token."""
    if user is None or bearer is None:  # a user is known by its bearer token
        return denied()
    request.app.state.gateway_auth.logout(bearer.credentials)
    return answer("00", "Successful")


def is_alive(user: Caller) -> JSONResponse:
    """Is the bearer token still valid? Answers with its username."""
    return denied() if user is None else answer("00", "Successful", username=user.name)


def test() -> JSONResponse:
    """No authentication: is the gateway up?"""
    return answer("00", "Successful")


def test_get() -> JSONResponse:
    """``GET /test``: as ``POST /test``."""
    return answer("00", "Successful")


def delete(user: Caller) -> JSONResponse:
    """Not permitted: measurements feed the settlement and are kept for audit (code 06)."""
    if user is None:
        return denied()
    return answer(
        "06", "Operation not permitted", detail="measurements are kept for the settlement and its audit"
    )


class GatewayPush:
    """``/push``: where a pushed body goes (``ingest``, as for ``/api/v1``), how large it may be and where a
    body refused before parsing is kept (``refuse``)."""

    def __init__(self, ingest: HttpIngest, max_body_bytes: int, refuse: HttpRefuse | None = None) -> None:
        self.ingest, self.max_body_bytes, self.refuse = ingest, max_body_bytes, refuse

    async def push(self, request: Request, user: Caller) -> JSONResponse:
        """``{resource_id, dataset: {"UrbanDataset": …}}`` → stored through the one ingestion path."""
        if user is None:
            return denied()
        if user.may_write is None:
            return answer(
                "06", "Operation not permitted", detail="people do not push readings: a platform does"
            )
        source = f"scps:/push:{user.name}"[:200]
        try:  # JSON only (415), inflated, parsed and stored off the event loop
            raw = await read_json_body(request, self.max_body_bytes)
        except BodyError as exc:
            letter = await keep_refused(self.refuse, exc, source)
            return answer("02", "Invalid request", exc.status_code, detail=exc.detail, dead_letter_id=letter)
        try:
            res = await self.ingest(raw, source, user.may_write)
        except Exception as exc:  # the store is down: nothing was stored, the client must retry
            return answer("99", "Internal error", 503, detail=f"store unavailable: {type(exc).__name__}")
        if not res.get("accepted"):
            reasons = "; ".join(f"{r['path']}: {r['reason']}" for r in res.get("rejected") or [])
            return answer("02", "Invalid UrbanDataset", detail=reasons or "rejected")
        counts = (
            f"stored {res.get('stored', 0)}, duplicates {res.get('duplicates', 0)}, "
            f"revised {res.get('revised', 0)}"
        )
        return answer("00", "Successful", detail=counts)


def gateway_router(
    *,
    ingest: HttpIngest,
    max_body_bytes: int,
    producer_id: str,
    prefix: str = "/UrbanDatasetGateway",
    refuse: HttpRefuse | None = None,
) -> APIRouter:
    """The gateway's routes: ``ingest`` stores a pushed body (as for ``/api/v1``), ``max_body_bytes`` bounds
    it, ``refuse`` keeps a refused one, ``producer_id`` names the producer of the datasets the reads
    rebuild."""
    push, reads = GatewayPush(ingest, max_body_bytes, refuse), GatewayReads(producer_id)
    router = APIRouter(prefix=prefix, tags=["SCPS UrbanDatasetGateway"])
    post = ["POST"]
    router.add_api_route("/login", login, methods=post)
    router.add_api_route("/logout", logout, methods=post)
    router.add_api_route("/isAlive", is_alive, methods=post)
    router.add_api_route("/test", test, methods=post)
    router.add_api_route("/test", test_get, methods=["GET"], operation_id="test_get")
    router.add_api_route("/push", push.push, methods=post)
    router.add_api_route("/basicRequest", reads.basic_request, methods=post)
    router.add_api_route("/lastRequest", reads.last_request, methods=post)
    router.add_api_route("/specificRequest", reads.specific_request, methods=post)
    router.add_api_route("/searchingRequest", reads.searching_request, methods=post)
    router.add_api_route("/deepSearchingRequest", reads.deep_searching_request, methods=post)
    router.add_api_route("/searchingByPropertyRequest", reads.searching_by_property_request, methods=post)
    router.add_api_route("/delete", delete, methods=post)
    return router
