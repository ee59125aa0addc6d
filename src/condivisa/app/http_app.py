"""The platform's HTTP app: ``create_app(settings) -> FastAPI``.

- ``/api/v1/...``: push UrbanDatasets, read measurements, devices, dead letters
  (:mod:`condivisa.transports.http.api`);
- ``/UrbanDatasetGateway/...``: the SCPS Communication 2.0 gateway (:mod:`condivisa.transports.http.gateway`);
- every push is stored by one :class:`~condivisa.ingest.group_commit.GroupCommitter`
(``app.state.committer``):
  concurrent pushes share a transaction, each is answered after the commit;
- people/platform authentication (:mod:`condivisa.auth`): ``/api/v1/auth/login`` …; with
  ``api_auth_required`` (the default) its dependencies guard the ``/api/v1`` routes;
- the dashboard (:mod:`condivisa.web.routes`);
- ``/healthz``; OpenAPI docs at ``/docs`` and ``/openapi.json``;
- around all of it (:mod:`condivisa.transports.http.headers`): requests naming another ``Host`` than
  ``settings.http_allowed_hosts()`` get 400; ``X-Forwarded-For``/``-Proto`` are believed only from
  ``settings.trusted_proxies`` (so the client address in the audit log is the peer's otherwise); every answer
  carries the browser security headers and, unless the route says otherwise, ``Cache-Control: no-store``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, params
from starlette.concurrency import run_in_threadpool

from condivisa import __version__
from condivisa.app.settings import Settings, load_settings
from condivisa.auth import deps
from condivisa.auth.principal import Principal
from condivisa.auth.scope import scope_for
from condivisa.auth.service import AuthService
from condivisa.auth.tenants import Tenants
from condivisa.domain.community import Community
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset.types import FieldError
from condivisa.ingest.group_commit import GroupCommitter
from condivisa.ingest.pipeline import IngestResult, PreparedMessage, prepare_payload
from condivisa.kernel import clock
from condivisa.store.auth_tables import TokenKind
from condivisa.store.store import Store
from condivisa.transports.http.api import HttpIngest, HttpRefuse, api_router
from condivisa.transports.http.api_docs import install_api_docs
from condivisa.transports.http.gateway import GatewayAuth, gateway_router
from condivisa.transports.http.gateway_protocol import GatewayCaller
from condivisa.transports.http.headers import HostGuard, SecurityHeaders
from condivisa.transports.http.health import healthz_router
from condivisa.transports.http.scope import EVERYTHING, RequestScope
from condivisa.transports.mqtt.worker import IngestWorker
from condivisa.web.data import DashboardFiles
from condivisa.web.routes import router as dashboard_router

log = logging.getLogger(__name__)

__all__ = ["create_app", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store at ``settings.database_url``, migrated; a relative SQLite file's folder is created."""
    url = settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url)
    store.upgrade()
    return store


def http_ingest(committer: GroupCommitter) -> HttpIngest:
    """The transports' ingest callable: prepare in a worker thread (no database), then store through the
    group committer; the answer as a dict, after the commit."""

    async def ingest(raw: bytes, source: str, may_write: Callable[..., bool] | None) -> dict[str, Any]:
        prepared = await run_in_threadpool(
            prepare_payload, raw, source=source, received_at=clock.now(), may_write=may_write
        )
        return (await committer.store_async(prepared)).to_dict()

    return ingest


def http_refuse(committer: GroupCommitter) -> HttpRefuse:
    """The transports' refusal callable: keep the first bytes of a body refused before parsing (the caller
    gives at most :data:`~condivisa.transports.http.body.REFUSED_HEAD_BYTES`) with the reason, as a dead
    letter stored through the group committer; its id."""

    async def refuse(head: bytes, source: str, reason: str) -> int | None:
        message = PreparedMessage(
            bytes(head),
            source[:200],
            None,
            clock.now(),
            IngestResult(False),
            errors=[FieldError("$", reason)],
        )
        return (await committer.store_async(message)).dead_letter_id

    return refuse


def gateway_caller(service: AuthService) -> Callable[[str], GatewayCaller | None]:
    """How the SCPS gateway sees a token of the platform's own: the principal ``/api/v1`` would see, with the
    same scopes. People (session tokens) read what they may read on the dashboard and never push; a platform
    API token pushes only its PODs/DUs (:meth:`~condivisa.auth.principal.Principal.may_write`) within its
    community and reads only its PODs (or the PODs its DUs read)."""

    def resolve(token: str) -> GatewayCaller | None:
        principal = service.principal_for_token(token)
        if principal is None:
            return None
        if principal.token_kind != TokenKind.API:
            return GatewayCaller(principal.username, None, lambda pod: service.can_read_pod(principal, pod))
        community = service.community_of(principal.community)
        du_pods = {d.id: d.pod for d in community.devices} if community is not None else {}
        pods = set(principal.scope_pods or ()) | {
            du_pods[d] for d in principal.scope_dus or () if d in du_pods
        }
        if principal.community is not None and community is not None:
            pods &= set(community.all_pods)
        return GatewayCaller(principal.username, _writer(principal, community), pods.__contains__)

    return resolve


