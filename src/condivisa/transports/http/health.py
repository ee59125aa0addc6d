"""``GET /healthz``: does the database answer, is the MQTT worker connected — without waiting for anyone
(issue #13: a writer's long transaction or three big pushes once held it up for 15-24 s)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

#: seconds ``/healthz`` waits for the database before reporting it ``busy``
HEALTHZ_DATABASE_TIMEOUT_S = 2.0
#: the health check's own threads: a busy request threadpool (sync routes) cannot starve it
_HEALTH_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="condivisa-healthz")


def database_health(store: Any) -> str:
    """``"ok"`` when the store answers a read. The read is DEFERRED on SQLite (WAL readers never wait for a
    writer's lock), so a long write transaction does not hold the health check up."""
    import sqlalchemy as sa

    with store.read() as conn:
        conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return "ok"


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers a read within :data:`HEALTHZ_DATABASE_TIMEOUT_S` (else 503, database
    ``busy``); also says whether the MQTT worker is connected. Nothing of it runs on the event loop or in the
    request threadpool, so neither long pushes nor a writer holding the lock make it wait."""
    store = request.app.state.store
    out: dict[str, Any] = {"status": "ok"}
    try:
        check = asyncio.wrap_future(_HEALTH_THREADS.submit(database_health, store))
        out["database"] = await asyncio.wait_for(check, HEALTHZ_DATABASE_TIMEOUT_S)
    except TimeoutError:
        out.update(status="error", database=f"busy: no answer within {HEALTHZ_DATABASE_TIMEOUT_S:g} s")
    except Exception as exc:  # reported, not raised: this is the health check
        out.update(status="error", database=f"error: {type(exc).__name__}")
    worker = getattr(request.app.state, "mqtt_worker", None)
    out["mqtt"] = "n/a" if worker is None else worker.health  # connected, disconnected or session lost
    return JSONResponse(out, status_code=200 if out["status"] == "ok" else 503)


def healthz_router() -> APIRouter:
    """``GET /healthz`` (no prefix, no authentication)."""
    router = APIRouter()
    router.add_api_route("/healthz", healthz, methods=["GET"], tags=["ops"])
    return router
