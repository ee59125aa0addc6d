"""``/api/v1``: push UrbanDatasets (cloud to cloud) and read what the store holds.

The routes are given an :data:`HttpIngest` callable: the application's (:mod:`condivisa.app.http_app`)
prepares each body in a worker thread and stores it through the one batcher,
:class:`condivisa.ingest.group_commit.GroupCommitter` — concurrent requests share one transaction — and the
answer comes only after the store committed the data (or kept the rejected payload as a dead letter). When the
database
fails nothing is stored and the answer is 503 with ``Retry-After``: send the same body again.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request, params, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from condivisa.formats.csv_safe import safe_frame
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME, to_utc
from condivisa.transports.http.body import BodyError, read_json_body
from condivisa.transports.http.dead_letter_routes import dead_letters
from condivisa.transports.http.jsonable import records
from condivisa.transports.http.scope import request_scope

#: ``await ingest(raw, source, may_write)`` → the ingest answer as a dict, after the commit; raises what the
#: database raised (nothing stored). ``may_write(pod=, du=)`` is the sender's write scope, or None.
HttpIngest = Callable[[bytes, str, Callable[..., bool] | None], Awaitable[dict[str, Any]]]
#: ``await refuse(head, source, reason)`` keeps a body refused before parsing (too large, not JSON, broken
#: gzip) as a dead letter of at most its first bytes (``head``, :data:`~condivisa.transports.http.body.
#: REFUSED_HEAD_BYTES`) and the reason; returns the dead letter's id.
HttpRefuse = Callable[[bytes, str, str], Awaitable[int | None]]


async def keep_refused(refuse: HttpRefuse | None, exc: BodyError, source: str) -> int | None:
    """The dead letter of a refused body (:data:`HttpRefuse`), or None without ``refuse`` or when the store
    is down (the refusal is answered all the same)."""
    if refuse is None:
        return None
    try:
        return await refuse(exc.head, source, str(exc.detail))
    except Exception:  # the store is down: the sender still learns why the body was refused
        return None


class Rejection(BaseModel):
    path: str = Field(
        description="JSON path of the offending field, e.g. UrbanDataset.values.line[3].property[2].val"
    )
    reason: str


class IngestAnswer(BaseModel):
    """What happened to one pushed UrbanDataset; counts are quarter hours (lines)."""

    accepted: bool
    stored: int = 0
    duplicates: int = 0
    revised: int = 0
    rejected: list[Rejection] = []
    flags: list[dict[str, str]] = Field(
        default_factory=list,
        description="cross-check warnings (pod, start, code, detail): the data was stored anyway",
    )
    readings: int = Field(0, description="lines in the message")
    dead_letter_id: int | None = Field(None, description="id of the dead letter keeping a rejected payload")
    dataset_id: str | None = None
    producer_id: str | None = None
    resource_id: str | None = None


class MeasurementOut(BaseModel):
    start: dt.datetime = Field(description="interval start, Europe/Rome with offset")
    withdrawn_kwh: float
    injected_kwh: float


class PodMeasurements(BaseModel):
    pod: str
    start: dt.datetime
    end: dt.datetime
    measurements: list[MeasurementOut]


class Command(BaseModel):
    """A downlink command for a DU, published on its ``cmd`` topic."""

    model_config = {
        "extra": "allow",
        "json_schema_extra": {"examples": [{"cmd": "resend", "from": "2025-06-01T00:00:00+02:00"}]},
    }
    cmd: str = Field(min_length=1, max_length=64)


PUSH_OPENAPI: dict[str, object] = {
    "requestBody": {
        "required": True,
        "description": "One UrbanDataset (one or many DUs as lines), or an SCPS push body "
        "{resource_id, dataset}, as `Content-Type: application/json` (415 otherwise). Send "
        "`Content-Encoding: gzip` to compress it.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["UrbanDataset"],
                    "properties": {"UrbanDataset": {"type": "object"}},
                }
            }
        },
    }
}


def parse_instant(text: str | None, field: str) -> pd.Timestamp | None:
    """An ISO date or date-time; naive values are Europe/Rome civil time. Error 422 names the parameter."""
    if text is None or text == "":
        return None
    try:
        return pd.Timestamp(to_utc(text, naive_is="rome", name=field)).tz_convert(ROME)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["query", field],
                    "msg": f"{text!r} is not an ISO date or date-time",
                    "type": "value_error",
                }
            ],
        ) from None


def ingest_response(answer: dict[str, Any]) -> JSONResponse:
    """201 when something new was stored or revised, 200 when everything was a duplicate, 422 when rejected
    (``detail`` lists field-level errors in FastAPI's shape, the counts follow)."""
    body = IngestAnswer.model_validate(
        {k: answer.get(k) for k in IngestAnswer.model_fields if answer.get(k) is not None}
    )
    if not body.accepted:
        detail = [{"loc": r.path.split("."), "msg": r.reason, "type": "urbandataset"} for r in body.rejected]
        return JSONResponse(
            {"detail": detail, **body.model_dump()}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    code = status.HTTP_201_CREATED if (body.stored + body.revised) > 0 else status.HTTP_200_OK
    return JSONResponse(body.model_dump(), status_code=code)


PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": IngestAnswer, "description": "nothing new: every quarter hour was a duplicate"},
    503: {"description": "database unavailable: nothing stored, send again (Retry-After)"},
    413: {"description": "body too large"},
    400: {"description": "Content-Encoding gzip, but the body is not valid gzip"},
    415: {"description": "not Content-Type: application/json, or a Content-Encoding other than gzip"},
    422: {"description": "invalid UrbanDataset; `detail` has one entry per offending field"},
}
MEASUREMENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}},
    404: {"description": "not a POD of this community"},
}
MEASUREMENT_COLUMNS = ["pod", "start", "withdrawn_kwh", "injected_kwh"]