def _writer(principal: Principal, community: Community | None) -> Callable[..., bool]:
    """``principal.may_write``, and for a token bound to a community, only that community's PODs."""
    if principal.community is None or community is None:
        return principal.may_write
    own = frozenset(community.all_pods)

    def may_write(*, pod: str | None = None, du: str | None = None) -> bool:
        return pod in own and principal.may_write(pod=pod, du=du)

    return may_write


def install_tenancy(app: FastAPI, tenants: Tenants, auth_required: bool) -> None:
    """What the transports read of the communities served (plain callables on ``app.state``):
    ``request_scope(request)`` (:func:`condivisa.auth.scope.scope_for` of the request's caller),
    ``served_pod(pod)`` (a POD of some community served, or no community at all),
    ``resource_pods(id, can_read)`` (the POD a POD code or DU id names across the communities, for the SCPS
    gateway; with ``can_read``, only in the communities the caller reads some POD of, so another community's
    id selects what an unknown one does)."""

    def request_scope(request: Any) -> RequestScope:
        if not auth_required:
            return EVERYTHING
        return scope_for(getattr(request.state, "principal", None), tenants)

    def served(pod: str) -> bool:
        slugs = tenants.slugs()
        return not slugs or any(pod in c.all_pods for s in slugs if (c := tenants.get(s)) is not None)

    def resource_pods(resource_id: str, can_read: Callable[[str], bool] | None = None) -> list[str] | None:
        for slug in tenants.slugs():
            community = tenants.get(slug)
            if community is None:
                continue
            if can_read is not None and not any(can_read(p) for p in community.all_pods):
                continue  # a community the caller reads nothing of: its ids are as unknown ones
            if resource_id in community.all_pods:
                return [resource_id]
            pods = [d.pod for d in community.devices if d.id == resource_id]
            if pods:
                return pods
        return None

    app.state.tenants = tenants
    app.state.request_scope = request_scope
    app.state.served_pod = served
    app.state.resource_pods = resource_pods


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    community: Community | None = None,
    mqtt_worker: IngestWorker | None = None,
) -> FastAPI:
    """Build the app. ``store`` defaults to :func:`open_store`; ``community`` to ``settings.community_file``
    (its DUs are registered in the store); ``mqtt_worker`` enables downlink commands and the MQTT line of
    ``/healthz``."""
    settings = settings or load_settings()
    if store is None:
        store = open_store(settings)
    if community is None and settings.community_file is not None:
        community = load_community(settings.community_file)
        store.register_devices(community)
    tenants = Tenants(
        store.engine, pinned=community, pinned_slug=settings.community_slug() if community else None
    )
    committer = GroupCommitter(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        committer.close()  # store what was submitted before the server stops

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc on local files (condivisa.transports.http.api_docs)
        redoc_url=None,  # both served by install_api_docs
        title="condivisa platform API",
        version=__version__,
        description="UrbanDataset ingestion (M1/M2ElectricUserDevice-2.0) and reads for an energy community; "
        "SCPS Communication 2.0 UrbanDatasetGateway under /UrbanDatasetGateway.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.committer = committer
    app.state.community = community
    app.state.mqtt_worker = mqtt_worker
    app.state.dashboard_files = DashboardFiles(
        community_file=settings.community_file,
        prices_file=settings.prices_file,
        case_summary_file=settings.case_summary_file,
    )
    service = AuthService(store, community=community, tenants=tenants)
    deps.install_auth(app, service)
    install_tenancy(app, tenants, settings.api_auth_required)
    read_deps: list[params.Depends] = []
    write_deps: list[params.Depends] = []
    pod_deps: list[params.Depends] = []
    if settings.api_auth_required:
        read_deps = [Depends(deps.require_role("admin", "referente"))]
        write_deps = [Depends(deps.require_writer)]
        pod_deps = [Depends(deps.require_pod_access)]
    app.state.gateway_auth = GatewayAuth(
        settings.gateway_users, settings.gateway_token_ttl_s, service, gateway_caller(service)
    )

    def use_community(new: Community) -> None:
        """The community file changed while serving (a member added from the dashboard,
        :mod:`condivisa.web.pages_members`): every holder of the community here sees the new one."""
        app.state.community = new
        service.community = new
        tenants.pin(new)

    app.state.use_community = use_community
    ingest, refuse = http_ingest(committer), http_refuse(committer)
    app.include_router(healthz_router())
    app.include_router(
        api_router(
            read_deps,
            write_deps,
            pod_deps,
            ingest=ingest,
            max_body_bytes=settings.max_body_bytes,
            refuse=refuse,
        )
    )
    app.include_router(
        gateway_router(
            ingest=ingest,
            max_body_bytes=settings.max_body_bytes,
            producer_id=settings.community_slug(),
            refuse=refuse,
        )
    )
    app.include_router(dashboard_router())
    install_api_docs(app)
    install_front_door(app, settings)
    return app


def install_front_door(app: FastAPI, settings: Settings) -> None:
    """The middlewares every request passes first (module docstring), outermost last: the Host check, the
    forwarded headers of trusted proxies, the security headers (so a 400 for a foreign Host carries them
    too)."""
    app.add_middleware(HostGuard, allowed=settings.http_allowed_hosts())
    if settings.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.add_middleware(SecurityHeaders)
