"""The SCPS UrbanDatasetGateway's read requests: M1/M2 UrbanDatasets rebuilt from the store.

``resource_id`` selects the PODs: a POD code or a DU id of the community selects that POD; any other
ResourceID (``SCP-1_<Solution>-1_<UD>-2.0_<ts>``) selects all. Timestamps in requests are
``YYYY-MM-DDThh:mm:ss`` Europe/Rome civil time (an explicit offset is honoured). Coordinates/distance filters
are accepted and ignored: condivisa keeps no coordinates per line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse

from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.emit import build_dataset
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME, to_utc
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
#: ``(start, end, (property, value) filter or None, every dataset or only the last)`` of a read request
Window = tuple[pd.Timestamp, pd.Timestamp, tuple[str, str] | None, bool]
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
    """The last 24 hours, every dataset."""
    end = pd.Timestamp(clock.now()).tz_convert(ROME)
    return end - pd.Timedelta(days=1), end, None, True


def specific(body: TimestampBody) -> Window:
    """The quarter hour starting at ``timestamp``, one dataset."""
    t = instant(body.timestamp)
    if t is None:
        raise ValueError("timestamp: missing")
    return t, t + pd.Timedelta(minutes=15), None, False


def search(body: SearchBody) -> Window:
    """``[period_start, period_end)`` (default: the last 24 hours), filtered on ``property_label`` or
    ``property_name`` = ``property_value`` when both are given."""
    end = instant(body.period_end) or pd.Timestamp(clock.now()).tz_convert(ROME)
    start = instant(body.period_start) or end - pd.Timedelta(days=1)
    if start >= end:
        raise ValueError(f"period_start {body.period_start} is not before period_end {body.period_end}")
    name = body.property_label or body.property_name
    filt = (name, body.property_value) if name and body.property_value is not None else None
    return start, end, filt, True


def pods_for(request: Request, resource_id: str) -> list[str] | None:
    """The PODs a ResourceID selects (see the module docstring); None = all."""
    community = request.app.state.community
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
        """The most recent dataset of the last 24 hours."""
        return await self.read(request, user, ResourceBody, last_day)

    async def specific_request(self, request: Request, user: Caller) -> JSONResponse:
        """The quarter hour starting at ``timestamp``."""
        return await self.read(request, user, TimestampBody, specific)

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
        window: Callable[[Read], Window],
    ) -> JSONResponse:
        """Authenticate, parse the body as ``model``, select the rows of its ``window`` among the PODs the
        caller may read and answer with the rebuilt datasets (04 none, 05 too many lines)."""
        if user is None:
            return denied()
        body = await read_json(request, model)
        if isinstance(body, JSONResponse):
            return body
        try:
            start, end, filt, many = window(body)
        except ValueError as exc:
            return answer("02", "Invalid request", detail=str(exc))
        rows = stored_rows(request, pods_for(request, body.resource_id), start, end)
        if len(rows):  # only the PODs the caller may read, whatever the ResourceID selected
            readable = {pod for pod in rows["pod"].astype(str).unique() if user.can_read(pod)}
            rows = rows[rows["pod"].astype(str).isin(readable)]
        if len(rows) > MAX_LINES:
            return answer("05", "Too many results", detail=f"more than {MAX_LINES} lines: narrow the period")
        sets = datasets(rows, self.producer_id, filt)
        if not sets:
            return answer("04", "No data found")
        return answer("03", "Request-Response Successful", dataset=sets if many else sets[-1])
