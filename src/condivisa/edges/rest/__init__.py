"""The platform's HTTP app: ``create_app(settings) -> FastAPI``.

- ``/api/v1/...``: push UrbanDatasets, read measurements, devices, dead letters (:mod:`.api`);
- ``/UrbanDatasetGateway/...``: the SCPS Communication 2.0 gateway (:mod:`.gateway`);
- every push is stored by one :class:`~condivisa.group_commit.GroupCommitter` (``app.state.committer``):
  concurrent pushes share a transaction, each is answered after the commit;
- ``/healthz``; OpenAPI docs at ``/docs`` and ``/openapi.json``;
- the dashboard, when :mod:`condivisa.web` is installed: ``condivisa.web.router(settings)`` is included;
- people/platform authentication, when :mod:`condivisa.auth` is installed: its service is attached
  (``/api/v1/auth/login`` …) and, with ``api_auth_required``, its dependencies guard the ``/api/v1`` routes.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from condivisa import __version__
from condivisa.edges.rest.api import api_router, healthz_router
from condivisa.edges.rest.gateway import GatewayAuth, gateway_router
from condivisa.group_commit import GroupCommitter
from condivisa.settings import Settings, load_settings

log = logging.getLogger(__name__)

__all__ = ["create_app", "open_store"]


def _optional_module(name: str) -> Any | None:
    """Import ``name`` if it exists; a module that exists but fails to import is an error, not hidden."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
            return None
        raise


def open_store(settings: Settings) -> Any:
    """The store at ``settings.database_url``, migrated; a relative SQLite file's folder is created."""
    from condivisa.edges.store import Store

    url = settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(url)
    store.upgrade()
    return store


def create_app(
    settings: Settings | None = None,
    *,
    store: Any = None,
    community: Any = None,
    mqtt_worker: Any = None,
) -> FastAPI:
    """Build the app. ``store`` defaults to :func:`open_store`; ``community`` to ``settings.community_file``
    (its DUs are registered in the store); ``mqtt_worker`` (an :class:`~condivisa.edges.mqtt.IngestWorker`)
    enables downlink commands and the MQTT line of ``/healthz``."""
    settings = settings or load_settings()
    if store is None:
        store = open_store(settings)
    if community is None and settings.community_file is not None:
        from condivisa.domain import load_community

        community = load_community(settings.community_file)
        store.register_devices(community)

    committer = GroupCommitter(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        committer.close()  # store what was submitted before the server stops

    app = FastAPI(
        lifespan=lifespan,
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

    read_deps: list[Any] = []
    write_deps: list[Any] = []
    pod_deps: list[Any] = []
    service = None
    auth = _optional_module("condivisa.auth")
    if auth is not None:
        deps = importlib.import_module("condivisa.auth.deps")
        service = auth.AuthService(store, community=community)
        deps.install_auth(app, service)
        if settings.api_auth_required:
            read_deps = [Depends(deps.require_role("admin", "referente"))]
            write_deps = [Depends(deps.require_writer)]
            pod_deps = [Depends(deps.require_pod_access)]
    elif settings.api_auth_required:
        raise RuntimeError("api_auth_required is set but condivisa.auth is not installed")
    app.state.gateway_auth = GatewayAuth(settings.gateway_users, settings.gateway_token_ttl_s, service)

    app.include_router(healthz_router())
    app.include_router(api_router(read_deps, write_deps, pod_deps))
    app.include_router(gateway_router())

    web = _optional_module("condivisa.web")
    if web is not None and hasattr(web, "router"):
        app.include_router(web.router(settings))
    return app
