"""The SCPS UrbanDatasetGateway's read requests: M1/M2 UrbanDatasets rebuilt from the store.

``resource_id`` selects the PODs: a POD code or a DU id of the community selects that POD; any other
ResourceID (``SCP-1_<Solution>-1_<UD>-2.0_<ts>``) selects all. Timestamps in requests are
``YYYY-MM-DDThh:mm:ss`` Europe/Rome civil time (an explicit offset is honoured). Coordinates/distance filters
are accepted and ignored: condivisa keeps no coordinates per line.

Answers follow the Communication 2.0 OpenAPI (API 2.0.0): the list verbs (basic, searching, deepSearching,
searchingByProperty) always carry ``dataset`` as a list (empty unless code 03); the single verbs (last,
specific) carry ``dataset`` as one UrbanDataset with code 03, and otherwise answer with an HTTP error status
(400 code 02, 404 code 04, 413 code 05) because their 200 answer must hold an UrbanDataset.
``lastRequest`` is the last UrbanDataset generated for the resource, whatever its age: the dataset (meter M1 or
M2, one civil day) holding the most recent reading the caller may read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.emit import build_dataset
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME, to_utc
from condivisa.store.models import Measurement
from condivisa.transports.http.gateway_protocol import (
    Caller,
    GatewayCaller,
    ResourceBody,
    SearchBody,
    TimestampBody,
    answer,
    denied,
    read_json,
)

MAX_LINES = 100_000
#: ``(start, end, (property, value) filter or None)`` of a read request
Window = tuple[pd.Timestamp, pd.Timestamp, tuple[str, str] | None]
#: the HTTP status of a single verb's answer without an UrbanDataset, by code
SINGLE_STATUS = {"02": 400, "04": 404, "05": 413}
Read = TypeVar("Read", bound=ResourceBody)
#: the stored columns a rebuilt UrbanDataset line carries
LINE_COLUMNS = [
    "pod",
    "du_id",
    "start",
    "withdrawn_kwh",
    "injected_kwh",
    "withdrawn_total_kwh",
    "injected_total_kwh",
]


def instant(text: str | None) -> pd.Timestamp | None:
    """An SCPS instant (ISO; naive = Europe/Rome civil time), or None."""
    return pd.Timestamp(to_utc(text, naive_is="rome")).tz_convert(ROME) if text else None


def last_day(body: ResourceBody) -> Window:
    """The last 24 hours."""
    end = pd.Timestamp(clock.now()).tz_convert(ROME)
    return end - pd.Timedelta(days=1), end, None


def specific(body: TimestampBody) -> Window:
    """The quarter hour starting at ``timestamp``."""
    t = instant(body.timestamp)
    if t is None:
        raise ValueError("timestamp: missing")
    return t, t + pd.Timedelta(minutes=15), None


def search(body: SearchBody) -> Window:
    """``[period_start, period_end)`` (default: the last 24 hours), filtered on ``property_label`` or
    ``property_name`` = ``property_value`` when both are given."""
    end = instant(body.period_end) or pd.Timestamp(clock.now()).tz_convert(ROME)
    start = instant(body.period_start) or end - pd.Timedelta(days=1)
    if start >= end:
        raise ValueError(f"period_start {body.period_start} is not before period_end {body.period_end}")
    name = body.property_label or body.property_name
    filt = (name, body.property_value) if name and body.property_value is not None else None
    return start, end, filt


def pods_for(
    request: Request, resource_id: str, can_read: Callable[[str], bool] | None = None
) -> list[str] | None:
    """The PODs a ResourceID selects (see the module docstring); None = all. With ``can_read`` (the
    caller's), a POD or DU of a community the caller reads nothing of selects what an unknown ResourceID
    does: the answer never tells another community's ids from absent ones."""
    resolve = getattr(request.app.state, "resource_pods", None)
    if resolve is not None and request.app.state.tenants.slugs():
        return resolve(resource_id, can_read)
    community = getattr(request.app.state, "community", None)
    if community is None:
        return [resource_id] if resource_id.startswith("IT") and "_" not in resource_id else None
    if resource_id in community.all_pods:
        return [resource_id]
    pods = [d.pod for d in community.devices if d.id == resource_id]
    return pods or None


def stored_rows(
    request: Request, pods: list[str] | None, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Every stored column of the selected PODs' readings in ``[start, end)`` (both meters)."""
    return request.app.state.store.measurements(pods, start, end)


def latest_day(
    request: Request, pods: list[str] | None, can_read: Callable[[str], bool]
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The Europe/Rome civil day ``[start, end)`` of the most recent reading among the selected PODs the
    caller may read (any age), or None when there is none."""
    t = Measurement.__table__
    q = sa.select(t.c.pod, sa.func.max(t.c.start_utc)).group_by(t.c.pod)
    if pods is not None:
        q = q.where(t.c.pod.in_(pods))
    with request.app.state.store.read() as conn:
        stamps = [to_utc(ts, naive_is="utc") for pod, ts in conn.execute(q) if can_read(pod)]
    latest = max((ts for ts in stamps if ts is not None), default=None)
    if latest is None:
        return None
    day = pd.Timestamp(latest).tz_convert(ROME).normalize()
    return day, day + pd.DateOffset(days=1)


def readable_rows(
    request: Request, user: GatewayCaller, pods: list[str] | None, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """:func:`stored_rows`, only of the PODs the caller may read, whatever the ResourceID selected."""
    rows = stored_rows(request, pods, start, end)
    if len(rows):
        readable = {pod for pod in rows["pod"].astype(str).unique() if user.can_read(pod)}
        rows = rows[rows["pod"].astype(str).isin(readable)]
    return rows


def last_meter(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the meter (M1 or M2) whose reading is the most recent (M2 when both end together)."""
    if rows.empty:
        return rows
    newest = rows.sort_values(["start", "meter"]).iloc[-1]["meter"]
    return rows[rows["meter"] == newest]


def datasets(rows: pd.DataFrame, producer: str, filt: tuple[str, str] | None = None) -> list[dict]:
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
    out = []
    for (_day, meter), group in rows.groupby([days, rows["meter"]], sort=True):
        readings = [
            {k: (None if pd.isna(v) else v) for k, v in rec.items()}
            for rec in group[LINE_COLUMNS].to_dict("records")
        ]
        for rec in readings:
            rec["start"] = pd.Timestamp(rec["start"]).to_pydatetime()
        profile = prof.M2.id if meter == "M2" else prof.M1.id
        out.append(build_dataset(readings, producer_id=producer, profile_id=profile))
    return out


class GatewayReads:
    """The read routes; ``producer_id`` names the producer of the datasets they rebuild."""

    def __init__(self, producer_id: str) -> None:
        self.producer_id = producer_id

    async def basic_request(self, request: Request, user: Caller) -> JSONResponse:
        """The datasets of the last 24 hours (one per civil day and meter)."""
        return await self.read(request, user, ResourceBody, last_day)

    async def last_request(self, request: Request, user: Caller) -> JSONResponse:
        """The last UrbanDataset generated for the resource, whatever its age (one dataset)."""
        return await self.read(request, user, ResourceBody, None, one=True)

    async def specific_request(self, request: Request, user: Caller) -> JSONResponse:
        """The quarter hour starting at ``timestamp`` (one dataset)."""
        return await self.read(request, user, TimestampBody, specific, one=True)

    async def searching_request(self, request: Request, user: Caller) -> JSONResponse:
        """Datasets within ``[period_start, period_end)`` (default: the last 24 hours)."""
        return await self.read(request, user, SearchBody, search)

    async def deep_searching_request(self, request: Request, user: Caller) -> JSONResponse:
        """As searchingRequest, keeping only lines whose ``property_label`` (PODID, UserDeviceID) equals
        ``property_value``."""
        return await self.read(request, user, SearchBody, search)

    async def searching_by_property_request(self, request: Request, user: Caller) -> JSONResponse:
        """As searchingRequest, keeping only lines whose ``property_name`` equals ``property_value``."""
        return await self.read(request, user, SearchBody, search)

    async def read(
        self,
        request: Request,
        user: GatewayCaller | None,
        model: type[Read],
        window: Callable[[Read], Window] | None,
        *,
        one: bool = False,
    ) -> JSONResponse:
        """Authenticate, parse the body as ``model``, select the rows of its ``window`` (None: the civil day
        of the latest readable reading) among the PODs the caller may read and answer with the rebuilt
        datasets: a list, or with ``one`` the last dataset (see the module docstring for the answers)."""
        if user is None:
            return denied()
        body = await read_json(request, model)
        if isinstance(body, JSONResponse):
            return self.failed(body, one)
        try:
            win = window(body) if window is not None else None
        except ValueError as exc:
            return self.failed(answer("02", "Invalid request", detail=str(exc)), one)
        return await run_in_threadpool(self.rebuild, request, user, body.resource_id, win, one)

    def rebuild(
        self, request: Request, user: GatewayCaller, resource_id: str, win: Window | None, one: bool
    ) -> JSONResponse:
        """The answer of a parsed read request (in a worker thread: it reads the store)."""
        pods = pods_for(request, resource_id, user.can_read)
        if win is None:  # lastRequest
            day = latest_day(request, pods, user.can_read)
            win = (*day, None) if day is not None else None
        rows = readable_rows(request, user, pods, win[0], win[1]) if win is not None else pd.DataFrame()
        if len(rows) > MAX_LINES:
            too_many = answer(
                "05", "Too many results", detail=f"more than {MAX_LINES} lines: narrow the period"
            )
            return self.failed(too_many, one)
        if one:
            rows = last_meter(rows)
        sets = datasets(rows, self.producer_id, win[2] if win is not None else None) if len(rows) else []
        if not sets:
            return self.failed(answer("04", "No data found"), one)
        return answer("03", "Request-Response Successful", dataset=sets[-1] if one else sets)

    @staticmethod
    def failed(response: JSONResponse, one: bool) -> JSONResponse:
        """An answer without UrbanDatasets: a list verb keeps HTTP 200 and carries ``dataset: []``; a single
        verb answers with :data:`SINGLE_STATUS` (its 200 answer must hold an UrbanDataset)."""
        content = json.loads(bytes(response.body))
        code, message = content.pop("code"), content.pop("message")
        if one:
            return answer(code, message, SINGLE_STATUS.get(code, response.status_code), **content)
        return answer(code, message, response.status_code, dataset=[], **content)