From = Annotated[
    str | None,
    Query(alias="from", description="ISO date/date-time (Europe/Rome if naive); default: `to` − 1 day"),
]
To = Annotated[str | None, Query(alias="to", description="ISO date/date-time, exclusive; default: now")]
Format = Annotated[
    Literal["json", "csv"], Query(description="json, or csv `pod,start,withdrawn_kwh,injected_kwh`")
]


class PushRoute:
    """``POST /api/v1/urbandatasets``: where a pushed body goes (``ingest``), how large it may be, and where
    a body refused before parsing is kept (``refuse``)."""

    def __init__(self, ingest: HttpIngest, max_body_bytes: int, refuse: HttpRefuse | None = None) -> None:
        self.ingest, self.max_body_bytes, self.refuse = ingest, max_body_bytes, refuse

    async def push_urbandataset(self, request: Request) -> JSONResponse:
        """Store one UrbanDataset (M1/M2ElectricUserDevice-2.0, one or many DUs as lines), sent as
        ``Content-Type: application/json`` (415 otherwise). Inflating, parsing and storing run off the event
        loop."""
        source = "rest:/api/v1/urbandatasets"
        try:
            raw = await read_json_body(request, self.max_body_bytes)
        except BodyError as exc:
            letter = await keep_refused(self.refuse, exc, source)
            return JSONResponse(
                {"detail": exc.detail, "accepted": False, "dead_letter_id": letter},
                status_code=exc.status_code,
            )
        # the sender, set by condivisa.auth when the API requires authentication
        principal = getattr(request.state, "principal", None)
        may_write = principal.may_write if principal is not None else None
        try:
            answer = await self.ingest(raw, source, may_write)
        except Exception as exc:  # the database failed: nothing of this body was stored
            return JSONResponse(
                {
                    "detail": f"store unavailable ({type(exc).__name__}): nothing was stored, "
                    "send the same body again"
                },
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
        return await run_in_threadpool(ingest_response, answer)


def pod_measurements(
    pod: str, request: Request, start: From = None, end: To = None, format: Format = "json"
) -> PodMeasurements | Response:
    """Quarter-hour measurements of one POD over ``[from, to)``."""
    served = getattr(request.app.state, "served_pod", None)
    if not request_scope(request).may_read_pod(pod) or (served is not None and not served(pod)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    t0, t1 = measurement_window(start, end)
    frame = request.app.state.store.measurements_frame(pods=[pod], start=t0, end=t1)
    frame = frame[frame["pod"] == pod].sort_values("start") if len(frame) else frame
    if format == "csv":
        return measurements_csv(pod, frame)
    rows = [
        MeasurementOut(
            start=pd.Timestamp(r.start).tz_convert(ROME).to_pydatetime(),
            withdrawn_kwh=float(r.withdrawn_kwh),
            injected_kwh=float(r.injected_kwh),
        )
        for r in frame.itertuples(index=False)
    ]
    return PodMeasurements(pod=pod, start=t0.to_pydatetime(), end=t1.to_pydatetime(), measurements=rows)


def measurement_window(start: str | None, end: str | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[from, to)`` of a measurements read: ``to`` defaults to now, ``from`` to one day before ``to``; 422
    when ``from`` is not before ``to``."""
    t1 = parse_instant(end, "to") or pd.Timestamp(clock.now()).tz_convert(ROME)
    t0 = parse_instant(start, "from") or (t1 - pd.Timedelta(days=1))
    if t0 >= t1:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["query", "from"],
                    "msg": f"from ({t0}) must be before to ({t1})",
                    "type": "value_error",
                }
            ],
        )
    return t0, t1


def measurements_csv(pod: str, frame: pd.DataFrame) -> Response:
    """The POD's measurements as a CSV download (``pod,start,withdrawn_kwh,injected_kwh``, Rome offsets)."""
    out = io.StringIO()
    view = frame[MEASUREMENT_COLUMNS].copy() if len(frame) else pd.DataFrame(columns=MEASUREMENT_COLUMNS)
    if len(view):
        view["start"] = pd.to_datetime(view["start"]).dt.tz_convert(ROME).map(lambda t: t.isoformat())
    safe_frame(view).to_csv(out, index=False)  # a POD text like "=HYPERLINK(...)" is not run (#13, 12)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{pod}.csv"'},
    )


def devices(request: Request) -> list[dict[str, Any]]:
    """Every known DU (of the caller's community) with the POD it reads and when the platform last heard
    from it."""
    scope = request_scope(request)
    rows = request.app.state.store.device_last_seen()
    return records([r for r in rows if scope.may_reach_du(r["du_id"])])


def send_command(du_id: str, command: Command, request: Request) -> dict[str, Any]:
    """Publish a downlink command to a DU (``.../du/<du_id>/cmd``, QoS 1), e.g. ask it to resend from T."""
    if not request_scope(request).may_reach_du(du_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    worker = getattr(request.app.state, "mqtt_worker", None)
    if worker is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no MQTT worker runs in this process")
    store = request.app.state.store
    with store.read() as conn:  # the command goes to the DU's own community's topic
        community = store.registry.device_communities(conn, [du_id]).get(du_id)
    try:
        worker.send_command(du_id, command.model_dump(), community=community)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {"queued": True, "topic": worker.layout.cmd(du_id, "du", community)}


def api_router(
    read_dependencies: Sequence[params.Depends] = (),
    write_dependencies: Sequence[params.Depends] = (),
    pod_dependencies: Sequence[params.Depends] = (),
    *,
    ingest: HttpIngest,
    max_body_bytes: int,
    refuse: HttpRefuse | None = None,
) -> APIRouter:
    """The ``/api/v1`` routes; the dependency lists are where :mod:`condivisa.auth` plugs in, ``ingest``
    stores a pushed body, ``max_body_bytes`` bounds it, ``refuse`` keeps a refused one."""
    push = PushRoute(ingest, max_body_bytes, refuse)
    router = APIRouter(prefix="/api/v1")
    router.add_api_route(
        "/urbandatasets",
        push.push_urbandataset,
        methods=["POST"],
        tags=["ingest"],
        response_model=IngestAnswer,
        status_code=201,
        responses=PUSH_RESPONSES,
        openapi_extra=PUSH_OPENAPI,
        dependencies=list(write_dependencies),
    )
    router.add_api_route(
        "/pods/{pod}/measurements",
        pod_measurements,
        methods=["GET"],
        tags=["read"],
        response_model=PodMeasurements,
        responses=MEASUREMENTS_RESPONSES,
        dependencies=list(pod_dependencies),
    )
    router.add_api_route(
        "/devices", devices, methods=["GET"], tags=["read"], dependencies=list(read_dependencies)
    )
    router.add_api_route(
        "/dead-letters", dead_letters, methods=["GET"], tags=["read"], dependencies=list(read_dependencies)
    )
    router.add_api_route(
        "/devices/{du_id}/commands",
        send_command,
        methods=["POST"],
        tags=["devices"],
        status_code=202,
        responses={503: {"description": "no MQTT worker in this process"}},
        dependencies=list(read_dependencies),
    )
    return router
